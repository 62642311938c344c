"""A small interpreter of the Workflow Definition Language subset the kit's Logic App uses, so the
tests run the definition the plan declares (not a copy of its logic) against the fake ARM server.

Actions: Http (with `paginationPolicy`: follows `nextLink`), Query (filter array), If (with the
`and`/`or`/`not`/`equals`/`greater`/`less` condition objects), Compose, Response; `runAfter` order.
Expressions (Microsoft Learn "Reference guide to workflow expression functions"): `@expr` and
`@{expr}` interpolation; functions body, triggerBody, item, coalesce, json, equals, not, and, or,
contains, createArray, greater, less, ticks, addHours, utcNow, length, guid, if, first, concat;
property access `?['k']`, `['k']`, `?[0]`. Anything else raises, so the definition cannot use a
construct this interpreter would silently misread.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

ARM = "https://management.azure.com"
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\?\[|\[|\]|\(|\)|,|\.))"
)


class Unsupported(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise Unsupported(f"cannot read expression at {text[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _ticks(value: str) -> int:
    at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return (at - datetime(1, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 10


class Run:
    """One run of a workflow definition for one trigger body."""

    def __init__(self, definition: dict, arm_url: str, now: Callable[[], datetime]) -> None:
        self.definition, self.arm_url, self.now = definition, arm_url, now
        self.outputs: dict[str, Any] = {}
        self.status: dict[str, str] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.response: dict[str, Any] | None = None
        self.trigger_body: Any = None
        self._item: list[Any] = []

    # ---- expressions --------------------------------------------------------------------------
    def value(self, node: Any) -> Any:
        if isinstance(node, dict):
            return {k: self.value(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if isinstance(node, str):
            if node.startswith("@@"):
                return node[1:]
            if node.startswith("@") and not node.startswith("@{"):
                return self.expr(node[1:])
            if "@{" in node:
                return re.sub(r"@\{([^}]*)\}", lambda m: str(self.expr(m.group(1))), node)
        return node

    def expr(self, text: str) -> Any:
        tokens = _tokens(text)
        value, rest = self._parse(tokens)
        if rest:
            raise Unsupported(f"trailing {rest} in {text!r}")
        return value

    def _parse(self, tokens: list[tuple[str, str]]) -> tuple[Any, list[tuple[str, str]]]:
        kind, text = tokens[0]
        rest = tokens[1:]
        if kind == "str":
            value: Any = text[1:-1].replace("''", "'")
        elif kind == "num":
            value = float(text) if "." in text else int(text)
        elif kind == "name" and text in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[text]
        elif kind == "name" and rest and rest[0] == ("op", "("):
            args, rest = [], rest[1:]
            while rest[0] != ("op", ")"):
                arg, rest = self._parse(rest)
                args.append(arg)
                if rest[0] == ("op", ","):
                    rest = rest[1:]
            rest = rest[1:]
            value = self._call(text, args)
        else:
            raise Unsupported(f"unexpected {text!r}")
        while rest and rest[0] in (("op", "?["), ("op", "["), ("op", ".")):
            safe = rest[0][1] == "?["
            if rest[0][1] == ".":
                key, rest = rest[1][1], rest[2:]
            else:
                key, rest = self._parse(rest[1:])
                if rest[0] != ("op", "]"):
                    raise Unsupported("expected ]")
                rest = rest[1:]
            if value is None and safe:
                continue
            if isinstance(value, list) and isinstance(key, int):
                value = value[key] if key < len(value) else None
            elif isinstance(value, dict):
                if key not in value and not safe:
                    raise KeyError(key)
                value = value.get(key)
            elif safe:
                value = None
            else:
                raise Unsupported(f"cannot index {type(value).__name__} with {key!r}")
        return value, rest

    def _call(self, name: str, args: list[Any]) -> Any:
        functions: dict[str, Callable[..., Any]] = {
            "body": lambda n: self.outputs[n],
            "triggerBody": lambda: self.trigger_body,
            "item": lambda: self._item[-1],
            "coalesce": lambda *a: next((x for x in a if x is not None), None),
            "json": lambda s: json.loads(s),
            "equals": lambda a, b: a == b,
            "not": lambda a: not a,
            "and": lambda *a: all(a),
            "or": lambda *a: any(a),
            "contains": lambda c, v: v in c,
            "createArray": lambda *a: list(a),
            "greater": lambda a, b: a > b,
            "less": lambda a, b: a < b,
            "ticks": _ticks,
            "addHours": lambda ts, n: (
                datetime.fromisoformat(str(ts).replace("Z", "+00:00")) + timedelta(hours=n)
            ).isoformat(),
            "utcNow": lambda: self.now().isoformat(),
            "length": len,
            "guid": lambda: str(uuid.uuid4()),
            "if": lambda c, a, b: a if c else b,
            "first": lambda c: c[0] if c else None,
            "concat": lambda *a: "".join(str(x) for x in a),
        }
        if name not in functions:
            raise Unsupported(f"function {name}() is not interpreted")
        return functions[name](*args)

    def condition(self, node: Any) -> bool:
        if isinstance(node, dict):
            ((op, args),) = node.items()
            if op == "and":
                return all(self.condition(a) for a in args)
            if op == "or":
                return any(self.condition(a) for a in args)
            if op == "not":
                return not self.condition(args)
            a, b = (self.value(x) for x in args)
            return {"equals": a == b, "greater": a > b, "less": a < b}[op]
        return bool(self.value(node))

    # ---- actions ------------------------------------------------------------------------------
    def run(self, trigger_body: Any) -> Run:
        self.trigger_body = trigger_body
        self._actions(self.definition["actions"])
        return self

    def _actions(self, actions: dict[str, Any]) -> None:
        pending = dict(actions)
        while pending:
            ready = [n for n, a in pending.items() if all(d in self.status for d in a.get("runAfter", {}))]
            if not ready:
                raise Unsupported(f"runAfter cycle or unknown dependency among {sorted(pending)}")
            for name in ready:
                action = pending.pop(name)
                needed = action.get("runAfter", {})
                if any(self.status[d] not in statuses for d, statuses in needed.items()):
                    self.status[name] = "Skipped"
                    continue
                self._action(name, action)

    def _action(self, name: str, action: dict[str, Any]) -> None:
        kind = action["type"]
        if kind == "Http":
            self.outputs[name] = self._http(action)
        elif kind == "Query":
            source = self.value(action["inputs"]["from"])
            kept = []
            for item in source:
                self._item.append(item)
                try:
                    if self.value(action["inputs"]["where"]):
                        kept.append(item)
                finally:
                    self._item.pop()
            self.outputs[name] = kept
        elif kind == "Compose":
            self.outputs[name] = self.value(action["inputs"])
        elif kind == "Response":
            self.response = self.value(action["inputs"])
            self.outputs[name] = self.response
        elif kind == "If":
            branch = (
                action["actions"] if self.condition(action["expression"]) else action.get("else", {}).get("actions", {})
            )
            self._actions(branch)
        else:
            raise Unsupported(f"action type {kind}")
        self.status[name] = "Succeeded"

    def _http(self, action: dict[str, Any]) -> Any:
        inputs = self.value(action["inputs"])
        auth = inputs.get("authentication") or {}
        if auth.get("type") != "ManagedServiceIdentity" or auth.get("audience") != ARM + "/":
            raise AssertionError(f"an ARM call without the workflow's managed identity: {auth}")
        url = inputs["uri"].replace(ARM, self.arm_url)
        paging = (action.get("runtimeConfiguration") or {}).get("paginationPolicy")
        result = self._request(inputs["method"], url, inputs.get("body"))
        if paging and isinstance(result, dict):
            while result.get("nextLink") and len(result["value"]) < paging["minimumItemCount"]:
                more = self._request("GET", result["nextLink"].replace(ARM, self.arm_url), None)
                result = {"value": result["value"] + more.get("value", []), "nextLink": more.get("nextLink")}
        return result

    def _request(self, method: str, url: str, body: Any) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - a local fake
        request.add_header("Authorization", "Bearer logic-app-identity")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        self.requests.append((method, url, body))
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw = response.read()
            return json.loads(raw) if raw else None
