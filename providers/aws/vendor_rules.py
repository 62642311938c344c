"""Hold what the kit sends to AWS against AWS's own machine-readable rules, offline.

botocore's client-side ``ParamValidator`` checks types and required members but not maximum
lengths, patterns or numeric ranges, and moto accepts almost anything; AWS refuses them at run
time. This module reads the rules from botocore's service models
(``botocore.session.get_session().get_service_model(service)``) and checks:

* a request: every member present against its shape's ``enum``, ``min``/``max`` (string length,
  list and map length, numeric range), ``pattern``; required members; unknown members; recursing
  into structures, lists and maps (``check_request``);
* every AWS resource of an offline plan: its Pulumi inputs mapped to the API request(s) the
  provider makes (``RESOURCES``; an input the table cannot map raises ``UnmappedInput``);
* the SageMaker pipeline definition: each step's ``Arguments`` against the API the pipeline
  service calls for it, inside Condition branches too (``check_pipeline_definition``);
* every action of every IAM policy document in the plan against the operations of botocore's
  models, plus a short list of IAM-only actions (``check_iam_actions``).

``check_plan(resources)`` runs all of it on ``[{"type", "name", "inputs"}]`` (the plan JSON).

What is not knowable offline is skipped, never guessed: Pulumi unknowns, secrets, assets, and
pipeline variables (``{"Get": ...}``, ``{"Std:Join": ...}``, ``{"Std:JsonGet": ...}``). The plan's
mock ids (``<name>-mock``, ``<name>-key-id``, see ``providers/aws/mocks.py``) are replaced by
values of the real shape and length first (``realistic``), so a limit near the edge is checked
with the length AWS will see.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------------------------
# Violations
# --------------------------------------------------------------------------------------------

_SHOWN = 60


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) <= _SHOWN:
        return json.dumps(text) if isinstance(value, str) else text
    shown = json.dumps(text[:_SHOWN]) if isinstance(value, str) else text[:_SHOWN]
    return f"{shown}... ({len(text)} chars)"


@dataclass(frozen=True)
class Violation:
    """One refusal AWS would make: where, what, which rule, and where the rule comes from."""

    path: str
    """JSON path in the API request, e.g. ``CreateProcessingJob.AppSpecification.ContainerEntrypoint[2]``."""
    value: str
    """The offending value, truncated."""
    rule: str
    """The rule, e.g. ``max length 256 (is 296)``."""
    source: str
    """Where the rule is written, e.g. ``botocore sagemaker CreateProcessingJob, shape ContainerEntrypointString``."""
    resource: str = ""
    """The plan resource (``type name``) the request comes from, when there is one."""

    def __str__(self) -> str:
        where = f"{self.resource}: " if self.resource else ""
        return f"{where}{self.path} = {self.value} breaks {self.rule} [{self.source}]"


class UnmappedInput(LookupError):
    """A plan input (or pipeline step type) this module does not know how to send to AWS.

    Raised, never skipped: an input nobody mapped is an input nobody checks.
    """


# --------------------------------------------------------------------------------------------
# botocore's patterns in Python's `re`
# --------------------------------------------------------------------------------------------
#
# AWS validates string members server-side with Java regexes (the error reads "Member must satisfy
# regular expression pattern: ..."), on the whole value: SageMaker refuses the job name
# 'health_and_personal_care_inter_title-2018-...' under '^[a-zA-Z0-9](-*[a-zA-Z0-9])*' although
# a prefix matches (github.com/aws/sagemaker-python-sdk/issues/384). So a pattern must match the
# WHOLE value (`re.fullmatch`). Translated Java constructs:
#   \p{L} \p{M} \p{N} \p{P} \p{S} \p{Z} \p{C} and their subcategories (\p{Lu}, \p{Zs}, \p{IsL}...)
#       -> explicit code-point ranges from `unicodedata` (Python's `re` has no \p);
#   \p{Alnum} \p{Alpha} \p{ASCII} \p{Print} \p{Graph} \p{Punct} ... (Java's POSIX classes, US-ASCII
#       only) -> their ASCII ranges from java.util.regex.Pattern's documentation;
#   \uD800\uDC00-\uDBFF\uDFFF (a supplementary code point written as a UTF-16 surrogate pair)
#       -> \U00010000-\U0010FFFF;
#   `.` outside a class -> [^\n\r\x85\u2028\u2029] (Java's `.` matches no line terminator; Python's
#       only excludes \n). The models rely on it: CreatePipeline's PipelineDefinition pattern is
#       '.*(?:[ \r\n\t].*)*' precisely because '.*' alone would refuse a newline;
#   \z -> \Z, and Java's \Z -> "before an optional final line terminator";
#   \x{h...h} -> \U........; \Q...\E -> the escaped literal;
#   `-` right after a class escape inside [...] (Java reads [\w-_] as \w, '-', '_') -> \-;
#   a quantifier on ^ or $ (Java accepts '(...)${1,128}') -> the bare anchor (optional if {0,...}).
# \w \d \s \b are ASCII in Java by default: patterns are compiled with re.ASCII.
# Nested classes and class intersection ([a-z&&[^e]]) are refused (`UnsupportedPattern`): none
# occurs in the services checked here, and a test compiles every pattern they have.


class UnsupportedPattern(ValueError):
    pass


_LINE_TERMINATORS = "\\n\\r\\x85\\u2028\\u2029"
_POSIX = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7f",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0b\\f\\r",
}


@functools.cache
def _categories() -> dict[str, list[tuple[int, int]]]:
    """Unicode general category (two letters) -> code-point ranges. One pass, cached."""
    import itertools
    import sys
    import unicodedata

    ranges: dict[str, list[tuple[int, int]]] = {}
    start = 0
    for cat, run in itertools.groupby(map(unicodedata.category, map(chr, range(sys.maxunicode + 1)))):
        length = sum(1 for _ in run)
        ranges.setdefault(cat, []).append((start, start + length - 1))
        start += length
    return ranges


def _escape_cp(cp: int) -> str:
    return f"\\U{cp:08x}"


def _property_class(name: str) -> str:
    """The inside of a character class for Java's \\p{name}."""
    if name in _POSIX:
        return _POSIX[name]
    if name.startswith("Is") and len(name) <= 4:
        name = name[2:]
    cats = _categories()
    if len(name) in (1, 2) and name[0] in "LMNPSZC":
        chosen = [c for c in cats if c.startswith(name)] if len(name) == 1 else [name]
        if not all(c in cats for c in chosen) or not chosen:
            raise UnsupportedPattern(f"unknown Unicode category \\p{{{name}}}")
        spans = sorted(r for c in chosen for r in cats[c])
        return "".join(_escape_cp(a) if a == b else f"{_escape_cp(a)}-{_escape_cp(b)}" for a, b in spans)
    raise UnsupportedPattern(f"unsupported property \\p{{{name}}}")


_SURROGATE_PAIR = re.compile(r"\\u(D[89AB][0-9A-F]{2})\\u(D[C-F][0-9A-F]{2})", re.IGNORECASE)
_CLASS_ESCAPES = set("wWdDsS")


