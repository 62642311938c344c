"""A small interpreter of Google Cloud Workflows YAML: runs the kit's compiled retraining workflow.

It covers the subset the kit writes and refuses anything else (an unknown step kind, call or
function raises `Unsupported`, so a workflow the harness cannot read never "passes"):
- steps: `assign`, `switch` (`condition` with `next` / `return` / `raise`), `call` (+ `args`,
  `result`), `try` / `retry` (the two named policies below only) / `except` (`as`, `steps`),
  `return`, `raise`, `next`;
- calls: `http.get`, `http.post` (a real HTTP request, the googleapis.com host mapped to a local
  fake; a status >= 400 raises an `HttpError` map with `code`, as Workflows does: "Catch errors",
  https://cloud.google.com/workflows/docs/reference/syntax/catching-errors),
  `http.post` to the Workflow Executions API's `executions.create` of THIS workflow (`name=`): it
  checks the request (an `argument` JSON string of at most 32 KB: Execution.argument, "The size limit
  is 32KB", https://cloud.google.com/workflows/docs/reference/executions/rest/v1/projects.locations.workflows.executions)
  and queues a new execution with that argument, which runs the workflow's latest source
  ("Creates a new execution using the latest revision of the given workflow", Method:
  projects.locations.workflows.executions.create): `run()` runs it next, a `Simulation` at once with
  the source last `deploy()`ed;
  `googleapis.storage.v1.objects.get` (from a dict of objects), `sys.sleep` (0 to 31536000 seconds,
  "Wait using polling", https://cloud.google.com/workflows/docs/sleeping: the execution yields to
  whoever runs it, which advances the clock: `run(sleep=...)` or a `Simulation`);
- retry policies `${http.default_retry}` (429, 502, 503, 504) and
  `${http.default_retry_non_idempotent}` (429, 503): at most 5 retries, backoff 1 s x 1.25 up to 60 s
  (https://cloud.google.com/workflows/docs/reference/stdlib/http/default_retry, retry.default_backoff);
  the backoff is time passing: the execution yields it, as a sleep;
- `interleave = True`: the execution also yields (0 s) after each HTTP call, so executions due at
  one instant interleave between a listing and a create (the races the run ids settle);
- expressions `${...}`: Workflows' operators (`and`, `or`, `not`, `in`, `==`, `+`, `//`, ...), map
  fields by `.`, indexes by `[ ]`, and the functions `json.decode`, `json.encode_to_string`, `base64.decode`, `map.get`,
  `default`, `len`, `int`, `string`, `time.parse`, `time.format`, `sys.now`,
  `text.substring`, `text.replace_all_regex`, `text.to_lower` (Workflows standard library reference,
  https://cloud.google.com/workflows/docs/reference/stdlib/overview).
"""

from __future__ import annotations

import base64 as _base64
import heapq
import json as _json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import Any


class Unsupported(Exception):
    """Something the harness does not implement: the test must not pass silently."""