def _translate(pattern: str) -> str:
    def pair(m: re.Match[str]) -> str:
        hi, lo = int(m.group(1), 16), int(m.group(2), 16)
        return _escape_cp(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))

    p = _SURROGATE_PAIR.sub(pair, pattern)
    out: list[str] = []
    i, n = 0, len(p)
    in_class = False
    class_start = 0
    after_class_escape = False  # inside [...], the previous item was \w, \d, \p{..}...
    while i < n:
        c = p[i]
        if c == "\\" and i + 1 < n:
            e = p[i + 1]
            if e in "pP" and i + 2 < n and p[i + 2] == "{":
                end = p.index("}", i)
                inner = _property_class(p[i + 3 : end])
                if in_class:
                    if e == "P":
                        raise UnsupportedPattern("\\P{...} inside a class")
                    out.append(inner)
                    after_class_escape = True
                else:
                    out.append(f"[{'^' if e == 'P' else ''}{inner}]")
                i = end + 1
                continue
            if e == "Q":
                end = p.find("\\E", i + 2)
                end = n if end < 0 else end
                out.append(re.escape(p[i + 2 : end]))
                i = end + 2
                continue
            if e == "x" and i + 2 < n and p[i + 2] == "{":
                end = p.index("}", i)
                out.append(_escape_cp(int(p[i + 3 : end], 16)))
                i = end + 1
                continue
            if e == "z" and not in_class:
                out.append("\\Z")
            elif e == "Z" and not in_class:
                out.append(f"(?=(?:\\r\\n|[{_LINE_TERMINATORS}])?\\Z)")
            else:
                out.append(c + e)
            after_class_escape = in_class and e in _CLASS_ESCAPES
            i += 2
            continue
        if in_class:
            if c == "[":
                raise UnsupportedPattern("nested character class")
            if c == "&" and p.startswith("&&", i):
                raise UnsupportedPattern("character class intersection")
            if c == "]" and i > class_start:
                in_class = False
                out.append(c)
            elif c == "-" and after_class_escape:
                out.append("\\-")
            else:
                out.append(c)
            after_class_escape = False
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < n and p[i] == "^":
                out.append("^")
                i += 1
            class_start = i  # a ']' right here is a literal
            if i < n and p[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if c == ".":
            out.append(f"[^{_LINE_TERMINATORS}]")
            i += 1
            continue
        if c in "^$":
            out.append(c)
            i += 1
            m = re.match(r"\{(\d+)(,\d*)?\}|[*+?]", p[i:])
            if m:  # a quantified anchor: zero-width, so once is as good as many
                optional = m.group(0) in ("*", "?") or (m.group(1) is not None and int(m.group(1)) == 0)
                if optional:
                    out.pop()
                i += m.end()
            continue
        out.append(c)
        i += 1
    return "".join(out)


@functools.cache
def java_regex(pattern: str) -> re.Pattern[str]:
    """botocore's (Java) pattern as a compiled Python regex; use with ``fullmatch``."""
    return re.compile(_translate(pattern), re.ASCII)


# --------------------------------------------------------------------------------------------
# Checking one request against a botocore shape
# --------------------------------------------------------------------------------------------


class _Runtime:
    """A value only known when the request is made (Pulumi unknown, secret, asset, generated id)."""

    def __repr__(self) -> str:
        return "<known at run time>"


RUNTIME = _Runtime()
_PIPELINE_FUNCTIONS = frozenset({"Get", "Std:Join", "Std:JsonGet"})


def is_pipeline_variable(value: Any) -> bool:
    """``{"Get": ...}``, ``{"Std:Join": ...}``, ``{"Std:JsonGet": ...}``: resolved at run time."""
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _PIPELINE_FUNCTIONS


@functools.cache
def _session() -> Any:
    import botocore.session

    return botocore.session.get_session()


@functools.cache
def service_model(service: str) -> Any:
    return _session().get_service_model(service)


def check_request(
    service: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    supplied: Iterable[str] = (),
    path: str | None = None,
    pipeline_variables: bool = False,
    resource: str = "",
) -> list[Violation]:
    """Every rule of ``service``'s ``operation`` input shape that ``params`` breaks.

    ``supplied``: required top-level members that whoever makes the call fills in (a job name the
    pipeline service generates, a key id Pulumi knows only after creation). Members marked
    ``idempotencyToken`` in the model are always supplied by the SDK.
    ``pipeline_variables``: treat ``{"Get": ...}``-style values as run-time values.
    """
    op = service_model(service).operation_model(operation)
    shape = op.input_shape
    checker = _Checker(service, operation, pipeline_variables, resource)
    tokens = {n for n, m in shape.members.items() if m.metadata.get("idempotencyToken")}
    checker.check(shape, dict(params), path or operation, supplied=set(supplied) | tokens)
    return checker.violations + documented_rules(service, operation, params, path or operation, resource)


# --------------------------------------------------------------------------------------------
# Rules AWS documents but no model encodes
# --------------------------------------------------------------------------------------------

_LOCAL_NVME_SOURCE = (
    "documented: botocore sagemaker ProcessingClusterConfig/ResourceConfig VolumeKmsKeyId and "
    "CreateEndpointConfigInput KmsKeyId docs; https://docs.aws.amazon.com/sagemaker/latest/dg/host-instance-storage.html"
)


def documented_rules(
    service: str, operation: str, params: Mapping[str, Any], path: str, resource: str = ""
) -> list[Violation]:
    """Rules between members that AWS states in prose only (each with its source).

    * An S3 object takes at most 10 tags.
    * A compute configuration (``InstanceType`` beside ``VolumeKmsKeyId``: processing, training,
      monitoring, transform) on an instance type with local NVMe storage may not name a volume key;
      nor may an endpoint configuration (``KmsKeyId``) one of whose variants runs on such a type.
    """
    from providers.aws.translate import has_local_nvme

    if service == "s3" and operation == "PutObject" and isinstance(params.get("Tagging"), str):
        from urllib.parse import parse_qsl

        count = len(parse_qsl(params["Tagging"], keep_blank_values=True))
        if count > 10:
            return [
                Violation(
                    f"{path}.Tagging",
                    _show(params["Tagging"]),
                    f"at most 10 tags per object (is {count})",
                    "documented: https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-tagging.html",
                    resource,
                )
            ]
    if service != "sagemaker":
        return []
    out: list[Violation] = []

    def local(instance: Any) -> bool:
        return (
            isinstance(instance, str)
            and instance.startswith("ml.")
            and instance.count(".") >= 2
            and has_local_nvme(instance)
        )

    def walk(value: Any, where: str) -> None:
        if isinstance(value, Mapping):
            if local(value.get("InstanceType")) and value.get("VolumeKmsKeyId") not in (None, RUNTIME):
                out.append(
                    Violation(
                        f"{where}.VolumeKmsKeyId",
                        _show(value["VolumeKmsKeyId"]),
                        f"no volume key on {value['InstanceType']} (local NVMe storage, encrypted by the instance)",
                        _LOCAL_NVME_SOURCE,
                        resource,
                    )
                )
            for key, item in value.items():
                walk(item, f"{where}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]")

    walk(params, path)
    if operation == "CreateEndpointConfig" and params.get("KmsKeyId") not in (None, RUNTIME):
        for i, variant in enumerate(params.get("ProductionVariants") or []):
            if isinstance(variant, Mapping) and local(variant.get("InstanceType")):
                out.append(
                    Violation(
                        f"{path}.KmsKeyId",
                        _show(params["KmsKeyId"]),
                        f"no KmsKeyId with ProductionVariants[{i}] on {variant['InstanceType']} (local NVMe storage)",
                        _LOCAL_NVME_SOURCE,
                        resource,
                    )
                )
    return out


_TYPE_NAMES = {
    "string": "string",
    "integer": "integer",
    "long": "integer",
    "float": "number",
    "double": "number",
    "boolean": "boolean",
    "structure": "object",
    "list": "list",
    "map": "object (map)",
}


class _Checker:
    def __init__(self, service: str, operation: str, pipeline_variables: bool, resource: str) -> None:
        self.service, self.operation = service, operation
        self.pipeline_variables = pipeline_variables
        self.resource = resource
        self.violations: list[Violation] = []

    def _fail(self, path: str, value: Any, rule: str, shape: Any) -> None:
        source = f"botocore {self.service} {self.operation}, shape {shape.name}"
        self.violations.append(Violation(path, _show(value), rule, source, self.resource))

    def _runtime(self, value: Any) -> bool:
        return value is RUNTIME or (self.pipeline_variables and is_pipeline_variable(value))

    def check(self, shape: Any, value: Any, path: str, supplied: set[str] | None = None) -> None:
        if self._runtime(value):
            return
        kind = shape.type_name
        if kind == "structure":
            self._structure(shape, value, path, supplied or set())
        elif kind == "list":
            if not isinstance(value, list):
                return self._fail(path, value, "type: expected a list", shape)
            self._length(shape, value, path, len(value), "items")
            for i, item in enumerate(value):
                self.check(shape.member, item, f"{path}[{i}]")
        elif kind == "map":
            if not isinstance(value, dict):
                return self._fail(path, value, "type: expected an object (map)", shape)
            self._length(shape, value, path, len(value), "entries")
            for k, v in value.items():
                self.check(shape.key, k, f"{path}.<key {k}>")
                self.check(shape.value, v, f"{path}.{k}")
        elif kind == "string":
            if shape.metadata.get("jsonvalue"):
                return
            if not isinstance(value, str):
                return self._fail(path, value, "type: expected a string", shape)
            enum = shape.metadata.get("enum")
            if enum and value not in enum:
                self._fail(path, value, f"enum {sorted(enum)}", shape)
            self._length(shape, value, path, len(value), "characters")
            pattern = shape.metadata.get("pattern")
            if pattern and not java_regex(pattern).fullmatch(value):
                self._fail(path, value, f"pattern '{pattern}' (whole value)", shape)
        elif kind in ("integer", "long", "float", "double"):
            integral = kind in ("integer", "long")
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or (integral and isinstance(value, float) and not value.is_integer()):
                return self._fail(path, value, f"type: expected {_TYPE_NAMES[kind]}", shape)
            low, high = shape.metadata.get("min"), shape.metadata.get("max")
            if low is not None and value < low:
                self._fail(path, value, f"minimum {low}", shape)
            if high is not None and value > high:
                self._fail(path, value, f"maximum {high}", shape)
        elif kind == "boolean" and not isinstance(value, bool):
            self._fail(path, value, "type: expected a boolean", shape)
        # timestamp, blob, document: nothing the model constrains that a plan can carry

    def _length(self, shape: Any, value: Any, path: str, length: int, unit: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and length < low:
            self._fail(path, value, f"min length {low} {unit} (is {length})", shape)
        if high is not None and length > high:
            self._fail(path, value, f"max length {high} {unit} (is {length})", shape)

    def _structure(self, shape: Any, value: Any, path: str, supplied: set[str]) -> None:
        if not isinstance(value, dict):
            return self._fail(path, value, "type: expected an object", shape)
        present = {k for k, v in value.items() if v is not None}
        for name in shape.required_members:
            if name not in present and name not in supplied:
                self._fail(f"{path}.{name}", None, "required member missing", shape)
        for key in sorted(present - set(shape.members)):
            self._fail(f"{path}.{key}", value[key], f"unknown member (members: {', '.join(shape.members)})", shape)
        if shape.metadata.get("union") and len(present & set(shape.members)) > 1:
            self._fail(path, sorted(present), "union: exactly one member may be set", shape)
        for key, member in shape.members.items():
            if value.get(key) is not None:
                self.check(member, value[key], f"{path}.{key}")


# --------------------------------------------------------------------------------------------
# The SageMaker pipeline definition
# --------------------------------------------------------------------------------------------

# Step type -> (operation the pipeline service calls with the step's Arguments, members it fills).
# Sources: the sagemaker SDK builds each step's Arguments as that API's request
# (sagemaker/mlops/workflow/steps.py, quality_check_step.py, model_step.py) and the Developer
# Guide "Pipelines steps" page (https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-steps.html).
STEP_OPERATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Processing": ("CreateProcessingJob", ("ProcessingJobName",)),
    "QualityCheck": ("CreateProcessingJob", ("ProcessingJobName",)),
    "ClarifyCheck": ("CreateProcessingJob", ("ProcessingJobName",)),
    "Training": ("CreateTrainingJob", ("TrainingJobName",)),
    "Transform": ("CreateTransformJob", ("TransformJobName",)),
    "Tuning": ("CreateHyperParameterTuningJob", ("HyperParameterTuningJobName",)),
    "Model": ("CreateModel", ("ModelName",)),
    "RegisterModel": ("CreateModelPackage", ()),
}
# Steps whose Arguments are no API request: Condition (its branches are checked), Fail (a message).
NO_API_STEPS = frozenset({"Condition", "Fail"})


def check_pipeline_definition(definition: str | Mapping[str, Any], *, resource: str = "") -> list[Violation]:
    """Each step's literal ``Arguments`` against the API the pipeline service calls for it."""
    doc = json.loads(definition) if isinstance(definition, str) else definition
    violations: list[Violation] = []
    for step in _steps(doc.get("Steps") or [], "pipelineDefinition.Steps"):
        path, kind = step["path"], step["Type"]
        if kind in NO_API_STEPS:
            continue
        if kind not in STEP_OPERATIONS:
            raise UnmappedInput(f"pipeline step {path} has type {kind!r}: add it to STEP_OPERATIONS or NO_API_STEPS")
        operation, supplied = STEP_OPERATIONS[kind]
        violations += check_request(
            "sagemaker",
            operation,
            step.get("Arguments") or {},
            supplied=supplied,
            path=f"{path}.Arguments",
            pipeline_variables=True,
            resource=resource,
        )
    return violations


def _steps(steps: list[dict], prefix: str) -> Iterator[dict]:
    for step in steps:
        path = f"{prefix}[{step.get('Name')}]"
        yield {**step, "path": path}
        if step.get("Type") == "Condition":
            args = step.get("Arguments") or {}
            yield from _steps(args.get("IfSteps") or [], f"{path}.Arguments.IfSteps")
            yield from _steps(args.get("ElseSteps") or [], f"{path}.Arguments.ElseSteps")


# --------------------------------------------------------------------------------------------
# Pulumi inputs -> the API requests the provider makes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceRule:
    """How pulumi-aws turns one resource type's inputs into API requests.

    Every top-level input is, in this order: ``not_sent`` (with the reason), ``routed`` to another
    call the provider makes, ``moved`` to a nested API path, or sent as the member of ``operation``
    whose name matches it case-insensitively (``kmsKeyId`` -> ``KmsKeyId``) unless ``renames``
    names it. Nested keys match the same way; ``renames`` and ``one_item_lists`` are keyed by the
    API path of the parent (list indices dropped) plus the Pulumi key, e.g.
    ``Target.SageMakerPipelineParameters.pipelineParameters``. A key that matches nothing raises
    ``UnmappedInput``.
    """

    service: str
    operation: str
    renames: Mapping[str, str] = field(default_factory=dict)
    moves: Mapping[str, str] = field(default_factory=dict)
    routed: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """input -> (operation of the same service, API path in that request)."""
    not_sent: Mapping[str, str] = field(default_factory=dict)
    autoname: str | None = None
    """API member Pulumi fills with ``<resource name>-<7 hex>`` when the ``name`` input is absent."""
    supplied: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """operation -> required members the provider fills at apply time (ids of what it created)."""
    one_item_lists: frozenset[str] = frozenset()
    """Paths where Pulumi holds an object for the API's list of at most one item."""
    reshape: Callable[[dict[str, Any]], dict[str, Any]] | None = None


def _metric_queries(inputs: dict[str, Any]) -> dict[str, Any]:
    """Pulumi's ``metricQueries[].metric`` is the API's ``Metrics[].MetricStat{Metric, Period, Stat, Unit}``."""
    queries = []
    for query in inputs.get("metricQueries") or []:
        query = dict(query)
        metric = dict(query.pop("metric", None) or {})
        if metric:
            stat: dict[str, Any] = {
                "Metric": {k: metric.pop(k) for k in ("metricName", "namespace", "dimensions") if k in metric}
            }
            stat.update({k: metric.pop(k) for k in ("period", "stat", "unit") if k in metric})
            query["MetricStat"] = stat
            if metric:
                query["metric"] = metric  # anything else stays where the mapper will refuse it
        queries.append(query)
    return {**inputs, "metricQueries": queries} if "metricQueries" in inputs else inputs


# SNS CreateTopic / Subscribe take these as the `Attributes` map (SNS API Reference, CreateTopic and
# SetSubscriptionAttributes: https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html).
_TOPIC_ATTRIBUTES = (
    "archivePolicy",
    "contentBasedDeduplication",
    "deliveryPolicy",
    "displayName",
    "fifoThroughputScope",
    "fifoTopic",
    "kmsMasterKeyId",
    "policy",
    "signatureVersion",
    "tracingConfig",
)
_SUBSCRIPTION_ATTRIBUTES = (
    "deliveryPolicy",
    "filterPolicy",
    "filterPolicyScope",
    "rawMessageDelivery",
    "redrivePolicy",
    "replayPolicy",
    "subscriptionRoleArn",
)


def _attributes(names: tuple[str, ...]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def reshape(inputs: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in inputs.items() if k not in names}
        attrs = {k[0].upper() + k[1:]: str(v) if not isinstance(v, str) else v for k, v in inputs.items() if k in names}
        if attrs:
            out["Attributes"] = attrs
        return out

    return reshape


def _event_target(inputs: dict[str, Any]) -> dict[str, Any]:
    """PutTargets takes the rule and a list of targets; Pulumi's resource is one target."""
    outer: dict[str, Any] = {k: inputs[k] for k in ("rule", "eventBusName") if k in inputs}
    target = {k: v for k, v in inputs.items() if k not in ("rule", "eventBusName", "forceDestroy")}
    target["Id"] = target.pop("targetId", RUNTIME)  # Pulumi generates it when absent
    return {
        **outer,
        "Targets": [target],
        **({"forceDestroy": inputs["forceDestroy"]} if "forceDestroy" in inputs else {}),
    }


def _object_tags(inputs: dict[str, Any]) -> dict[str, Any]:
    """PutObject's tags travel as the URL-encoded `x-amz-tagging` header."""
    if "tags" not in inputs:
        return inputs
    from urllib.parse import urlencode

    out = dict(inputs)
    out["Tagging"] = urlencode(out.pop("tags") or {})
    return out


_NAME_NOT_SENT = "Pulumi builds the name from it (prefix + random suffix); the name is what is sent"

# SQS CreateQueue takes these as the `Attributes` map, some under another name (SQS API Reference,
# CreateQueue: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html).
_QUEUE_ATTRIBUTES = {
    "contentBasedDeduplication": "ContentBasedDeduplication",
    "deduplicationScope": "DeduplicationScope",
    "delaySeconds": "DelaySeconds",
    "fifoQueue": "FifoQueue",
    "fifoThroughputLimit": "FifoThroughputLimit",
    "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "maxMessageSize": "MaximumMessageSize",
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "policy": "Policy",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "redriveAllowPolicy": "RedriveAllowPolicy",
    "redrivePolicy": "RedrivePolicy",
    "sqsManagedSseEnabled": "SqsManagedSseEnabled",
    "visibilityTimeoutSeconds": "VisibilityTimeout",
}


def _queue_attributes(inputs: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in inputs.items() if k not in _QUEUE_ATTRIBUTES}
    attrs = {
        _QUEUE_ATTRIBUTES[k]: (str(v).lower() if isinstance(v, bool) else v if isinstance(v, str) else str(int(v)))
        for k, v in inputs.items()
        if k in _QUEUE_ATTRIBUTES
    }
    if attrs:
        out["Attributes"] = attrs
    return out


def _queue_policy(inputs: dict[str, Any]) -> dict[str, Any]:
    """Pulumi's QueuePolicy is SetQueueAttributes with the `Policy` attribute."""
    out = {k: v for k, v in inputs.items() if k != "policy"}
    if "policy" in inputs:
        out["Attributes"] = {"Policy": inputs["policy"]}
    return out


def _topic_policy(inputs: dict[str, Any]) -> dict[str, Any]:
    """Pulumi's TopicPolicy is SetTopicAttributes with AttributeName `Policy`."""
    out = {k: v for k, v in inputs.items() if k not in ("arn", "policy")}
    if "arn" in inputs:
        out["TopicArn"] = inputs["arn"]
    if "policy" in inputs:
        out["AttributeName"] = "Policy"
        out["AttributeValue"] = inputs["policy"]
    return out


def _ec2_tags(resource_type: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """EC2 creates tag at creation through `TagSpecifications` ([{ResourceType, Tags}])."""

    def reshape(inputs: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in inputs.items() if k != "tags"}
        if inputs.get("tags"):
            out["TagSpecifications"] = [{"ResourceType": resource_type, "Tags": inputs["tags"]}]
        return out

    return reshape


def _security_group_rule(inputs: dict[str, Any]) -> dict[str, Any]:
    """Pulumi's one-rule resources (aws.vpc.SecurityGroup{Ingress,Egress}Rule) are one IpPermissions item."""
    out = _ec2_tags("security-group-rule")(inputs)
    permission: dict[str, Any] = {}
    for key in ("ipProtocol", "fromPort", "toPort"):
        if key in out:
            permission[key] = out.pop(key)
    description = out.pop("description", None)
    peer = {"description": description} if description else {}
    if "cidrIpv4" in out:
        permission["IpRanges"] = [{"CidrIp": out.pop("cidrIpv4"), **peer}]
    if "cidrIpv6" in out:
        permission["Ipv6Ranges"] = [{"CidrIpv6": out.pop("cidrIpv6"), **peer}]
    if "prefixListId" in out:
        permission["PrefixListIds"] = [{"PrefixListId": out.pop("prefixListId"), **peer}]
    if "referencedSecurityGroupId" in out:
        permission["UserIdGroupPairs"] = [{"GroupId": out.pop("referencedSecurityGroupId"), **peer}]
    out["IpPermissions"] = [permission]
    return out


RESOURCES: dict[str, ResourceRule] = {
    "aws:kms/key:Key": ResourceRule(
        "kms",
        "CreateKey",
        routed={
            "deletionWindowInDays": ("ScheduleKeyDeletion", "PendingWindowInDays"),
            "rotationPeriodInDays": ("EnableKeyRotation", "RotationPeriodInDays"),
        },
        not_sent={
            "enableKeyRotation": "chooses EnableKeyRotation or DisableKeyRotation; only the key id is sent",
            "isEnabled": "chooses EnableKey or DisableKey; only the key id is sent",
        },
        supplied={"ScheduleKeyDeletion": ("KeyId",), "EnableKeyRotation": ("KeyId",)},
    ),
    "aws:kms/alias:Alias": ResourceRule(
        "kms", "CreateAlias", renames={"name": "AliasName"}, not_sent={"namePrefix": _NAME_NOT_SENT}
    ),
    "aws:s3/bucket:Bucket": ResourceRule(
        "s3",
        "CreateBucket",
        renames={"objectLockEnabled": "ObjectLockEnabledForBucket"},
        routed={"tags": ("PutBucketTagging", "Tagging.TagSet")},
        not_sent={
            "forceDestroy": "Pulumi-only: empty the bucket before deleting it",
            "bucketPrefix": _NAME_NOT_SENT,
        },
        autoname="Bucket",
        supplied={"PutBucketTagging": ("Bucket",)},
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ResourceRule(
        "s3",
        "PutPublicAccessBlock",
        moves={
            k: f"PublicAccessBlockConfiguration.{k[0].upper()}{k[1:]}"
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        },
        not_sent={"skipDestroy": "Pulumi-only: keep the block when the resource is deleted"},
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ResourceRule(
        "s3", "PutBucketOwnershipControls", moves={"rule": "OwnershipControls.Rules[0]"}
    ),
    "aws:s3/bucketVersioning:BucketVersioning": ResourceRule("s3", "PutBucketVersioning"),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": ResourceRule(
        "s3", "PutBucketEncryption", moves={"rules": "ServerSideEncryptionConfiguration.Rules"}
    ),
    "aws:s3/bucketPolicy:BucketPolicy": ResourceRule("s3", "PutBucketPolicy"),
    "aws:s3/bucketObjectv2:BucketObjectv2": ResourceRule(
        "s3",
        "PutObject",
        renames={"kmsKeyId": "SSEKMSKeyId", "source": "Body", "content": "Body", "contentBase64": "Body"},
        not_sent={
            "etag": "Pulumi-only: triggers an update when the content hash changes",
            "sourceHash": "Pulumi-only: triggers an update when it changes",
            "forceDestroy": "Pulumi-only: delete even under object lock",
        },
        reshape=_object_tags,
    ),
    "aws:iam/role:Role": ResourceRule(
        "iam",
        "CreateRole",
        renames={"name": "RoleName", "assumeRolePolicy": "AssumeRolePolicyDocument"},
        not_sent={
            "namePrefix": _NAME_NOT_SENT,
            "forceDetachPolicies": "Pulumi-only: detach policies before deleting the role",
        },
        autoname="RoleName",
    ),
    "aws:iam/rolePolicy:RolePolicy": ResourceRule(
        "iam",
        "PutRolePolicy",
        renames={"role": "RoleName", "name": "PolicyName", "policy": "PolicyDocument"},
        not_sent={"namePrefix": _NAME_NOT_SENT},
        autoname="PolicyName",
    ),
    "aws:iam/policy:Policy": ResourceRule(
        "iam",
        "CreatePolicy",
        renames={"name": "PolicyName", "policy": "PolicyDocument"},
        not_sent={"namePrefix": _NAME_NOT_SENT},
        autoname="PolicyName",
    ),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ResourceRule(
        "iam", "AttachRolePolicy", renames={"role": "RoleName"}
    ),
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": ResourceRule(
        "iam", "AttachUserPolicy", renames={"user": "UserName"}
    ),
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": ResourceRule(
        "iam", "AttachGroupPolicy", renames={"group": "GroupName"}
    ),
    "aws:sagemaker/featureGroup:FeatureGroup": ResourceRule("sagemaker", "CreateFeatureGroup"),
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": ResourceRule("sagemaker", "CreateModelPackageGroup"),
    "aws:sagemaker/pipeline:Pipeline": ResourceRule("sagemaker", "CreatePipeline"),
    "aws:sagemaker/model:Model": ResourceRule(
        "sagemaker", "CreateModel", renames={"name": "ModelName"}, autoname="ModelName"
    ),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": ResourceRule(
        "sagemaker",
        "CreateEndpointConfig",
        renames={
            "name": "EndpointConfigName",
            "kmsKeyArn": "KmsKeyId",
            "ProductionVariants.routingConfigs": "RoutingConfig",
            "ShadowProductionVariants.routingConfigs": "RoutingConfig",
        },
        not_sent={"namePrefix": _NAME_NOT_SENT},
        autoname="EndpointConfigName",
    ),
    "aws:sagemaker/endpoint:Endpoint": ResourceRule(
        "sagemaker", "CreateEndpoint", renames={"name": "EndpointName"}, autoname="EndpointName"
    ),
    "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition": ResourceRule(
        "sagemaker",
        "CreateDataQualityJobDefinition",
        renames={"name": "JobDefinitionName"},
        autoname="JobDefinitionName",
        one_item_lists=frozenset({"DataQualityJobOutputConfig.MonitoringOutputs"}),
    ),
    "aws:sagemaker/monitoringSchedule:MonitoringSchedule": ResourceRule(
        "sagemaker",
        "CreateMonitoringSchedule",
        renames={"name": "MonitoringScheduleName"},
        autoname="MonitoringScheduleName",
    ),
    "aws:appautoscaling/target:Target": ResourceRule("application-autoscaling", "RegisterScalableTarget"),
    "aws:appautoscaling/policy:Policy": ResourceRule(
        "application-autoscaling", "PutScalingPolicy", renames={"name": "PolicyName"}, autoname="PolicyName"
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ResourceRule(
        "cloudwatch",
        "PutMetricAlarm",
        renames={"name": "AlarmName", "metricQueries": "Metrics"},
        autoname="AlarmName",
        reshape=_metric_queries,
    ),
    "aws:cloudwatch/eventRule:EventRule": ResourceRule(
        "events",
        "PutRule",
        not_sent={
            "namePrefix": _NAME_NOT_SENT,
            "isEnabled": "deprecated alias of state",
            "forceDestroy": "Pulumi-only: delete managed rules' targets first",
        },
        autoname="Name",
    ),
    "aws:cloudwatch/eventTarget:EventTarget": ResourceRule(
        "events",
        "PutTargets",
        renames={
            "Targets.sagemakerPipelineTarget": "SageMakerPipelineParameters",
            "Targets.SageMakerPipelineParameters.pipelineParameterLists": "PipelineParameterList",
            # The provider's inputPaths map is the API's InputPathsMap.
            "Targets.InputTransformer.inputPaths": "InputPathsMap",
        },
        not_sent={"forceDestroy": "Pulumi-only: remove managed targets on delete"},
        reshape=_event_target,
    ),
    "aws:scheduler/schedule:Schedule": ResourceRule(
        "scheduler",
        "CreateSchedule",
        renames={"Target.SageMakerPipelineParameters.pipelineParameters": "PipelineParameterList"},
        not_sent={"namePrefix": _NAME_NOT_SENT},
        autoname="Name",
    ),
    "aws:scheduler/scheduleGroup:ScheduleGroup": ResourceRule(
        "scheduler", "CreateScheduleGroup", not_sent={"namePrefix": _NAME_NOT_SENT}, autoname="Name"
    ),
    "aws:sqs/queue:Queue": ResourceRule(
        "sqs",
        "CreateQueue",
        renames={"name": "QueueName"},
        not_sent={"namePrefix": _NAME_NOT_SENT},
        autoname="QueueName",
        reshape=_queue_attributes,
    ),
    "aws:sqs/queuePolicy:QueuePolicy": ResourceRule(
        "sqs", "SetQueueAttributes", renames={"queueUrl": "QueueUrl"}, reshape=_queue_policy
    ),
    "aws:ec2/vpc:Vpc": ResourceRule(
        "ec2",
        "CreateVpc",
        routed={
            "enableDnsSupport": ("ModifyVpcAttribute", "EnableDnsSupport.Value"),
            "enableDnsHostnames": ("ModifyVpcAttribute", "EnableDnsHostnames.Value"),
        },
        supplied={"ModifyVpcAttribute": ("VpcId",)},
        reshape=_ec2_tags("vpc"),
    ),
    "aws:ec2/subnet:Subnet": ResourceRule(
        "ec2",
        "CreateSubnet",
        routed={"mapPublicIpOnLaunch": ("ModifySubnetAttribute", "MapPublicIpOnLaunch.Value")},
        supplied={"ModifySubnetAttribute": ("SubnetId",)},
        reshape=_ec2_tags("subnet"),
    ),
    "aws:ec2/routeTable:RouteTable": ResourceRule("ec2", "CreateRouteTable", reshape=_ec2_tags("route-table")),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ResourceRule("ec2", "AssociateRouteTable"),
    "aws:ec2/securityGroup:SecurityGroup": ResourceRule(
        "ec2",
        "CreateSecurityGroup",
        renames={"name": "GroupName"},
        not_sent={
            "namePrefix": _NAME_NOT_SENT,
            "revokeRulesOnDelete": "Pulumi-only: revoke the rules before deleting the group",
        },
        autoname="GroupName",
        reshape=_ec2_tags("security-group"),
    ),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ResourceRule(
        "ec2",
        "AuthorizeSecurityGroupEgress",
        renames={"securityGroupId": "GroupId"},
        reshape=_security_group_rule,
    ),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ResourceRule(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        renames={"securityGroupId": "GroupId"},
        reshape=_security_group_rule,
    ),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ResourceRule(
        "ec2",
        "CreateVpcEndpoint",
        renames={"policy": "PolicyDocument"},
        not_sent={"autoAccept": "Pulumi-only: accept a cross-account endpoint connection"},
        reshape=_ec2_tags("vpc-endpoint"),
    ),
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": ResourceRule("cloudwatch", "PutCompositeAlarm"),
    "aws:cloudwatch/logGroup:LogGroup": ResourceRule(
        "logs",
        "CreateLogGroup",
        renames={"name": "logGroupName"},
        routed={"retentionInDays": ("PutRetentionPolicy", "retentionInDays")},
        not_sent={
            "namePrefix": _NAME_NOT_SENT,
            "skipDestroy": "Pulumi-only: keep the log group when the resource is deleted",
        },
        autoname="logGroupName",
        supplied={"PutRetentionPolicy": ("logGroupName",)},
    ),
    "aws:lambda/function:Function": ResourceRule(
        "lambda",
        "CreateFunction",
        renames={"name": "FunctionName"},
        not_sent={
            "sourceCodeHash": "Pulumi-only: triggers an update when the code's hash changes",
            "skipDestroy": "Pulumi-only: keep the function when the resource is deleted",
            "replaceSecurityGroupsOnDestroy": "Pulumi-only: what to do with the VPC security groups on delete",
        },
        autoname="FunctionName",
    ),
    "aws:lambda/permission:Permission": ResourceRule(
        "lambda",
        "AddPermission",
        renames={"function": "FunctionName"},
        not_sent={"statementIdPrefix": _NAME_NOT_SENT},
        autoname="StatementId",
    ),
    "aws:sns/topic:Topic": ResourceRule(
        "sns",
        "CreateTopic",
        not_sent={"namePrefix": _NAME_NOT_SENT},
        autoname="Name",
        reshape=_attributes(_TOPIC_ATTRIBUTES),
    ),
    "aws:sns/topicPolicy:TopicPolicy": ResourceRule("sns", "SetTopicAttributes", reshape=_topic_policy),
    "aws:sns/topicSubscription:TopicSubscription": ResourceRule(
        "sns",
        "Subscribe",
        renames={"topic": "TopicArn"},
        not_sent={
            "confirmationTimeoutInMinutes": "Pulumi-only: how long to wait for a confirmation",
            "endpointAutoConfirms": "Pulumi-only: whether the endpoint confirms by itself",
        },
        reshape=_attributes(_SUBSCRIPTION_ATTRIBUTES),
    ),
}


def _member(shape: Any, key: str) -> str | None:
    folded = key.lower()
    for name in shape.members:
        if name.lower() == folded:
            return name
    return None


def _kv_members(shape: Any) -> tuple[str, str] | None:
    """(key member, value member) when a list's items are a key/value pair structure."""
    if shape.type_name != "structure":
        return None
    names = set(shape.members)
    for key, value in (("Key", "Value"), ("TagKey", "TagValue"), ("Name", "Value")):
        if names == {key, value}:
            return key, value
    return None


_ASSET_KEYS = frozenset({"asset", "path", "sha256", "text", "uri", "assets"})


def _is_unknowable(value: Any, placeholders: frozenset[str] = frozenset()) -> bool:
    """A Pulumi unknown, a placeholder the plan put for a secret, or an asset (a file's content)."""
    from pulumi.runtime.rpc import UNKNOWN

    if isinstance(value, str):
        return value == UNKNOWN or value in placeholders
    return isinstance(value, dict) and "asset" in value and set(value) <= _ASSET_KEYS


class _Mapper:
    def __init__(self, type_: str, rule: ResourceRule, placeholders: frozenset[str]) -> None:
        self.type, self.rule, self.placeholders = type_, rule, placeholders

    def _unmapped(self, path: str, why: str) -> UnmappedInput:
        return UnmappedInput(
            f"{self.type} input {path!r}: {why}; map it in providers/aws/vendor_rules.py RESOURCES "
            "(renames / moves / routed / not_sent) so it is checked"
        )

    def convert(self, shape: Any, value: Any, path: str) -> Any:
        if value is RUNTIME or _is_unknowable(value, self.placeholders):
            return RUNTIME
        kind = shape.type_name
        if kind == "structure" and isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if item is None:
                    continue
                sub = f"{path}.{key}" if path else key
                target = self.rule.renames.get(sub) or _member(shape, key)
                if target is None:
                    raise self._unmapped(sub, f"no member of {shape.name} ({', '.join(shape.members)}) matches")
                out[target] = self.convert(shape.members[target], item, f"{path}.{target}" if path else target)
            return out
        if kind == "list" and isinstance(value, list):
            return [self.convert(shape.member, item, path) for item in value]
        if kind == "list" and isinstance(value, dict):
            if path in self.rule.one_item_lists:
                return [self.convert(shape.member, value, path)]
            pair = _kv_members(shape.member)
            if pair is None:
                raise self._unmapped(path, f"an object where {shape.name} is a list")
            k, v = pair
            return [{k: key, v: self.convert(shape.member.members[v], item, path)} for key, item in value.items()]
        if kind == "map" and isinstance(value, dict):
            return {k: self.convert(shape.value, v, path) for k, v in value.items()}
        if kind in ("integer", "long") and isinstance(value, float) and value.is_integer():
            return int(value)  # Pulumi numbers are floats
        return value


def _set_path(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: Any = target
    for i, part in enumerate(parts):
        name, _, index = part.partition("[")
        last = i == len(parts) - 1
        if index:
            lst = node.setdefault(name, [])
            idx = int(index.rstrip("]"))
            while len(lst) <= idx:
                lst.append({})
            if last:
                lst[idx] = value
            node = lst[idx]
        elif last:
            node[name] = value
        else:
            node = node.setdefault(name, {})


def resource_requests(
    resource: Mapping[str, Any], placeholders: Iterable[str] = ()
) -> list[tuple[str, str, dict[str, Any], tuple[str, ...]]]:
    """The API requests pulumi-aws makes to create ``resource``: ``[(service, operation, params, supplied)]``.

    ``placeholders``: strings that stand for a value the plan does not know (a secret).
    Raises ``UnmappedInput`` for an AWS type or input this module has no mapping for.
    """
    type_, name = resource["type"], resource["name"]
    rule = RESOURCES.get(type_)
    if rule is None:
        raise UnmappedInput(f"{type_} ({name}): no entry in providers/aws/vendor_rules.py RESOURCES")
    inputs = dict(resource.get("inputs") or {})
    if rule.reshape:
        inputs = rule.reshape(inputs)
    mapper = _Mapper(type_, rule, frozenset(placeholders))
    staged: dict[str, dict[str, Any]] = {rule.operation: {}}
    for key, value in inputs.items():
        if key in rule.not_sent:
            continue
        if key in rule.routed:
            operation, path = rule.routed[key]
            _set_path(staged.setdefault(operation, {}), path, value)
        elif key in rule.moves:
            _set_path(staged[rule.operation], rule.moves[key], value)
        else:
            staged[rule.operation][key] = value
    if rule.autoname and "name" not in inputs and rule.autoname not in staged[rule.operation]:
        staged[rule.operation][rule.autoname] = f"{name}-{_AUTONAME_HEX}"
    model = service_model(rule.service)
    requests = []
    for operation, params in staged.items():
        shape = model.operation_model(operation).input_shape
        requests.append((rule.service, operation, mapper.convert(shape, params, ""), rule.supplied.get(operation, ())))
    return requests


# --------------------------------------------------------------------------------------------
# The plan's mock values -> values of the real shape and length
# --------------------------------------------------------------------------------------------

_AUTONAME_HEX = "a1b2c3d"
"""Pulumi's autoname: ``<logical name>-`` + 7 random hex characters."""


def realistic(resources: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The resources with mocks.py's mock ids replaced by ids shaped as AWS makes them.

    mocks.py answers an auto-named resource with ``<name>-mock`` (Pulumi: ``<name>-`` + 7 hex,
    3 characters longer) and a KMS key id with ``<name>-key-id`` (AWS: a 36-character UUID). Every
    string of every input (JSON documents included) is rewritten, longest names first.
    """
    swaps: dict[str, str] = {}
    for r in resources:
        swaps[f"{r['name']}-mock"] = f"{r['name']}-{_AUTONAME_HEX}"
        swaps[f"{r['name']}-key-id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, r["name"]))
    if not swaps:
        return [dict(r) for r in resources]
    finder = re.compile("|".join(re.escape(k) for k in sorted(swaps, key=len, reverse=True)))

    def fix(value: Any) -> Any:
        if isinstance(value, str):
            return finder.sub(lambda m: swaps[m.group(0)], value)
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return [{**r, "inputs": fix(r.get("inputs") or {})} for r in resources]


# --------------------------------------------------------------------------------------------
# IAM actions
# --------------------------------------------------------------------------------------------

# IAM action prefix -> the botocore services whose operations are that prefix's actions, where the
# names differ or one prefix covers several models. Any other prefix is the botocore service of the
# same name (kms, iam, sts, s3, sns, events, scheduler, glue, ecr, logs, cloudwatch...). Source: the
# Service Authorization Reference lists each service's prefix
# (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html).
IAM_PREFIXES: dict[str, tuple[str, ...]] = {
    # SageMaker's prefix also authorizes the runtime APIs: InvokeEndpoint (sagemaker-runtime),
    # PutRecord / GetRecord (sagemaker-featurestore-runtime), BatchPutMetrics (sagemaker-metrics).
    "sagemaker": (
        "sagemaker",
        "sagemaker-runtime",
        "sagemaker-featurestore-runtime",
        "sagemaker-metrics",
        "sagemaker-a2i-runtime",
        "sagemaker-edge",
    ),
    # Amazon S3's prefix covers the bucket/object API (s3) and account-level controls (s3control).
    "s3": ("s3", "s3control"),
    # Botocore names CloudWatch "cloudwatch" (endpoint prefix "monitoring"); EventBridge is "events"
    # (IAM prefix "events", not "eventbridge"): both are the default rule, written here to say so.
    "cloudwatch": ("cloudwatch",),
    "events": ("events",),
    "application-autoscaling": ("application-autoscaling",),
    "states": ("stepfunctions",),
    "elasticfilesystem": ("efs",),
}

# Actions that authorize something no API operation of the same name does, each with the operation
# it guards. Source: Service Authorization Reference, "Actions, resources, and condition keys for
# Amazon S3" (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html)
# and "for AWS Identity and Access Management" (.../list_awsidentityandaccessmanagementiam.html).
IAM_ONLY_ACTIONS: dict[str, str] = {
    "iam:PassRole": "handing a role to a service (CreateTrainingJob, CreateModel...); no API of its own",
    "s3:ListBucket": "ListObjects, ListObjectsV2, HeadBucket",
    "s3:ListBucketVersions": "ListObjectVersions",
    "s3:ListBucketMultipartUploads": "ListMultipartUploads",
    "s3:ListMultipartUploadParts": "ListParts",
    "s3:ListAllMyBuckets": "ListBuckets",
    "s3:GetObjectVersion": "GetObject with a VersionId",
    "s3:DeleteObjectVersion": "DeleteObject with a VersionId",
    "s3:PutEncryptionConfiguration": "PutBucketEncryption, DeleteBucketEncryption",
    "s3:GetEncryptionConfiguration": "GetBucketEncryption",
    "s3:PutBucketPublicAccessBlock": "PutPublicAccessBlock, DeletePublicAccessBlock",
    "s3:GetBucketPublicAccessBlock": "GetPublicAccessBlock",
    "s3:PutLifecycleConfiguration": "PutBucketLifecycleConfiguration, DeleteBucketLifecycle",
    "s3:GetLifecycleConfiguration": "GetBucketLifecycleConfiguration",
}

# API operations that are NOT IAM actions: IAM authorizes them under another name (the inverse of
# the table above, same source). Without it `s3:ListObjects`, a plausible slip, would pass.
NOT_IAM_ACTIONS: dict[str, str] = {
    "s3:ListObjects": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:HeadObject": "s3:GetObject",
    "s3:ListBuckets": "s3:ListAllMyBuckets",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "s3:ListParts": "s3:ListMultipartUploadParts",
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
    "s3:CopyObject": "s3:GetObject on the source and s3:PutObject on the target",
    "s3:DeleteObjects": "s3:DeleteObject",
    "s3:PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
    "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "s3:DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "s3:GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
}


@functools.cache
def _operations(prefix: str) -> frozenset[str] | None:
    from botocore.exceptions import UnknownServiceError

    services = IAM_PREFIXES.get(prefix, (prefix,))
    ops: set[str] = set()
    for service in services:
        try:
            ops |= set(service_model(service).operation_names)
        except UnknownServiceError:
            continue
    if not ops:
        return None
    ops -= {a.split(":", 1)[1] for a in NOT_IAM_ACTIONS if a.split(":", 1)[0] == prefix}
    ops |= {a.split(":", 1)[1] for a in IAM_ONLY_ACTIONS if a.split(":", 1)[0] == prefix}
    return frozenset(ops)


def is_policy_document(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str) and '"Statement"' in value:
        try:
            doc = json.loads(value)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) and "Statement" in doc else None
    return None


@dataclass(frozen=True)
class PolicyAction:
    resource: str
    """``type name`` of the plan resource holding the document."""
    document: str
    """The input holding it (``policy``, ``assumeRolePolicy``...)."""
    statement: str
    """The statement's Sid, or its index."""
    effect: str
    action: str
    negated: bool = False
    """True for NotAction."""


def policy_actions(resources: Iterable[Mapping[str, Any]]) -> list[PolicyAction]:
    """Every Action / NotAction of every IAM policy document found anywhere in the inputs."""
    found: list[PolicyAction] = []

    def walk(value: Any, path: str, where: str) -> None:
        doc = is_policy_document(value)
        if doc is not None:
            statements = doc["Statement"]
            for i, st in enumerate(statements if isinstance(statements, list) else [statements]):
                for key in ("Action", "NotAction"):
                    actions = st.get(key, [])
                    for action in [actions] if isinstance(actions, str) else actions:
                        found.append(
                            PolicyAction(
                                where, path, str(st.get("Sid", i)), st.get("Effect", ""), action, key == "NotAction"
                            )
                        )
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else k, where)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]", where)

    for r in resources:
        walk(r.get("inputs") or {}, "", f"{r['type']} {r['name']}")
    return found


def check_action(action: str) -> str | None:
    """None when ``action`` names (or its wildcard matches) an existing action; else the reason."""
    if action == "*":
        return None
    prefix, sep, name = action.partition(":")
    if not sep or not name:
        return "not of the form service:Action"
    ops = _operations(prefix)
    if ops is None:
        return f"no botocore service for the IAM prefix {prefix!r} (add it to IAM_PREFIXES)"
    if any(ch in name for ch in "*?"):
        if not any(fnmatch.fnmatchcase(op.lower(), name.lower()) for op in ops):
            return f"the wildcard matches no {prefix} action"
        return None
    # IAM action names are case-insensitive
    instead = {k.lower(): v for k, v in NOT_IAM_ACTIONS.items()}.get(action.lower())
    if instead:
        return f"an API operation IAM authorizes as {instead}"
    if name.lower() not in {op.lower() for op in ops}:
        return f"{prefix} has no operation {name!r} (nor an IAM-only action of that name)"
    return None


def _prefix_services(action: str) -> str:
    prefix = action.split(":", 1)[0]
    return ", ".join(IAM_PREFIXES.get(prefix, (prefix,)))


def check_iam_actions(resources: Iterable[Mapping[str, Any]]) -> list[Violation]:
    out = []
    for pa in policy_actions(resources):
        reason = check_action(pa.action)
        if reason:
            key = "NotAction" if pa.negated else "Action"
            out.append(
                Violation(
                    f"{pa.document}.Statement[{pa.statement}].{key}",
                    _show(pa.action),
                    f"existing IAM action: {reason}",
                    f"botocore operations of {_prefix_services(pa.action)} + IAM_ONLY_ACTIONS",
                    pa.resource,
                )
            )
    return out


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------


UNIVERSAL_TARGET_PREFIX = "arn:aws:scheduler:::aws-sdk:"
SCHEDULER_CONTEXT = {
    "<aws.scheduler.schedule-arn>": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/a-schedule",
    "<aws.scheduler.scheduled-time>": "2022-03-22T18:59:43Z",
    "<aws.scheduler.execution-id>": "d32c5kddcf5bb8c3",
    "<aws.scheduler.attempt-number>": "1",
}
"""Scheduler's context attributes and the example values its guide gives for each ("Adding context
attributes in EventBridge Scheduler", https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html):
replaced in a universal target's payload at every invocation, so checked with values of their shape."""


def universal_target_request(resource: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    """(service, operation, request) a schedule with a universal target (``aws-sdk:<service>:<action>``)
    sends at each invocation: its ``Input`` JSON, context attributes filled in; None for other targets."""
    target = ((resource.get("inputs") or {}).get("target")) or {}
    arn, payload = target.get("arn"), target.get("input")
    if not isinstance(arn, str) or not arn.startswith(UNIVERSAL_TARGET_PREFIX) or not isinstance(payload, str):
        return None
    service, _, action = arn.removeprefix(UNIVERSAL_TARGET_PREFIX).partition(":")
    for attribute, example in SCHEDULER_CONTEXT.items():
        payload = payload.replace(attribute, example)
    return service, action[0].upper() + action[1:], json.loads(payload)


def check_plan(resources: Iterable[Mapping[str, Any]], *, placeholders: Iterable[str] = ()) -> list[Violation]:
    """Every vendor rule the plan's AWS resources break: requests, pipeline steps, IAM actions.

    ``resources``: ``[{"type", "name", "inputs"}]`` as in ``mlops plan --format json``. Component
    resources (types not starting with ``aws:``) are skipped. ``placeholders``: strings standing for
    values the plan does not know (``infra.config.SECRET_PLACEHOLDER``); they are not checked.
    Raises ``UnmappedInput`` when an AWS type, an input or a pipeline step type is not mapped (a
    gap in this module's tables, not a fault of the stack).
    """
    placeholders = frozenset(placeholders)
    aws = realistic([r for r in resources if str(r["type"]).startswith("aws:")])
    violations: list[Violation] = []
    for r in aws:
        label = f"{r['type']} {r['name']}"
        for service, operation, params, supplied in resource_requests(r, placeholders):
            violations += check_request(service, operation, params, supplied=supplied, resource=label)
        universal = universal_target_request(r) if r["type"] == "aws:scheduler/schedule:Schedule" else None
        if universal is not None:
            service, operation, params = universal
            violations += check_request(service, operation, params, resource=f"{label} target.input")
        if r["type"] == "aws:sagemaker/pipeline:Pipeline":
            definition = (r.get("inputs") or {}).get("pipelineDefinition")
            if isinstance(definition, str) and not _is_unknowable(definition, placeholders):
                violations += check_pipeline_definition(definition, resource=label)
    violations += check_iam_actions(aws)
    return violations