class WorkflowError(Exception):
    """A `raise` (or an unhandled error map) ended the execution."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.value = value


class _Map(dict):
    """A Workflows map: fields by `.`; a missing field is a KeyError, as in Workflows."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise WorkflowError({"tags": ["KeyError"], "message": f"key not found: {name}"}) from None


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return _Map({k: _wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _Namespace:
    def __init__(self, **functions: Callable[..., Any]) -> None:
        self._functions = functions

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or name not in self._functions:
            raise Unsupported(f"Workflows function {name!r} is not in the harness")
        return self._functions[name]


def _map_get(value: Any, keys: Any) -> Any:
    for key in keys if isinstance(keys, list) else [keys]:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _substring(text: str, start: int, end: int) -> str:
    return text[start : min(end, len(text))]


def _format_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise WorkflowError({"tags": ["TypeError"], "message": f"int() of {value!r}"})
    return int(value)


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, int | float):
        raise WorkflowError({"tags": ["TypeError"], "message": f"string() of {value!r}"})
    return str(value)


MAX_SLEEP_S = 31_536_000
MAX_ARGUMENT_BYTES = 32 * 1024
EXECUTIONS_HOST = "workflowexecutions.googleapis.com"


class RetryPolicy:
    """A named Workflows retry policy: the HTTP codes it retries, 5 retries, default backoff."""

    def __init__(self, name: str, codes: frozenset[int]) -> None:
        self.name, self.codes = name, codes
        self.max_retries, self.initial_delay, self.max_delay, self.multiplier = 5, 1.0, 60.0, 1.25

    def retries(self, error: Any) -> bool:
        return isinstance(error, dict) and "HttpError" in (error.get("tags") or []) and error.get("code") in self.codes


DEFAULT_RETRY = RetryPolicy("http.default_retry", frozenset({429, 502, 503, 504}))
DEFAULT_RETRY_NON_IDEMPOTENT = RetryPolicy("http.default_retry_non_idempotent", frozenset({429, 503}))

Execution = Generator[float, None, Any]
"""A running execution: yields the seconds of each `sys.sleep`, returns the workflow's result."""


class Harness:
    def __init__(
        self,
        source: str,
        *,
        hosts: dict[str, str],
        objects: dict[tuple[str, str], Any],
        now: Callable[[], float],
        name: str | None = None,
    ) -> None:
        import yaml

        self.workflow = yaml.safe_load(source)["main"]
        self.hosts = hosts
        """https host -> base URL of the local fake that answers for it."""
        self.objects = objects
        self.now = now
        self.name = name
        self.interleave = False
        """Yield (0 s) after each HTTP call, so that executions due at the same instant interleave
        between their calls (between a listing and a create), not only at their sleeps."""
        """projects/P/locations/L/workflows/W: the workflow an `executions.create` may start."""
        self.calls: list[tuple[str, str, Any]] = []
        self.created: list[Any] = []
        """The argument (decoded) of every execution this workflow's executions created, in order."""
        self.executions: list[dict[str, Any]] = []
        """Per execution: {"started", "ended" (clock), "steps" run, "sleeps"} (the Workflows limits are
        per execution: duration, steps)."""
        self.names: dict[str, Any] = {
            "true": True,
            "false": False,
            "null": None,
            "json": _Namespace(
                decode=lambda v: _wrap(_json.loads(v)),
                encode_to_string=lambda v: _json.dumps(_plain(v), separators=(",", ":")),
            ),
            "http": _Namespace(default_retry=DEFAULT_RETRY, default_retry_non_idempotent=DEFAULT_RETRY_NON_IDEMPOTENT),
            "base64": _Namespace(decode=lambda v: _base64.b64decode(v)),
            "map": _Namespace(get=_map_get),
            "time": _Namespace(parse=_parse_time, format=_format_time),
            "sys": _Namespace(now=lambda: self.now()),
            "text": _Namespace(
                substring=_substring,
                replace_all_regex=lambda s, pattern, repl: re.sub(pattern, repl, s),
                to_lower=lambda s: s.lower(),
            ),
            "default": lambda value, fallback: fallback if value is None else value,
            "len": len,
            "int": _int,
            "string": _string,
        }

    # -- expressions
    def evaluate(self, value: Any, scope: dict[str, Any]) -> Any:
        if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
            expression = value[2:-1]
            if re.search(r"(?<![=!<>])=(?!=)|\blambda\b|__", expression):
                raise Unsupported(f"not a Workflows expression the harness reads: {expression!r}")
            # A map is defined in an assign step, not inside an expression ("Maps",
            # https://cloud.google.com/workflows/docs/reference/syntax/maps): Python would accept one.
            if "{" in re.sub(r'"(?:[^"\\]|\\.)*"', "", expression):
                raise Unsupported(f"a map literal inside an expression: {expression!r}")
            try:
                return eval(expression, {"__builtins__": {}}, {**self.names, **scope})  # noqa: S307 - test harness
            except NameError as exc:
                raise Unsupported(f"{expression!r}: {exc}") from None
        if isinstance(value, dict):
            return _Map({k: self.evaluate(v, scope) for k, v in value.items()})
        if isinstance(value, list):
            return [self.evaluate(v, scope) for v in value]
        return value

    # -- calls
    def _http(self, method: str, args: dict[str, Any]) -> Any:
        url = urllib.parse.urlsplit(args["url"])
        if url.netloc == EXECUTIONS_HOST:
            return self._create_execution(method, args)
        if url.scheme != "https" or url.netloc not in self.hosts:
            raise Unsupported(f"no fake answers for {args['url']}")
        if (args.get("auth") or {}).get("type") != "OAuth2":
            raise Unsupported("a Google API call without auth: OAuth2")
        query = urllib.parse.urlencode({k: str(v) for k, v in (args.get("query") or {}).items()})
        target = f"{self.hosts[url.netloc]}{url.path}" + (f"?{query}" if query else "")
        data = _json.dumps(_plain(args["body"])).encode() if "body" in args else None
        request = urllib.request.Request(target, data=data, method=method, headers={"Content-Type": "application/json"})
        self.calls.append((method, args["url"], _plain(args.get("query")), _plain(args.get("body"))))
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return _wrap({"code": response.status, "body": _json.loads(response.read() or b"{}")})
        except urllib.error.HTTPError as exc:
            body = _json.loads(exc.read() or b"{}")
            raise WorkflowError(
                _wrap({"tags": ["HttpError"], "code": exc.code, "message": f"HTTP {exc.code}", "body": body})
            ) from None

    def _create_execution(self, method: str, args: dict[str, Any]) -> Any:
        """executions.create of this workflow: POST .../v1/{parent}/executions, body an Execution."""
        if self.name is None:
            raise Unsupported("executions.create: the harness was not told this workflow's name")
        expected = f"https://{EXECUTIONS_HOST}/v1/{self.name}/executions"
        if method != "POST" or args["url"] != expected or args.get("query"):
            raise Unsupported(f"{method} {args['url']}: the harness creates executions of {expected} only")
        if (args.get("auth") or {}).get("type") != "OAuth2":
            raise Unsupported("a Google API call without auth: OAuth2")
        body = _plain(args.get("body") or {})
        self.calls.append((method, args["url"], None, body))
        argument = body.get("argument")
        if set(body) != {"argument"} or not isinstance(argument, str):
            raise Unsupported(f"an Execution body with an `argument` JSON string only, not {body!r}")
        if len(argument.encode()) > MAX_ARGUMENT_BYTES:
            error = {"code": 400, "status": "INVALID_ARGUMENT", "message": "argument over 32KB"}
            raise WorkflowError(
                _wrap({"tags": ["HttpError"], "code": 400, "message": "HTTP 400", "body": {"error": error}})
            )
        self.created.append(_json.loads(argument))
        name = f"{self.name}/executions/{len(self.created)}"
        return _wrap({"code": 200, "body": {"name": name, "state": "ACTIVE", "argument": argument}})

    def _call(self, name: str, args: dict[str, Any]) -> Generator[float, None, Any]:
        if name == "sys.sleep":
            seconds = args.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_SLEEP_S:
                raise Unsupported(f"sys.sleep of {seconds!r}: not 0..{MAX_SLEEP_S} seconds")
            self.calls.append(("SLEEP", str(seconds), None, None))
            yield seconds
            return None
        if name in ("http.get", "http.post"):
            result = self._http(name.removeprefix("http.").upper(), args)
            if self.interleave:
                yield 0.0  # let every other execution due now run before this one goes on
            return result
        if name == "googleapis.storage.v1.objects.get":
            if args.get("alt") != "media":
                raise Unsupported("objects.get without alt: media")
            key = (args["bucket"], urllib.parse.unquote(args["object"]))
            if key not in self.objects:
                raise WorkflowError(_wrap({"tags": ["HttpError"], "code": 404, "message": f"{key} not found"}))
            self.calls.append(("GET", f"gs://{key[0]}/{key[1]}", None, None))
            return _wrap(self.objects[key])
        raise Unsupported(f"call {name!r} is not in the harness")

    # -- steps
    def execute(self, event: dict[str, Any]) -> Execution:
        """One execution, as a generator: it yields at each `sys.sleep` (and retry backoff)."""
        stats = {"started": self.now(), "ended": None, "steps": 0, "sleeps": 0}
        self.executions.append(stats)
        scope: dict[str, Any] = {self.workflow["params"][0]: _wrap(event), "__stats": stats}
        done, value = yield from self._steps(self.workflow["steps"], scope)
        stats["ended"] = self.now()
        return value

    def run(self, event: dict[str, Any], sleep: Callable[[float], None] | None = None) -> Any:
        """Run one execution to its end, then each execution it created, in turn; the last one's
        result. `sleep(seconds)` advances the clock at each `sys.sleep`."""
        queue, value = [event], None
        while queue:
            before = len(self.created)
            execution = self.execute(queue.pop(0))
            try:
                while True:
                    seconds = next(execution)
                    if sleep is None:
                        raise Unsupported("the workflow sleeps: run it with sleep= or in a Simulation")
                    sleep(seconds)
            except StopIteration as stop:
                value = stop.value
            queue += self.created[before:]
        return value

    def _steps(self, steps: list[dict[str, Any]], scope: dict[str, Any]) -> Generator[float, None, tuple[bool, Any]]:
        """Run a block; (True, value) when a `return` ended the execution."""
        names = [next(iter(step)) for step in steps]
        index = 0
        while index < len(steps):
            name = names[index]
            body = steps[index][name]
            scope["__stats"]["steps"] += 1
            jump, finished, value = yield from self._step(body, scope)
            if finished:
                return True, value
            if jump == "end":
                return True, None
            if jump is not None:
                if jump not in names:
                    raise Unsupported(f"step {name!r} jumps to {jump!r}, not a step of its block")
                index = names.index(jump)
                continue
            index += 1
        return False, None

    def _attempts(
        self, body: dict[str, Any], scope: dict[str, Any]
    ) -> Generator[float, None, tuple[str | None, bool, Any]]:
        """The `try` block, retried as its `retry` policy says (before any `except` sees the error)."""
        policy = None
        if "retry" in body:
            policy = self.evaluate(body["retry"], scope)
            if not isinstance(policy, RetryPolicy):
                raise Unsupported(f"retry {body['retry']!r}: the harness knows the named default policies only")
        delay, retries = (policy.initial_delay if policy else 0.0), 0
        while True:
            try:
                return (yield from self._step(body["try"], scope))
            except WorkflowError as exc:
                if policy is None or retries >= policy.max_retries or not policy.retries(exc.value):
                    raise
                retries += 1
                self.calls.append(("RETRY", policy.name, exc.value.get("code"), delay))
                yield delay
                delay = min(delay * policy.multiplier, policy.max_delay)

    def _step(
        self, body: dict[str, Any], scope: dict[str, Any]
    ) -> Generator[float, None, tuple[str | None, bool, Any]]:
        known = {
            "assign",
            "switch",
            "call",
            "args",
            "result",
            "try",
            "retry",
            "except",
            "return",
            "raise",
            "next",
            "steps",
        }
        unknown = set(body) - known
        if unknown:
            raise Unsupported(f"step keys {sorted(unknown)}")
        if "try" in body:
            try:
                jump, finished, value = yield from self._attempts(body, scope)
            except WorkflowError as exc:
                handler = body.get("except")
                if handler is None:
                    raise
                inner = {**scope, handler["as"]: exc.value}
                finished, value = yield from self._steps(handler.get("steps", []), inner)
                return None, finished, value
            return jump if jump else body.get("next"), finished, value
        if "assign" in body:
            for item in body["assign"]:
                ((var, expr),) = item.items()
                scope[var] = self.evaluate(expr, scope)
        if "call" in body:
            if body["call"] == "sys.sleep":
                scope["__stats"]["sleeps"] += 1
            result = yield from self._call(body["call"], self.evaluate(body.get("args", {}), scope))
            if "result" in body:
                scope[body["result"]] = result
        if "steps" in body:
            finished, value = yield from self._steps(body["steps"], scope)
            if finished:
                return None, True, value
        if "switch" in body:
            for case in body["switch"]:
                if self.evaluate(case["condition"], scope) is True:
                    if "return" in case:
                        return None, True, self.evaluate(case["return"], scope)
                    if "raise" in case:
                        raise WorkflowError(self.evaluate(case["raise"], scope))
                    return case.get("next"), False, None
        if "return" in body:
            return None, True, self.evaluate(body["return"], scope)
        if "raise" in body:
            raise WorkflowError(self.evaluate(body["raise"], scope))
        return body.get("next"), False, None


class Simulation:
    """Executions of one workflow and changes to the world, interleaved on one clock.

    `deliver(when, event)` starts an execution at `when` (what Eventarc does for each delivery of a
    Pub/Sub message); `at(when, change)` calls `change()` then (a run ends, drift data arrives); a
    sleeping execution wakes when its `sys.sleep` is over; an execution another one creates
    (`executions.create`) starts at once, with the source last `deploy()`ed (the workflow's latest
    revision). The steps between two sleeps run at one instant (an execution takes seconds, a drift
    window an hour).

    A delivery and the executions it hands over to form one chain: `results` holds each chain's end,
    `handed_over` each hand-over, both as (delivered at: the chain's first delivery, ended at, result)."""

    def __init__(self, harness: Harness, *, start: float, set_clock: Callable[[float], None]) -> None:
        self.harness = harness
        self.harnesses = [harness]
        self.now = start
        self.set_clock = set_clock
        self._queue: list[tuple[float, int, str, Any]] = []
        self._order = 0
        self.results: list[tuple[float, float, Any]] = []
        """(delivered at, ended at, result) of each chain that ended, in the order they ended."""
        self.handed_over: list[tuple[float, float, Any]] = []
        """(delivered at, handed over at, result) of each execution that created the next one."""
        set_clock(start)

    def _push(self, when: float, kind: str, item: Any) -> None:
        heapq.heappush(self._queue, (when, self._order, kind, item))
        self._order += 1

    def deliver(self, when: float, event: dict[str, Any]) -> None:
        self._push(when, "deliver", (when, event))

    def at(self, when: float, change: Callable[[], None]) -> None:
        self._push(when, "change", change)

    def deploy(self, source: str) -> None:
        """A new revision of the workflow: executions started from now on run it (running ones don't)."""
        old = self.harness
        self.harness = Harness(source, hosts=old.hosts, objects=old.objects, now=old.now, name=old.name)
        self.harness.interleave = old.interleave
        self.harnesses.append(self.harness)

    def run(self, until: float) -> list[tuple[float, float, Any]]:
        """Everything due up to `until`; executions still asleep then stay asleep."""
        while self._queue and self._queue[0][0] <= until:
            when, _, kind, item = heapq.heappop(self._queue)
            self.now = when
            self.set_clock(when)
            if kind == "change":
                item()
                continue
            if kind == "deliver":
                delivered, event = item
                harness = self.harness
                execution = harness.execute(event)
            else:
                delivered, harness, execution = item
            before = len(harness.created)
            try:
                seconds = next(execution)
            except StopIteration as stop:
                created = harness.created[before:]
                for argument in created:
                    self._push(when, "deliver", (delivered, argument))
                (self.handed_over if created else self.results).append((delivered, when, stop.value))
                continue
            if len(harness.created) != before:
                raise Unsupported("an execution that goes on after creating the next one")
            self._push(when + seconds, "wake", (delivered, harness, execution))
        self.now = until
        self.set_clock(until)
        return self.results

    @property
    def asleep(self) -> int:
        """Executions still sleeping."""
        return sum(1 for _, _, kind, _ in self._queue if kind == "wake")

    @property
    def executions(self) -> list[dict[str, Any]]:
        """Every execution's {"started", "ended", "steps", "sleeps"}, whichever revision it ran."""
        return [e for h in self.harnesses for e in h.executions]
