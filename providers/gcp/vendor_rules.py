"""Every request the kit makes to Google, held against Google's own machine-readable model.

The oracles, in order of authority:

- the Vertex AI v1 protos installed with `google-cloud-aiplatform` (`google.cloud.aiplatform_v1.types`):
  each request is parsed into its proto message, which refuses unknown fields, bad enum names and
  wrong scalar types; the field comments shipped with those protos (proto-plus docstrings) give the
  rules a schema cannot hold ("Required.", "Output only.", "may be up to 128 characters, and valid
  characters are [a-z0-9_]", label rules, the supported autoscaling metrics), and they are read at
  run time, not copied here;
- the REST routing of the installed aiplatform clients (`services/*/transports/rest_base.py`), to
  turn a recorded REST call (method, path, query, body) back into its request message;
- the KFP `PipelineSpec` proto (`kfp-pipeline-spec`) and the aiplatform SDK's
  `PipelineRuntimeConfigBuilder` (which refuses parameters the compiled pipeline does not declare);
- the aiplatform SDK's table of prebuilt prediction containers
  (`google/cloud/aiplatform/constants/prediction.py`);
- the `...Args` input classes of the installed `pulumi_gcp` (every input a resource takes);
- where only documentation exists, the rule is written here with its source (title + URL).

Entry points: `check_plan(resources)` for the resources of a plan (`mlops plan --format json`:
`{"type", "name", "inputs"}` each), `check_request(message_name, body)` for a request body built at
run time, `check_rest_call(method, path, body, query)` for a REST call as the fake server records it.
Each returns a list of `Violation`. `kind="vendor"`: Google refuses the request, or accepts it and
does not do what the kit means (a missing `feature_timestamp` column); `kind="kit"`: the request is
valid but breaks a promise the kit makes (customer-managed keys on every Vertex resource).

`python -m providers.gcp.vendor_rules PLAN.json` prints the violations of a saved plan (exit 2 if any).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import json
import re
import sys
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
DYNAMIC = "pulumi-python:dynamic:Resource"

# --- documented rules the protos do not carry ----------------------------------------------------

LABELS_DOC = (
    "Google Cloud 'Requirements for labels' (https://cloud.google.com/resource-manager/docs/labels-overview"
    "#requirements): keys start with a lowercase letter"
)
ENDPOINT_ID_API = (
    "Vertex AI API's own error text for CreateEndpoint, quoted in "
    "https://github.com/googleapis/python-aiplatform/issues/2599: 'If the first character is a number, "
    "all characters must be numbers with no leading zeros and there can be at most 10 characters' (a "
    "10-digit id was created there); the proto comment of CreateEndpointRequest.endpoint_id still says 9"
)
ENDPOINT_ID_NUMERIC_MAX = 10
ENDPOINT_TYPES_DOC = (
    "Vertex AI 'Choose an endpoint type' (https://cloud.google.com/vertex-ai/docs/predictions/choose-endpoint-type): "
    "request-response logging is supported on dedicated public, shared public and Private Service Connect "
    "endpoints, not on private endpoints that use VPC Network Peering"
)
PSC_RULE_DOC = (
    "pulumi_gcp compute.ForwardingRuleArgs: 'For Private Service Connect forwarding rules that forward traffic to "
    "managed services, the target must be a service attachment', load_balancing_scheme '\"\" is also supported for "
    "... PSC (private service connection) regional forwarding rules', 'For regional forwarding rules, this target "
    "must be in the same region as the forwarding rule'"
)
IAM_ROLE_DOC = (
    "IAM REST reference, Role / projects.roles.create "
    "(https://cloud.google.com/iam/docs/reference/rest/v1/projects.roles/create): roleId matches "
    "[a-zA-Z0-9_\\.]{3,64}; title at most 100 characters; description at most 256 characters; stage one of "
    "ALPHA, BETA, GA, DEPRECATED, DISABLED, EAP"
)
IAM_ROLE_ID_RE = re.compile(r"^[a-zA-Z0-9_.]{3,64}$")
IAM_ROLE_STAGES = ("ALPHA", "BETA", "GA", "DEPRECATED", "DISABLED", "EAP")
IAM_PERMISSION_RE = re.compile(r"^[a-z][a-zA-Z0-9]*\.[a-zA-Z][a-zA-Z0-9]*\.[a-zA-Z][a-zA-Z0-9]*$")
PIPELINE_PARAMS_SDK = (
    "google/cloud/aiplatform/utils/pipeline_utils.py PipelineRuntimeConfigBuilder: a parameter value must "
    "name a parameter of the compiled pipeline's root inputDefinitions"
)
PIPELINE_BILLING_LABEL = "vertex-ai-pipelines-run-billing-id"
# Prebuilt container framework name (the image tag) -> the PyPI distribution the model is built with.
FRAMEWORK_PACKAGES = {"sklearn": "scikit-learn", "xgboost": "xgboost", "tf": "tensorflow", "tf2": "tensorflow"}


@dataclass(frozen=True)
class Violation:
    resource: str
    """The plan resource's name, or a label for a run-time request."""
    field: str
    """Dotted path of the offending field (proto or Pulumi input names), or '' for the whole request."""
    rule: str
    """What is wrong, in the vendor's terms."""
    source: str
    """Where the rule comes from: proto message and field, SDK file, or documentation title + URL."""
    kind: str = "vendor"

    def __str__(self) -> str:
        where = f"{self.resource}: {self.field}" if self.field else self.resource
        return f"{where}: {self.rule} [{self.source}]"


# --- the Vertex AI protos ------------------------------------------------------------------------


@functools.cache
def _v1() -> Any:
    from google.cloud import aiplatform_v1

    return aiplatform_v1


@functools.cache
def _proto_classes() -> dict[str, Any]:
    """Full proto name ('google.cloud.aiplatform.v1.Endpoint') -> its proto-plus class (for its docs)."""
    import proto

    found: dict[str, Any] = {}

    def visit(cls: Any) -> None:
        if not (isinstance(cls, type) and issubclass(cls, proto.Message)):
            return
        name = cls.pb().DESCRIPTOR.full_name  # type: ignore[attr-defined]  # proto-plus is untyped: narrowed to type
        if name in found:
            return
        found[name] = cls
        for value in vars(cls).values():
            visit(value)

    for value in vars(_v1().types).values():
        visit(value)
    return found


@functools.cache
def field_docs(full_name: str) -> dict[str, str]:
    """The proto field comments of a message, as shipped in its proto-plus class docstring."""
    cls = _proto_classes().get(full_name)
    if cls is None or not cls.__doc__:
        return {}
    lines = inspect.cleandoc(cls.__doc__).splitlines()
    docs: dict[str, list[str]] = {}
    current = None
    in_attrs = False
    for line in lines:
        if line.strip() == "Attributes:":
            in_attrs = True
            continue
        if not in_attrs:
            continue
        head = re.match(r"^ {4}(\w+) \(.*\):\s*$", line)
        if head:
            current = head.group(1)
            docs[current] = []
        elif current and (line.startswith(" " * 8) or not line.strip()):
            docs[current].append(line.strip())
        elif line.strip():
            current = None
    return {k: " ".join(x for x in v if x) for k, v in docs.items()}


def _doc_source(full_name: str, field: str) -> str:
    short = full_name.removeprefix("google.cloud.aiplatform.")
    return f"proto {short}.{field} (google-cloud-aiplatform {_aiplatform_version()})"


@functools.cache
def _aiplatform_version() -> str:
    from importlib.metadata import version

    return version("google-cloud-aiplatform")


def message_class(name: str) -> Any:
    """'DeployModelRequest' or 'google.cloud.aiplatform.v1.DeployModelRequest' -> proto-plus class."""
    full = name if "." in name else f"google.cloud.aiplatform.v1.{name}"
    cls = _proto_classes().get(full)
    if cls is None:
        raise KeyError(f"no aiplatform v1 message named {name!r}")
    return cls


_ID_LIMIT = re.compile(r"(?:may be up to|should be less than|can be up to) (\d+) characters")
_ID_CHARS = re.compile(r"valid characters are ``/?(\[[^`]*?\][^`/]*?)/?``")


@functools.cache
def doc_id_rule(message: str, field: str) -> tuple[int, re.Pattern[str], bool, bool, str]:
    """An id rule as the proto comment states it: (max length, character pattern, first may not be
    a digit, first may not be a hyphen, the comment). Raises if the comment no longer states one."""
    cls = message_class(message)
    full = cls.pb().DESCRIPTOR.full_name
    doc = field_docs(full).get(field, "")
    limit = _ID_LIMIT.search(doc)
    chars = _ID_CHARS.search(doc)
    if not (limit and chars):
        raise LookupError(f"the proto comment of {message}.{field} no longer states an id rule: {doc!r}")
    charset = chars.group(1)
    if charset == "[a-z][0-9]-":  # PipelineJob id: '/[a-z][0-9]-/' means letters, digits and '-'
        charset = "[a-z0-9-]"
    pattern = re.compile(f"^{charset}+$")
    return (
        int(limit.group(1)),
        pattern,
        "cannot be a number" in doc,
        "or hyphen" in doc,
        doc,
    )


def _check_id(
    value: Any, message: str, field: str, resource: str, path: str, *, strictly_less: bool = False
) -> list[Violation]:
    limit, pattern, no_digit, no_hyphen, _doc = doc_id_rule(message, field)
    source = _doc_source(message_class(message).pb().DESCRIPTOR.full_name, field)
    text = str(value)
    problems = []
    if not text:
        problems.append("is empty")
    if len(text) > limit or (strictly_less and len(text) >= limit):
        problems.append(f"is {len(text)} characters, the limit is {'under ' if strictly_less else ''}{limit}")
    if text and not pattern.match(text):
        problems.append(f"has characters outside {pattern.pattern[1:-2]}")
    if text[:1].isdigit() and no_digit:
        problems.append("starts with a digit")
    if text[:1] == "-" and no_hyphen:
        problems.append("starts with a hyphen")
    return [Violation(resource, path, f"id {text!r} {p}", source) for p in problems]


def check_endpoint_id(value: str, resource: str, path: str = "endpoint_id") -> list[Violation]:
    """CreateEndpointRequest.endpoint_id: the letter-first rule from the proto comment, the numeric
    rule from the API (the comment's '9 characters' is stale, see ENDPOINT_ID_API)."""
    full = "google.cloud.aiplatform.v1.CreateEndpointRequest"
    doc = field_docs(full).get("endpoint_id", "")
    text = str(value)
    if text[:1].isdigit():
        if not re.fullmatch(r"[1-9][0-9]*", text) or len(text) > ENDPOINT_ID_NUMERIC_MAX:
            return [
                Violation(
                    resource,
                    path,
                    f"numeric endpoint id {text!r} must be digits without a leading zero, at most "
                    f"{ENDPOINT_ID_NUMERIC_MAX}",
                    ENDPOINT_ID_API,
                )
            ]
        return []
    match = re.search(r"may be up to\s+(\d+) characters", doc)
    limit = int(match.group(1)) if match else 63
    if not re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]|[a-z]", text) or len(text) > limit:
        return [
            Violation(
                resource,
                path,
                f"endpoint id {text!r}: a letter first, then [a-z0-9-], a letter or digit last, at most {limit}",
                _doc_source(full, "endpoint_id"),
            )
        ]
    return []


# --- walking a request against its proto ---------------------------------------------------------

_WKT_OPAQUE = {
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.ListValue",
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
    "google.protobuf.Any",
    "google.protobuf.Empty",
}


def _repeated(f: Any) -> bool:
    from google.protobuf.descriptor import FieldDescriptor as FD

    flag = getattr(f, "is_repeated", None)
    if flag is not None:
        return bool(flag() if callable(flag) else flag)
    return f.label == FD.LABEL_REPEATED


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class _Walk:
    """One request's walk: unknown fields, enum names, oneofs, Required / Output only, lengths, labels,
    key names and their region. Collects every problem rather than stopping at the first."""

    def __init__(self, resource: str, location: str | None, creating: bool, partial: bool = False) -> None:
        self.resource = resource
        self.location = location
        self.creating = creating
        self.partial = partial
        """An update with a field mask: only the masked fields are sent, nested 'Required' does not apply."""
        self.out: list[Violation] = []

    def add(self, path: str, rule: str, source: str, kind: str = "vendor") -> None:
        self.out.append(Violation(self.resource, path, rule, source, kind))

    def message(self, descriptor: Any, value: Any, path: str) -> None:
        full = descriptor.full_name
        if full in _WKT_OPAQUE:
            return
        if not isinstance(value, Mapping):
            self.add(path, f"expected a {descriptor.name} object, got {type(value).__name__}", f"proto {full}")
            return
        by_name = {}
        for f in descriptor.fields:
            by_name[f.name] = f
            by_name[f.json_name] = f
        docs = field_docs(full)
        seen_oneofs: dict[str, str] = {}
        present = set()
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            f = by_name.get(key)
            if f is None:
                known = sorted({f.json_name for f in descriptor.fields})
                self.add(where, f"{descriptor.name} has no field {key!r} (fields: {', '.join(known)})", f"proto {full}")
                continue
            present.add(f.name)
            doc = docs.get(f.name, "")
            if doc.startswith("Output only.") and item not in (None, "", [], {}):
                self.add(where, "is output only: the API ignores or refuses it in a request", _doc_source(full, f.name))
            if f.containing_oneof is not None and item is not None:
                other = seen_oneofs.get(f.containing_oneof.name)
                if other:
                    self.add(
                        where,
                        f"{f.name} and {other} are both set, but they are one of {f.containing_oneof.name}",
                        f"proto {full} oneof {f.containing_oneof.name}",
                    )
                seen_oneofs[f.containing_oneof.name] = f.name
            self.field(full, f, item, where, doc)
        for name, doc in docs.items():
            f = descriptor.fields_by_name.get(name)
            if f is None or name in present or not doc.startswith("Required.") or (self.partial and path):
                continue
            if f.containing_oneof is not None and f.containing_oneof.name in seen_oneofs:
                continue
            where = f"{path}.{f.json_name}" if path else f.json_name
            self.add(where, "is required and missing", _doc_source(full, name))
        if self.creating and full in _CMEK_RESOURCES and "encryption_spec" not in present:
            self.add(
                f"{path}.encryptionSpec" if path else "encryptionSpec",
                f"{descriptor.name} is created without a customer-managed key (the kit promises CMEK "
                "on every resource that takes one)",
                _doc_source(full, "encryption_spec"),
                kind="kit",
            )

    def field(self, parent: str, f: Any, item: Any, path: str, doc: str) -> None:

        if item is None:
            return
        if f.message_type is not None and f.message_type.GetOptions().map_entry:  # a map<k, v>
            if not isinstance(item, Mapping):
                self.add(path, f"expected a map, got {type(item).__name__}", f"proto {parent}.{f.name}")
                return
            value_field = f.message_type.fields_by_name["value"]
            for k, v in item.items():
                self.scalar_or_message(parent, value_field, v, f"{path}[{k}]", "")
            if f.name == "labels":
                self.labels(parent, f.name, item, path, doc)
            return
        if _repeated(f):
            if not isinstance(item, list | tuple):
                self.add(path, f"expected a list, got {type(item).__name__}", f"proto {parent}.{f.name}")
                return
            for i, element in enumerate(item):
                self.scalar_or_message(parent, f, element, f"{path}[{i}]", doc)
            return
        self.scalar_or_message(parent, f, item, path, doc)

    def scalar_or_message(self, parent: str, f: Any, item: Any, path: str, doc: str) -> None:
        from google.protobuf.descriptor import FieldDescriptor as FD

        if f.message_type is not None:
            if f.message_type.full_name == "google.cloud.aiplatform.v1.EncryptionSpec":
                self.kms_key(item, path)
            self.message(f.message_type, item, path)
            return
        if f.type == FD.TYPE_ENUM:
            names = [v.name for v in f.enum_type.values]
            numbers = [v.number for v in f.enum_type.values]
            if not (item in names or (isinstance(item, int) and not isinstance(item, bool) and item in numbers)):
                self.add(
                    path,
                    f"{item!r} is not a value of {f.enum_type.name} ({', '.join(names)})",
                    f"proto {f.enum_type.full_name}",
                )
            return
        if f.type == FD.TYPE_STRING:
            if not isinstance(item, str):
                self.add(path, f"expected a string, got {item!r}", f"proto {parent}.{f.name}")
                return
            if f.name == "display_name":
                limit = re.search(r"up to (\d+) characters", doc)
                if limit and len(item) > int(limit.group(1)):
                    self.add(
                        path,
                        f"display name is {len(item)} characters, the limit is {limit.group(1)}",
                        _doc_source(parent, f.name),
                    )
            return
        if f.type == FD.TYPE_BOOL:
            if not isinstance(item, bool):
                self.add(path, f"expected true or false, got {item!r}", f"proto {parent}.{f.name}")
            return
        integral = f.type in (
            FD.TYPE_INT32,
            FD.TYPE_INT64,
            FD.TYPE_UINT32,
            FD.TYPE_UINT64,
            FD.TYPE_SINT32,
            FD.TYPE_SINT64,
            FD.TYPE_FIXED32,
            FD.TYPE_FIXED64,
            FD.TYPE_SFIXED32,
            FD.TYPE_SFIXED64,
        )
        if integral:
            ok = (isinstance(item, int) and not isinstance(item, bool)) or (
                isinstance(item, float) and item.is_integer()
            )
            ok = ok or (isinstance(item, str) and re.fullmatch(r"-?[0-9]+", item) is not None)
            if not ok:
                self.add(path, f"expected an integer, got {item!r}", f"proto {parent}.{f.name}")
            return
        if f.type in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT) and (
            isinstance(item, bool) or not isinstance(item, int | float | str)
        ):
            self.add(path, f"expected a number, got {item!r}", f"proto {parent}.{f.name}")

    def labels(self, parent: str, name: str, labels: Mapping[str, Any], path: str, doc: str) -> None:
        source = _doc_source(parent, name)
        limit_match = re.search(r"no longer than (\d+)\s+characters", doc)
        limit = int(limit_match.group(1)) if limit_match else 63
        count = re.search(r"No more than (\d+) user labels", doc)
        if count and len(labels) > int(count.group(1)):
            self.add(path, f"{len(labels)} labels, at most {count.group(1)}", source)
        allowed = re.compile(r"^[\w-]*$")
        for key, value in labels.items():
            for what, text in (("key", str(key)), ("value", str(value))):
                if len(text) > limit:
                    self.add(f"{path}[{key}]", f"label {what} {text!r} is over {limit} characters", source)
                if not allowed.match(text) or any(c.isupper() for c in text):
                    self.add(
                        f"{path}[{key}]",
                        f"label {what} {text!r}: only lowercase letters, digits, '_' and '-'",
                        source,
                    )
            if not key or not str(key)[0].isalpha() or not str(key)[0].islower():
                self.add(f"{path}[{key}]", f"label key {key!r} must start with a lowercase letter", LABELS_DOC)
            if key == PIPELINE_BILLING_LABEL and parent.endswith(".PipelineJob"):
                self.add(f"{path}[{key}]", "reserved label: Vertex AI Pipelines overrides it", source)

    def kms_key(self, item: Any, path: str) -> None:
        if not isinstance(item, Mapping):
            return
        key = item.get("kmsKeyName", item.get("kms_key_name"))
        source = _doc_source("google.cloud.aiplatform.v1.EncryptionSpec", "kms_key_name")
        if not isinstance(key, str):
            return
        match = re.fullmatch(r"projects/[^/]+/locations/([^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+", key)
        if not match:
            self.add(path, f"{key!r} is not projects/*/locations/*/keyRings/*/cryptoKeys/*", source)
        elif self.location and match.group(1) != self.location:
            self.add(path, f"key in {match.group(1)}, resource in {self.location}: it must be the same region", source)


_CMEK_RESOURCES = {
    "google.cloud.aiplatform.v1.Endpoint",
    "google.cloud.aiplatform.v1.Model",
    "google.cloud.aiplatform.v1.PipelineJob",
    "google.cloud.aiplatform.v1.FeatureOnlineStore",
    "google.cloud.aiplatform.v1.MetadataStore",
}
"""Vertex resources the kit creates whose proto takes `encryption_spec`: each must carry the key."""


def _location_of(body: Mapping[str, Any]) -> str | None:
    text = json.dumps(body, default=str)
    match = re.search(r"projects/[^/\"]+/locations/([a-z0-9-]+)", text.replace("\\/", "/"))
    return match.group(1) if match else None


def check_request(message_name: str, body: Mapping[str, Any], resource: str | None = None) -> list[Violation]:
    """A request body (REST JSON names or proto names) against its aiplatform v1 message and the
    rules its proto comments state; then the per-request rules (ids, traffic, metrics, parameters)."""
    from google.protobuf import json_format

    cls = message_class(message_name)
    label = resource or message_name
    creating = cls.pb().DESCRIPTOR.name.startswith(("Create", "Upload"))
    partial = "update_mask" in cls.pb().DESCRIPTOR.fields_by_name
    walk = _Walk(label, _location_of(body), creating, partial)
    walk.message(cls.pb().DESCRIPTOR, body, "")
    out = walk.out
    if not out:  # the walk found nothing: the proto's own parser is the last word on values
        try:
            json_format.ParseDict(dict(body), cls.pb()())
        except json_format.ParseError as error:
            out.append(Violation(label, "", str(error).splitlines()[0], f"proto {cls.pb().DESCRIPTOR.full_name}"))
    rule = _REQUEST_RULES.get(cls.pb().DESCRIPTOR.name)
    if rule is not None:
        out.extend(rule(_Body(body), label))
    return out


def _get(body: Mapping[str, Any], *names: str) -> Any:
    """A field by proto name or JSON name."""
    for name in names:
        for key in (name, _camel(name)):
            if key in body:
                return body[key]
    return None


class _Body(dict):
    """A request body that answers its fields by proto name or JSON name alike."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        super().__init__(body)

    def f(self, name: str) -> Any:
        return _get(self, name)


def _rule_create_endpoint(body: _Body, label: str) -> list[Violation]:
    out = []
    endpoint_id = body.f("endpoint_id")
    if endpoint_id:
        out += check_endpoint_id(endpoint_id, label, "endpointId")
    endpoint = body.f("endpoint") or {}
    logging = _get(endpoint, "predict_request_response_logging_config") or {}
    rate = _get(logging, "sampling_rate")
    full = "google.cloud.aiplatform.v1.PredictRequestResponseLoggingConfig"
    if _get(logging, "enabled") and rate is not None and not 0 < float(rate) <= 1:
        out.append(
            Violation(
                label,
                "endpoint.predictRequestResponseLoggingConfig.samplingRate",
                f"{rate} is outside (0, 1]",
                _doc_source(full, "sampling_rate"),
            )
        )
    dest = _get(_get(logging, "bigquery_destination") or {}, "output_uri")
    if dest and not re.fullmatch(r"bq://[a-z][a-z0-9-]{4,28}[a-z0-9](\.[A-Za-z0-9_]{1,1024}){0,2}", dest):
        out.append(
            Violation(
                label,
                "endpoint.predictRequestResponseLoggingConfig.bigqueryDestination.outputUri",
                f"{dest!r} is not bq://project[.dataset[.table]]",
                _doc_source("google.cloud.aiplatform.v1.BigQueryDestination", "output_uri"),
            )
        )
    if _get(endpoint, "network") and _get(logging, "enabled"):
        out.append(
            Violation(
                label,
                "endpoint.predictRequestResponseLoggingConfig.enabled",
                "request-response logging is not available on private (VPC peering) endpoints; it is on public, "
                "dedicated public and Private Service Connect endpoints",
                ENDPOINT_TYPES_DOC,
            )
        )
    if _get(endpoint, "network") and _get(endpoint, "private_service_connect_config"):
        out.append(
            Violation(
                label,
                "endpoint.network",
                "network and privateServiceConnectConfig are mutually exclusive",
                _doc_source("google.cloud.aiplatform.v1.Endpoint", "network"),
            )
        )
    return out


def _rule_upload_model(body: _Body, label: str) -> list[Violation]:
    out = []
    model_id = body.f("model_id")
    if model_id:
        out += _check_id(model_id, "UploadModelRequest", "model_id", label, "modelId")
    if model_id and body.f("parent_model"):
        out.append(
            Violation(
                label,
                "parentModel",
                "modelId and parentModel are both set: a new model or a new version, not both",
                _doc_source("google.cloud.aiplatform.v1.UploadModelRequest", "parent_model"),
            )
        )
    image = _get(_get(body.f("model") or {}, "container_spec") or {}, "image_uri")
    if image:
        out += check_serving_image(image, label, "model.containerSpec.imageUri")
    return out


def _supported_metrics() -> list[str]:
    doc = field_docs("google.cloud.aiplatform.v1.AutoscalingMetricSpec").get("metric_name", "")
    return re.findall(r"``(aiplatform\.googleapis\.com/[^`]+)``", doc)


def _dedicated(resources: Mapping[str, Any], label: str, path: str) -> list[Violation]:
    out = []
    full = "google.cloud.aiplatform.v1.DedicatedResources"
    low, high = _get(resources, "min_replica_count"), _get(resources, "max_replica_count")
    if low is not None and float(low) < 1:
        out.append(
            Violation(label, f"{path}.minReplicaCount", f"{low} is under 1", _doc_source(full, "min_replica_count"))
        )
    if low is not None and high is not None and float(high) < float(low):
        out.append(
            Violation(
                label,
                f"{path}.maxReplicaCount",
                f"{high} is under minReplicaCount {low}",
                _doc_source(full, "max_replica_count"),
            )
        )
    metrics = _supported_metrics()
    spec_source = _doc_source("google.cloud.aiplatform.v1.AutoscalingMetricSpec", "metric_name")
    names = []
    for i, spec in enumerate(_get(resources, "autoscaling_metric_specs") or []):
        name, target = _get(spec, "metric_name"), _get(spec, "target")
        names.append(name)
        if name not in metrics:
            out.append(
                Violation(
                    label,
                    f"{path}.autoscalingMetricSpecs[{i}].metricName",
                    f"{name!r} is not a supported metric ({', '.join(metrics)})",
                    spec_source,
                )
            )
        if target is not None and not 1 <= float(target) <= 100:
            out.append(
                Violation(
                    label,
                    f"{path}.autoscalingMetricSpecs[{i}].target",
                    f"{target} is outside 1-100 %",
                    _doc_source("google.cloud.aiplatform.v1.AutoscalingMetricSpec", "target"),
                )
            )
    if len(names) != len(set(names)):
        out.append(
            Violation(
                label,
                f"{path}.autoscalingMetricSpecs",
                "at most one entry per metric",
                _doc_source(full, "autoscaling_metric_specs"),
            )
        )
    machine = _get(resources, "machine_spec") or {}
    if _get(machine, "accelerator_type") and not _get(machine, "accelerator_count"):
        out.append(
            Violation(
                label,
                f"{path}.machineSpec.acceleratorCount",
                "an accelerator type without a count",
                _doc_source("google.cloud.aiplatform.v1.MachineSpec", "accelerator_count"),
            )
        )
    return out


def _traffic(split: Mapping[str, Any] | None, label: str, path: str, source: str) -> list[Violation]:
    if not split:
        return []
    total = sum(float(v) for v in split.values())
    if total != 100:
        return [Violation(label, path, f"traffic percentages add up to {total:g}, not 100", source)]
    return []


def _rule_update_endpoint(body: _Body, label: str) -> list[Violation]:
    """The stepped rollout's UpdateEndpoint: the new split adds up to 100 (proto Endpoint.traffic_split)."""
    return _traffic(
        _get(body.f("endpoint") or {}, "traffic_split"),
        label,
        "endpoint.trafficSplit",
        _doc_source("google.cloud.aiplatform.v1.Endpoint", "traffic_split"),
    )


def _rule_deploy_model(body: _Body, label: str) -> list[Violation]:
    deployed = body.f("deployed_model") or {}
    out = _dedicated(_get(deployed, "dedicated_resources") or {}, label, "deployedModel.dedicatedResources")
    out += _traffic(
        body.f("traffic_split"),
        label,
        "trafficSplit",
        _doc_source("google.cloud.aiplatform.v1.DeployModelRequest", "traffic_split"),
    )
    model = _get(deployed, "model")
    if model and not re.fullmatch(r"projects/[^/]+/locations/[^/]+/models/[^/@]+(@[A-Za-z0-9-]+)?", model):
        out.append(
            Violation(
                label,
                "deployedModel.model",
                f"{model!r} is not projects/*/locations/*/models/*[@version]",
                _doc_source("google.cloud.aiplatform.v1.DeployedModel", "model"),
            )
        )
    endpoint = body.f("endpoint")
    if endpoint and not re.fullmatch(r"projects/[^/]+/locations/[^/]+/endpoints/[^/]+", endpoint):
        out.append(
            Violation(
                label,
                "endpoint",
                f"{endpoint!r} is not projects/*/locations/*/endpoints/*",
                _doc_source("google.cloud.aiplatform.v1.DeployModelRequest", "endpoint"),
            )
        )
    return out


def _rule_mutate(body: _Body, label: str) -> list[Violation]:
    from google.protobuf import field_mask_pb2

    deployed = body.f("deployed_model") or {}
    out = _dedicated(_get(deployed, "dedicated_resources") or {}, label, "deployedModel.dedicatedResources")
    mask = body.f("update_mask")
    paths = mask.split(",") if isinstance(mask, str) else list(_get(mask or {}, "paths") or [])
    doc = field_docs("google.cloud.aiplatform.v1.MutateDeployedModelRequest").get("deployed_model", "")
    mutable = set(re.findall(r"``(\w+)``", doc)) | {"autoscaling_metric_specs"}
    descriptor = _v1().DeployedModel.pb().DESCRIPTOR
    source = _doc_source("google.cloud.aiplatform.v1.MutateDeployedModelRequest", "deployed_model")
    for path in paths:
        snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), path)
        if not field_mask_pb2.FieldMask(paths=[snake]).IsValidForDescriptor(descriptor):
            out.append(Violation(label, "updateMask", f"{path!r} is not a field path of DeployedModel", source))
        elif snake.split(".")[-1] not in mutable:
            out.append(
                Violation(
                    label, "updateMask", f"{path!r} cannot be mutated (only {', '.join(sorted(mutable))})", source
                )
            )
    return out


def _rule_merge_aliases(body: _Body, label: str) -> list[Violation]:
    full = "google.cloud.aiplatform.v1.MergeVersionAliasesRequest"
    doc = field_docs(full).get("version_aliases", "")
    match = re.search(r"match ``([^`]+)``", doc)
    if not match:
        raise LookupError(f"the proto comment of MergeVersionAliasesRequest.version_aliases changed: {doc!r}")
    pattern = re.compile(f"^{match.group(1)}$")
    out = []
    for i, alias in enumerate(body.f("version_aliases") or []):
        bare = alias[1:] if alias.startswith("-") else alias
        if not pattern.match(bare) or len(bare) > 128:
            out.append(
                Violation(
                    label,
                    f"versionAliases[{i}]",
                    f"alias {alias!r} does not match {pattern.pattern}",
                    _doc_source(full, "version_aliases"),
                )
            )
    return out


def _rule_create_pipeline_job(body: _Body, label: str) -> list[Violation]:
    out = []
    job_id = body.f("pipeline_job_id")
    if job_id:
        out += _check_id(
            job_id, "CreatePipelineJobRequest", "pipeline_job_id", label, "pipelineJobId", strictly_less=True
        )
    out += check_pipeline_job(body.f("pipeline_job") or {}, label, "pipelineJob")
    return out


def _rule_create_schedule(body: _Body, label: str) -> list[Violation]:
    schedule = body.f("schedule") or {}
    request = _get(schedule, "create_pipeline_job_request")
    if not request:
        return []
    return check_pipeline_job(
        _get(request, "pipeline_job") or {}, label, "schedule.createPipelineJobRequest.pipelineJob"
    )


def _rule_feature_group(body: _Body, label: str) -> list[Violation]:
    return _check_id(
        body.f("feature_group_id") or "", "CreateFeatureGroupRequest", "feature_group_id", label, "featureGroupId"
    )


def _rule_feature(body: _Body, label: str) -> list[Violation]:
    return _check_id(body.f("feature_id") or "", "CreateFeatureRequest", "feature_id", label, "featureId")


def _rule_online_store(body: _Body, label: str) -> list[Violation]:
    out = _check_id(
        body.f("feature_online_store_id") or "",
        "CreateFeatureOnlineStoreRequest",
        "feature_online_store_id",
        label,
        "featureOnlineStoreId",
    )
    scaling = _get(_get(body.f("feature_online_store") or {}, "bigtable") or {}, "auto_scaling") or {}
    full = "google.cloud.aiplatform.v1.FeatureOnlineStore.Bigtable.AutoScaling"
    path = "featureOnlineStore.bigtable.autoScaling"
    low, high = _get(scaling, "min_node_count"), _get(scaling, "max_node_count")
    target = _get(scaling, "cpu_utilization_target")
    if low is not None and float(low) < 1:
        out.append(Violation(label, f"{path}.minNodeCount", f"{low} is under 1", _doc_source(full, "min_node_count")))
    if low is not None and high is not None and not float(low) <= float(high) <= 10 * float(low):
        out.append(
            Violation(
                label,
                f"{path}.maxNodeCount",
                f"{high} is not between minNodeCount {low} and 10 times it",
                _doc_source(full, "max_node_count"),
            )
        )
    if target is not None and not 10 <= float(target) <= 80:
        out.append(
            Violation(
                label,
                f"{path}.cpuUtilizationTarget",
                f"{target} is outside 10-80 %",
                _doc_source(full, "cpu_utilization_target"),
            )
        )
    return out


def _rule_feature_view(body: _Body, label: str) -> list[Violation]:
    return _check_id(
        body.f("feature_view_id") or "", "CreateFeatureViewRequest", "feature_view_id", label, "featureViewId"
    )


_REQUEST_RULES = {
    "CreateEndpointRequest": _rule_create_endpoint,
    "UploadModelRequest": _rule_upload_model,
    "DeployModelRequest": _rule_deploy_model,
    "UpdateEndpointRequest": _rule_update_endpoint,
    "MutateDeployedModelRequest": _rule_mutate,
    "MergeVersionAliasesRequest": _rule_merge_aliases,
    "CreatePipelineJobRequest": _rule_create_pipeline_job,
    "CreateScheduleRequest": _rule_create_schedule,
    "CreateFeatureGroupRequest": _rule_feature_group,
    "CreateFeatureRequest": _rule_feature,
    "CreateFeatureOnlineStoreRequest": _rule_online_store,
    "CreateFeatureViewRequest": _rule_feature_view,
}


# --- pipeline jobs: the compiled spec and its runtime parameters ---------------------------------


def check_pipeline_job(job: Mapping[str, Any], label: str, path: str) -> list[Violation]:
    """PipelineJob.pipeline_spec against KFP's PipelineSpec proto; runtime parameters against the
    spec's root inputs, as the aiplatform SDK's PipelineRuntimeConfigBuilder checks them."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = _get(job, "pipeline_spec")
    if isinstance(spec, str):
        spec = json.loads(spec)
    if not isinstance(spec, Mapping):
        return (
            []
            if _get(job, "template_uri")
            else [
                Violation(
                    label,
                    f"{path}.pipelineSpec",
                    "no pipeline spec and no template uri",
                    _doc_source("google.cloud.aiplatform.v1.PipelineJob", "pipeline_spec"),
                )
            ]
        )
    out = []
    try:
        json_format.ParseDict(dict(spec), pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as error:
        out.append(
            Violation(
                label,
                f"{path}.pipelineSpec",
                str(error).splitlines()[0],
                "kfp-pipeline-spec proto ml_pipelines.PipelineSpec",
            )
        )
    runtime = _get(job, "runtime_config") or {}
    values = dict(_get(runtime, "parameter_values") or {})
    declared = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    # The aiplatform SDK refuses these before sending (PipelineRuntimeConfigBuilder._get_vertex_value);
    # the rule is restated here because importing google.cloud.aiplatform costs ~3 s per plan, and
    # tests/gcp/test_vendor_rules.py holds this check to the SDK's own verdict.
    for name in values:
        if name not in declared:
            out.append(
                Violation(
                    label,
                    f"{path}.runtimeConfig.parameterValues[{name}]",
                    f"The pipeline parameter {name} is not found in the pipeline job input definitions.",
                    PIPELINE_PARAMS_SDK,
                )
            )
    kfp_types: dict[str, type | tuple[type, ...]] = {
        "STRING": str,
        "NUMBER_INTEGER": int,
        "NUMBER_DOUBLE": (int, float),
        "BOOLEAN": bool,
    }
    for name, definition in declared.items():
        wanted = definition.get("parameterType")
        if name not in values:
            if not definition.get("isOptional") and "defaultValue" not in definition:
                out.append(
                    Violation(
                        label,
                        f"{path}.runtimeConfig.parameterValues",
                        f"required pipeline parameter {name!r} (no default) is not given",
                        "kfp-pipeline-spec proto ComponentInputsSpec.ParameterSpec.is_optional / default_value",
                    )
                )
            continue
        value = values[name]
        python_type = kfp_types.get(wanted)
        if python_type and (not isinstance(value, python_type) or (wanted != "BOOLEAN" and isinstance(value, bool))):
            out.append(
                Violation(
                    label,
                    f"{path}.runtimeConfig.parameterValues[{name}]",
                    f"{value!r} is not a {wanted} as the pipeline declares it",
                    "kfp-pipeline-spec proto ParameterType",
                )
            )
    gcs = _get(runtime, "gcs_output_directory")
    if gcs is not None and not str(gcs).startswith("gs://"):
        out.append(
            Violation(
                label,
                f"{path}.runtimeConfig.gcsOutputDirectory",
                f"{gcs!r} is not a gs:// path",
                _doc_source("google.cloud.aiplatform.v1.PipelineJob.RuntimeConfig", "gcs_output_directory"),
            )
        )
    return out


# --- REST calls, as recorded by a fake server ----------------------------------------------------

_REST_SERVICES = (
    "model_service",
    "endpoint_service",
    "pipeline_service",
    "schedule_service",
    "feature_registry_service",
    "feature_online_store_admin_service",
)


@functools.cache
def _rest_routes() -> list[tuple[str, re.Pattern[str], list[str], str, str]]:
    """(method, path regex, path fields, body field, request message) from the clients' REST routing."""
    routes = []
    for service in _REST_SERVICES:
        module = importlib.import_module(f"google.cloud.aiplatform_v1.services.{service}.transports.rest_base")
        base = next(v for k, v in vars(module).items() if k.startswith("_Base") and k.endswith("RestTransport"))
        for name, inner in vars(base).items():
            if not (name.startswith("_Base") and hasattr(inner, "_get_http_options")):
                continue
            message = f"{name[len('_Base') :]}Request"
            if f"google.cloud.aiplatform.v1.{message}" not in _proto_classes():
                continue
            for option in inner._get_http_options():
                fields: list[str] = []

                def group(match: re.Match[str], fields: list[str] = fields) -> str:
                    fields.append(match.group(1))
                    template = match.group(2) or "*"
                    regex = re.escape(template).replace(r"\*\*", ".+").replace(r"\*", "[^/]+")
                    return f"({regex})"

                pattern = re.sub(r"\{([\w.]+)(?:=([^}]+))?\}", group, option["uri"])
                routes.append(
                    (option["method"].upper(), re.compile(f"^{pattern}$"), fields, option.get("body", ""), message)
                )
    return routes


def rest_request(method: str, path: str, body: Mapping[str, Any] | None = None, query: str = "") -> tuple[str, dict]:
    """The request message name and body a REST call carries (path fields, query fields, body)."""
    path = urlsplit(path).path if "://" in path else path
    for verb, pattern, fields, body_field, message in _rest_routes():
        match = pattern.match(path) if verb == method.upper() else None
        if not match:
            continue
        request: dict[str, Any] = {}
        for field, value in zip(fields, match.groups(), strict=True):
            *parents, last = field.split(".")
            target = request
            for p in parents:
                target = target.setdefault(p, {})
            target[last] = value
        if body_field == "*":
            request.update(body or {})
        elif body_field:
            merged = dict(body or {})
            merged.update(request.get(body_field, {}))
            request[body_field] = merged
        for key, values in parse_qs(query).items():
            if not key.startswith("$"):
                request[key] = values[0] if len(values) == 1 else values
        return message, request
    raise LookupError(f"no aiplatform v1 REST route for {method} {path}")


def check_rest_call(
    method: str, path: str, body: Mapping[str, Any] | None = None, query: str = "", resource: str | None = None
) -> list[Violation]:
    message, request = rest_request(method, path, body, query)
    return check_request(message, request, resource or f"{method} {path}")


# --- prebuilt serving containers and the training framework --------------------------------------


@functools.cache
def _prediction_constants() -> Any:
    """google/cloud/aiplatform/constants/prediction.py, loaded alone (the package __init__ takes ~3 s)."""
    spec = importlib.util.find_spec("google.cloud")
    for root in (spec.submodule_search_locations if spec else None) or []:
        path = Path(root) / "aiplatform" / "constants" / "prediction.py"
        if path.is_file():
            loader = importlib.util.spec_from_file_location("_aiplatform_prediction_constants", path)
            assert loader is not None and loader.loader is not None  # a .py file has both
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
            return module
    raise ModuleNotFoundError("google-cloud-aiplatform's constants/prediction.py")


def prebuilt_serving_containers() -> dict[str, tuple[str, str, str]]:
    """Every prebuilt prediction container the SDK knows: uri -> (framework, accelerator, version)."""
    constants = _prediction_constants()
    table = {}
    for uri in constants.SERVING_CONTAINER_URIS:
        match = constants.CONTAINER_URI_PATTERN.match(uri)
        if match:
            table[uri] = (match["framework"], match["accelerator"], match["version"].replace("-", "."))
    return table


SERVING_TABLE_SOURCE = "google/cloud/aiplatform/constants/prediction.py SERVING_CONTAINER_URIS"


_DIGEST_RE = re.compile(r"^(?P<repo>[^@:]+(?::\d+)?/[^@:]+)@sha256:[0-9a-f]{64}$")


def prebuilt_entry(image: str) -> tuple[str, str, str] | None:
    """(framework, accelerator, version) of a prebuilt prediction image, named by its tag or by a
    digest of its repository (the kit resolves the documented `:latest` tag to a digest)."""
    table = prebuilt_serving_containers()
    match = _DIGEST_RE.match(image)
    return table.get(f"{match['repo']}:latest" if match else image)


def check_serving_image(image: str, resource: str, path: str) -> list[Violation]:
    if prebuilt_entry(image) is None:
        return [
            Violation(
                resource,
                path,
                f"{image!r} is not one of Vertex AI's prebuilt prediction containers (by tag or digest)",
                f"{SERVING_TABLE_SOURCE} (google-cloud-aiplatform {_aiplatform_version()})",
            )
        ]
    return []


IMAGE_PIN_RULE = (
    "the kit's promise (issue 9 item 12): every image is Google-hosted (Artifact Registry *-docker.pkg.dev or "
    "Container Registry gcr.io) and pinned by digest or by a version tag, never :latest"
)
_GOOGLE_HOSTS = re.compile(r"^([a-z0-9-]+-docker\.pkg\.dev|([a-z]+\.)?gcr\.io)/")


def check_image_pinned(image: str, resource: str, path: str) -> list[Violation]:
    """An image reference the kit runs: Google-hosted, and pinned by digest or a version tag."""
    problems = []
    if not _GOOGLE_HOSTS.match(image):
        problems.append("is not hosted by Google")
    if not _DIGEST_RE.match(image):
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if tag in ("", "latest"):
            problems.append("is not pinned (no digest, and a :latest or no tag)")
    return [Violation(resource, path, f"image {image!r} {p}", IMAGE_PIN_RULE, kind="kit") for p in problems]


def check_training_matches_serving(image: str, requirements: str, resource: str, path: str) -> list[Violation]:
    """The framework version a served model is loaded with must be the one it is trained with: every
    version the training requirement admits must be the serving container's `major.minor`."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    entry = prebuilt_entry(image)
    if entry is None:
        return check_serving_image(image, resource, path)
    framework, _accelerator, version = entry
    package = FRAMEWORK_PACKAGES.get(framework)
    if package is None:
        return []
    wanted = None
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            if req.name.lower().replace("_", "-") == package:
                wanted = req
    source = f"{SERVING_TABLE_SOURCE}: {image} serves {package} {version}"
    if wanted is None:
        return [
            Violation(resource, path, f"training does not name {package}, the serving container's framework", source)
        ]
    major, minor = (int(x) for x in version.split(".")[:2])
    inside = [Version(f"{major}.{minor}.{p}") for p in range(10)]
    outside = [Version(f"{major}.{minor + 1}.0"), Version(f"{major + 1}.0.0")]
    if minor:
        outside.append(Version(f"{major}.{minor - 1}.99"))
    admitted_outside = [str(v) for v in outside if wanted.specifier.contains(v, prereleases=False)]
    admitted_inside = [v for v in inside if wanted.specifier.contains(v, prereleases=False)]
    if admitted_outside or not admitted_inside:
        return [
            Violation(
                resource,
                path,
                f"training installs {wanted} but the model is served by {package} "
                f"{version}: pin {package}=={version}.* (it admits {', '.join(admitted_outside) or 'no ' + version})",
                source,
            )
        ]
    return []


# --- pulumi_gcp input classes --------------------------------------------------------------------


def _args_class(type_token: str) -> Any:
    """'gcp:vertex/aiEndpoint:AiEndpoint' -> pulumi_gcp.vertex.AiEndpointArgs."""
    package, module_path, class_name = type_token.split(":")
    if package != "gcp":
        return None
    module = importlib.import_module(f"pulumi_gcp.{module_path.split('/')[0]}")
    return getattr(module, f"{class_name}Args", None)


def _input_type_of(tp: Any) -> tuple[str, Any]:
    """What an Args annotation holds: ('obj', ArgsClass) / ('list', inner) / ('map', inner) / ('scalar', None)."""
    import pulumi._types as pt

    if isinstance(tp, type) and pt.is_input_type(tp):
        return "obj", tp
    origin = typing.get_origin(tp)
    if origin in (list, Sequence, typing.Sequence, tuple) or (
        isinstance(origin, type) and issubclass(origin, Sequence) and origin is not str
    ):
        args = typing.get_args(tp)
        return "list", _input_type_of(args[0]) if args else ("scalar", None)
    if origin in (dict, Mapping, typing.Mapping) or (isinstance(origin, type) and issubclass(origin, Mapping)):
        args = typing.get_args(tp)
        return "map", _input_type_of(args[1]) if len(args) > 1 else ("scalar", None)
    if origin is typing.Union:
        for arg in typing.get_args(tp):
            kind, inner = _input_type_of(arg)
            if kind != "scalar":
                return kind, inner
    return "scalar", None


@functools.cache
def _pulumi_gcp_version() -> str:
    from importlib.metadata import version

    return version("pulumi_gcp")


def _check_args(cls: Any, value: Any, resource: str, path: str) -> list[Violation]:
    import pulumi._types as pt

    source = f"pulumi_gcp {_pulumi_gcp_version()} {cls.__module__}.{cls.__name__}"
    if not isinstance(value, Mapping):
        return [Violation(resource, path, f"expected an object of {cls.__name__}, got {type(value).__name__}", source)]
    types = pt.input_type_types(cls)
    names = pt.input_type_py_to_pulumi_names(cls)
    required = [
        names[p.name]
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name in names and p.default is inspect.Parameter.empty
    ]
    out = []
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key not in types:
            out.append(Violation(resource, where, f"{cls.__name__} has no input {key!r}", source))
            continue
        if item is None:
            continue
        kind, inner = _input_type_of(types[key])
        out += _check_arg_value(kind, inner, item, resource, where, source)
    for key in required:
        if value.get(key) is None:
            out.append(Violation(resource, f"{path}.{key}" if path else key, "required input is missing", source))
    return out


def _check_arg_value(kind: str, inner: Any, item: Any, resource: str, where: str, source: str) -> list[Violation]:
    if kind == "obj":
        return _check_args(inner, item, resource, where)
    if kind == "list":
        if not isinstance(item, list):
            return [Violation(resource, where, f"expected a list, got {type(item).__name__}", source)]
        out = []
        for i, element in enumerate(item):
            out += _check_arg_value(inner[0], inner[1], element, resource, f"{where}[{i}]", source)
        return out
    if kind == "map":
        if not isinstance(item, Mapping):
            return [Violation(resource, where, f"expected a map, got {type(item).__name__}", source)]
        out = []
        for k, element in item.items():
            out += _check_arg_value(inner[0], inner[1], element, resource, f"{where}[{k}]", source)
        return out
    return []


def check_pulumi_inputs(resource: Mapping[str, Any]) -> list[Violation]:
    """Every input of a pulumi_gcp resource is an argument of its `...Args` class (recursively)."""
    cls = _args_class(resource["type"])
    if cls is None:
        return []
    return _check_args(cls, resource.get("inputs", {}), resource["name"], "")


# --- plan resources -> Vertex requests -----------------------------------------------------------

ENVELOPE = ("project", "region", "location", "name", "deletionPolicy", "forceDestroy", "desiredState")
# Pulumi input name -> proto JSON name, where pulumi-gcp (Terraform) spells a field differently.
RENAMES = {
    "gcp:vertex/aiEndpoint:AiEndpoint": {
        "privateServiceConnectConfig.projectAllowlists": "privateServiceConnectConfig.projectAllowlist"
    },
}


def _rename(inputs: dict[str, Any], renames: Mapping[str, str]) -> dict[str, Any]:
    out = json.loads(json.dumps(inputs))
    for old, new in renames.items():
        *parents, leaf = old.split(".")
        target = out
        for p in parents:
            target = target.get(p) if isinstance(target, dict) else None
        if isinstance(target, dict) and leaf in target:
            target[new.split(".")[-1]] = target.pop(leaf)
    return out


def _body(resource: Mapping[str, Any], drop: Iterable[str] = ()) -> dict[str, Any]:
    inputs = _rename(dict(resource.get("inputs", {})), RENAMES.get(resource["type"], {}))
    return {k: v for k, v in inputs.items() if k not in (*ENVELOPE, *drop)}


def _parent(inputs: Mapping[str, Any]) -> str:
    location = inputs.get("location") or inputs.get("region")
    return f"projects/{inputs.get('project')}/locations/{location}"


def vertex_requests(resource: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The Vertex AI request(s) the provider sends for a plan resource: [(message name, body)]."""
    typ, inputs = resource["type"], resource.get("inputs", {})
    parent = _parent(inputs)
    if typ == "gcp:vertex/aiEndpoint:AiEndpoint":
        return [
            ("CreateEndpointRequest", {"parent": parent, "endpointId": inputs.get("name"), "endpoint": _body(resource)})
        ]
    if typ == "gcp:vertex/aiFeatureGroup:AiFeatureGroup":
        return [
            (
                "CreateFeatureGroupRequest",
                {"parent": parent, "featureGroupId": inputs.get("name"), "featureGroup": _body(resource)},
            )
        ]
    if typ == "gcp:vertex/aiFeatureGroupFeature:AiFeatureGroupFeature":
        return [
            (
                "CreateFeatureRequest",
                {
                    "parent": f"{parent}/featureGroups/{inputs.get('featureGroup')}",
                    "featureId": inputs.get("name"),
                    "feature": _body(resource, ("featureGroup",)),
                },
            )
        ]
    if typ == "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore":
        return [
            (
                "CreateFeatureOnlineStoreRequest",
                {"parent": parent, "featureOnlineStoreId": inputs.get("name"), "featureOnlineStore": _body(resource)},
            )
        ]
    if typ == "gcp:vertex/aiFeatureOnlineStoreFeatureview:AiFeatureOnlineStoreFeatureview":
        return [
            (
                "CreateFeatureViewRequest",
                {
                    "parent": f"{parent}/featureOnlineStores/{inputs.get('featureOnlineStore')}",
                    "featureViewId": inputs.get("name"),
                    "featureView": _body(resource, ("featureOnlineStore",)),
                },
            )
        ]
    if typ == "gcp:colab/schedule:Schedule":
        schedule = _body(resource)
        request = schedule.get("createPipelineJobRequest")
        if isinstance(request, dict) and isinstance(request.get("pipelineJob", {}).get("pipelineSpec"), str):
            request["pipelineJob"]["pipelineSpec"] = json.loads(request["pipelineJob"]["pipelineSpec"])
        return [("CreateScheduleRequest", {"parent": parent, "schedule": schedule})]
    if typ == DYNAMIC and "machine_type" in inputs:
        return [("DeployModelRequest", deploy_model_request(inputs))]
    if typ == DYNAMIC and "mode" in inputs:
        return approval_requests(inputs)
    if typ == DYNAMIC and "kms_key" in inputs:  # dynamic.MetadataStore: CreateMetadataStore when absent
        store = {"encryptionSpec": {"kmsKeyName": inputs.get("kms_key")}}
        return [
            ("CreateMetadataStoreRequest", {"parent": parent, "metadataStoreId": "default", "metadataStore": store})
        ]
    return []


def _int(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def deploy_model_request(props: Mapping[str, Any]) -> dict[str, Any]:
    """DeployModelRequest for the `DeployedModel` dynamic resource's props (providers/gcp/dynamic.py)."""
    machine: dict[str, Any] = {"machineType": props.get("machine_type")}
    if props.get("accelerator_type"):
        machine["acceleratorType"] = props["accelerator_type"]
        machine["acceleratorCount"] = _int(props.get("accelerator_count"))
    model = f"projects/{props.get('project')}/locations/{props.get('region')}/models/{props.get('model_id')}"
    from providers.gcp.dynamic import deployed_model_id

    deployed: dict[str, Any] = {
        "id": deployed_model_id(dict(props)),
        "model": f"{model}@{props.get('version')}",
        "displayName": props.get("display_name"),
        "dedicatedResources": {
            "machineSpec": machine,
            "minReplicaCount": _int(props.get("min_replicas")),
            "maxReplicaCount": _int(props.get("max_replicas")),
            "autoscalingMetricSpecs": [
                {
                    "metricName": "aiplatform.googleapis.com/prediction/online/cpu/utilization",
                    "target": _int(props.get("cpu_target")),
                }
            ],
        },
    }
    if props.get("service_account"):
        deployed["serviceAccount"] = props["service_account"]
    return {"endpoint": props.get("endpoint"), "deployedModel": deployed, "trafficSplit": {"0": 100}}


def approval_requests(props: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """What `ApprovedVersionCheck` sends, in either mode: it only reads the version."""
    model = f"projects/{props.get('project')}/locations/{props.get('region')}/models/{props.get('model_id')}"
    return [("GetModelRequest", {"name": f"{model}@{props.get('version')}"})]


# --- plan: cross-resource rules ------------------------------------------------------------------


_VIEW_RE = re.compile(
    r"^SELECT \*(?: EXCEPT \(mlops_rank\))?(?:, `(?P<source>\w+)` AS (?P<alias>\w+))? FROM "
    r"(?:\(SELECT \*, ROW_NUMBER\(\) OVER \(PARTITION BY `\w+`, `\w+` ORDER BY `\w+` DESC\) AS mlops_rank FROM )?"
    r"`(?P<table>[\w-]+\.\w+\.\w+)`(?:\) WHERE mlops_rank = 1)?$",
    re.IGNORECASE,
)


def _tables(resources: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """'project.dataset.table' -> {column: type} for every BigQuery table of the plan, and for every
    view of the form the kit writes (`SELECT *[, `col` AS alias] FROM `p.d.t``) over one of them."""
    tables: dict[str, dict[str, str]] = {}
    views: dict[str, re.Match[str]] = {}
    for r in resources:
        if r["type"] != "gcp:bigquery/table:Table":
            continue
        i = r.get("inputs", {})
        key = f"{i.get('project')}.{i.get('datasetId')}.{i.get('tableId')}"
        query = (i.get("view") or {}).get("query")
        if isinstance(query, str):
            match = _VIEW_RE.match(" ".join(query.split()))
            if match:
                views[key] = match
            continue  # another view: its columns are not known offline
        schema = i.get("schema")
        columns = json.loads(schema) if isinstance(schema, str) else (schema or [])
        tables[key] = {c["name"]: c.get("type", "") for c in columns if isinstance(c, dict) and "name" in c}
    for key, match in views.items():
        base = tables.get(match["table"])
        if base is not None:
            tables[key] = {**base, **({match["alias"]: base.get(match["source"], "")} if match["alias"] else {})}
    return tables


def _feature_group_rules(resources: Sequence[Mapping[str, Any]]) -> list[Violation]:
    out = []
    tables = _tables(resources)
    groups = {r["inputs"].get("name"): r for r in resources if r["type"] == "gcp:vertex/aiFeatureGroup:AiFeatureGroup"}
    fg_doc = "google.cloud.aiplatform.v1.FeatureGroup"
    ts_doc = _doc_source("google.cloud.aiplatform.v1.FeatureGroup.BigQuery.TimeSeries", "timestamp_column")
    for name, r in groups.items():
        bq = r["inputs"].get("bigQuery") or {}
        uri = (bq.get("bigQuerySource") or {}).get("inputUri", "")
        table = tables.get(uri.removeprefix("bq://"))
        if table is None:
            continue  # a table declared elsewhere: nothing to hold it against offline
        for column in bq.get("entityIdColumns") or ["entity_id"]:
            if column not in table:
                out.append(
                    Violation(
                        r["name"],
                        "bigQuery.entityIdColumns",
                        f"entity id column {column!r} is not a column of {uri}",
                        _doc_source(fg_doc + ".BigQuery", "entity_id_columns"),
                    )
                )
        ts = (bq.get("timeSeries") or {}).get("timestampColumn") or "feature_timestamp"
        if not bq.get("staticDataSource") and table.get(ts) != "TIMESTAMP":
            out.append(
                Violation(
                    r["name"],
                    "bigQuery.bigQuerySource.inputUri",
                    f"{uri} has no TIMESTAMP column {ts!r} (its columns: {', '.join(table)}): a time-series source is "
                    f"read by that column, so online sync cannot pick the latest row per entity",
                    f"{_doc_source(fg_doc, 'big_query')}; {ts_doc}",
                )
            )
        for f in resources:
            if f["type"] != "gcp:vertex/aiFeatureGroupFeature:AiFeatureGroupFeature":
                continue
            if f["inputs"].get("featureGroup") != name:
                continue
            column = f["inputs"].get("versionColumnName") or f["inputs"].get("name")
            if column not in table:
                out.append(
                    Violation(
                        f["name"],
                        "versionColumnName",
                        f"column {column!r} is not in {uri}",
                        _doc_source("google.cloud.aiplatform.v1.Feature", "version_column_name"),
                    )
                )
    features = {
        (f["inputs"].get("featureGroup"), f["inputs"].get("name"))
        for f in resources
        if f["type"] == "gcp:vertex/aiFeatureGroupFeature:AiFeatureGroupFeature"
    }
    for v in resources:
        if v["type"] != "gcp:vertex/aiFeatureOnlineStoreFeatureview:AiFeatureOnlineStoreFeatureview":
            continue
        for g in (v["inputs"].get("featureRegistrySource") or {}).get("featureGroups") or []:
            for feature in g.get("featureIds") or []:
                if (g.get("featureGroupId"), feature) not in features:
                    out.append(
                        Violation(
                            v["name"],
                            "featureRegistrySource.featureGroups.featureIds",
                            f"feature {feature!r} is not declared in feature group {g.get('featureGroupId')!r}",
                            _doc_source(
                                "google.cloud.aiplatform.v1.FeatureView.FeatureRegistrySource.FeatureGroup",
                                "feature_ids",
                            ),
                        )
                    )
    return out


def _requirements_text(resources: Sequence[Mapping[str, Any]], root: Path) -> tuple[str, str] | None:
    """The requirements.txt the pipeline steps install (a bucket object of the plan): (text, object)."""
    for r in resources:
        i = r.get("inputs", {})
        if r["type"] == "gcp:storage/bucketObject:BucketObject" and str(i.get("name", "")).endswith(
            "/requirements.txt"
        ):
            source = i.get("source") or {}
            path = source.get("path") if isinstance(source, dict) else None
            if path:
                for base in (Path.cwd(), root):
                    if (base / path).is_file():
                        return (base / path).read_text(encoding="utf-8"), r["name"]
            if isinstance(i.get("content"), str):
                return i["content"], r["name"]
    return None


def _pipeline_jobs(resources: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(resource, path, PipelineJob body) for every job the plan will create: schedules and the
    retraining workflow's `http.post` to `pipelineJobs` (its `${spec}` is the compiled template)."""
    import yaml

    jobs = []
    templates = {}
    for r in resources:
        i = r.get("inputs", {})
        if r["type"] == "gcp:storage/bucketObject:BucketObject" and str(i.get("name", "")).endswith("/pipeline.json"):
            try:  # the plan shows object content as a secret: then the schedule's copy of the spec serves
                templates[i["name"]] = json.loads(i["content"])
            except (TypeError, ValueError):
                templates[i["name"]] = None
        if r["type"] == "gcp:colab/schedule:Schedule":
            job = (i.get("createPipelineJobRequest") or {}).get("pipelineJob")
            if isinstance(job, dict):
                job = dict(job)
                if isinstance(job.get("pipelineSpec"), str):
                    job["pipelineSpec"] = json.loads(job["pipelineSpec"])
                jobs.append((r["name"], "createPipelineJobRequest.pipelineJob", job))
    for r in resources:
        i = r.get("inputs", {})
        if r["type"] != "gcp:workflows/workflow:Workflow" or not isinstance(i.get("sourceContents"), str):
            continue
        source = yaml.safe_load(i["sourceContents"])
        template = None
        for step in _workflow_steps(source):
            args = step.get("args") or {}
            if step.get("call") == "googleapis.storage.v1.objects.get":
                from urllib.parse import unquote

                template = templates.get(unquote(str(args.get("object", ""))))
            if step.get("call") == "http.post" and re.search(
                r"aiplatform\.googleapis\.com/v1/.*/pipelineJobs$", str(args.get("url", ""))
            ):
                body = dict(args.get("body") or {})
                # a label valued at run time (the incident) is made a valid value by the workflow's own
                # expression; the replay (tests/gcp/test_retrain_workflow.py) sends it to a fake that checks it
                labels = body.get("labels") or {}
                body["labels"] = {k: v for k, v in labels.items() if not str(v).startswith("${")}
                if body.get("pipelineSpec") == "${spec}":
                    same = [j for _, _, j in jobs if j.get("displayName") == body.get("displayName")]
                    spec = template or (same[0].get("pipelineSpec") if same else None)
                    if spec is None:
                        body.pop("pipelineSpec")  # not known offline: the rest of the body is still checked
                        body["templateUri"] = "unknown-offline"
                    else:
                        body["pipelineSpec"] = spec
                jobs.append((r["name"], "sourceContents http.post pipelineJobs body", body))
    return jobs


def _workflow_steps(source: Any) -> Iterable[dict[str, Any]]:
    """Every step of a workflow, nested blocks (`steps`), `try` bodies and `except` blocks included."""
    if isinstance(source, dict):
        for value in source.values():
            if isinstance(value, dict) and "steps" in value:
                for step in value["steps"]:
                    for body in step.values():
                        if isinstance(body, dict):
                            yield from _step_bodies(body)


def _step_bodies(body: dict[str, Any]) -> Iterable[dict[str, Any]]:
    yield body
    if "steps" in body:  # a nested block of steps
        yield from _workflow_steps({"block": body})
    if isinstance(body.get("try"), dict):
        yield from _step_bodies(body["try"])
    if isinstance(body.get("except"), dict) and "steps" in body["except"]:
        yield from _workflow_steps({"block": body["except"]})


def _serving_rules(resources: Sequence[Mapping[str, Any]], root: Path) -> list[Violation]:
    out = []
    requirements = _requirements_text(resources, root)
    seen = set()
    for name, path, job in _pipeline_jobs(resources):
        values = (job.get("runtimeConfig") or {}).get("parameterValues") or {}
        image = values.get("serving_image")
        if not image or (image, name) in seen:
            continue
        seen.add((image, name))
        where = f"{path}.runtimeConfig.parameterValues.serving_image"
        if requirements is None:
            out += check_serving_image(image, name, where)
        else:
            out += check_training_matches_serving(image, requirements[0], name, where)
        # UploadModelRequest the register step sends with this image (labels and uri are run-time values)
        model_id = values.get("model_id")
        if model_id:
            parent = f"projects/{values.get('project')}/locations/{values.get('location')}"
            upload = {
                "parent": parent,
                "modelId": model_id,
                "model": {"displayName": model_id, "containerSpec": {"imageUri": image}},
            }
            out += [
                v
                for v in check_request("UploadModelRequest", upload, name)
                if "imageUri" not in v.field and v.kind == "vendor"
            ]
    return out


def _psc_rules(resources: Sequence[Mapping[str, Any]]) -> list[Violation]:
    """A forwarding rule to a service attachment (a PSC endpoint): no load-balancing scheme, same region."""
    out = []
    for r in resources:
        if r["type"] != "gcp:compute/forwardingRule:ForwardingRule":
            continue
        i = r.get("inputs", {})
        target = str(i.get("target", ""))
        match = re.fullmatch(r"projects/[^/]+/regions/([^/]+)/serviceAttachments/[^/]+", target)
        if not match:
            continue
        if i.get("loadBalancingScheme", "EXTERNAL") != "":
            out.append(Violation(r["name"], "loadBalancingScheme", 'must be "" for a PSC endpoint', PSC_RULE_DOC))
        if i.get("region") and match.group(1) != i["region"]:
            out.append(
                Violation(
                    r["name"], "target", f"service attachment in {match.group(1)}, rule in {i['region']}", PSC_RULE_DOC
                )
            )
    return out


def _image_rules(resources: Sequence[Mapping[str, Any]]) -> list[Violation]:
    """Every image a pipeline job runs (each executor of its compiled spec) and the image it
    registers models with: pinned and Google-hosted; a training job's steps run on the image its
    model is served with (one runtime: the framework version and Python it is trained with)."""
    out = []
    for name, path, job in _pipeline_jobs(resources):
        pipeline_spec = job.get("pipelineSpec")
        spec = pipeline_spec if isinstance(pipeline_spec, Mapping) else {}
        executors = (spec.get("deploymentSpec") or {}).get("executors") or {}
        serving = ((job.get("runtimeConfig") or {}).get("parameterValues") or {}).get("serving_image")
        if serving:
            out += check_image_pinned(serving, name, f"{path}.runtimeConfig.parameterValues.serving_image")
        for executor, body in sorted(executors.items()):
            image = ((body or {}).get("container") or {}).get("image")
            if not image:
                continue
            where = f"{path}.pipelineSpec.deploymentSpec.executors[{executor}].container.image"
            out += check_image_pinned(image, name, where)
            if serving and image != serving:
                out.append(
                    Violation(
                        name,
                        where,
                        f"step image {image!r} is not the image the model is served with ({serving!r})",
                        "the kit's promise (issue 9 item 1): training uses exactly the serving runtime",
                        kind="kit",
                    )
                )
    return out


def _iam_rules(resources: Sequence[Mapping[str, Any]]) -> list[Violation]:
    out = []
    for r in resources:
        if r["type"] != "gcp:projects/iAMCustomRole:IAMCustomRole":
            continue
        i = r.get("inputs", {})
        if not IAM_ROLE_ID_RE.match(str(i.get("roleId", ""))):
            out.append(
                Violation(r["name"], "roleId", f"{i.get('roleId')!r} is not [a-zA-Z0-9_.]{{3,64}}", IAM_ROLE_DOC)
            )
        if len(str(i.get("title", ""))) > 100:
            out.append(Violation(r["name"], "title", "over 100 characters", IAM_ROLE_DOC))
        if len(str(i.get("description", "")).encode()) > 256:
            out.append(Violation(r["name"], "description", "over 256 characters", IAM_ROLE_DOC))
        if i.get("stage") and i["stage"] not in IAM_ROLE_STAGES:
            out.append(Violation(r["name"], "stage", f"{i['stage']!r} is not a launch stage", IAM_ROLE_DOC))
        for p in i.get("permissions") or []:
            if not IAM_PERMISSION_RE.match(p):
                out.append(Violation(r["name"], "permissions", f"{p!r} is not service.resource.verb", IAM_ROLE_DOC))
    return out


def iam_names(resources: Sequence[Mapping[str, Any]]) -> tuple[set[str], set[str]]:
    """(every permission of every custom role, every predefined role granted) in a plan."""
    permissions: set[str] = set()
    roles: set[str] = set()
    custom_names = set()
    for r in resources:
        i = r.get("inputs", {})
        if r["type"] == "gcp:projects/iAMCustomRole:IAMCustomRole":
            permissions.update(i.get("permissions") or [])
            custom_names.add(f"projects/{i.get('project')}/roles/{i.get('roleId')}")
    for r in resources:
        role = r.get("inputs", {}).get("role")
        if r["type"].startswith("gcp:") and isinstance(role, str) and role not in custom_names:
            roles.add(role)
    return permissions, roles


def check_iam_catalogue(
    resources: Sequence[Mapping[str, Any]], permissions: Iterable[str], roles: Iterable[str], source: str
) -> list[Violation]:
    """Every custom-role permission and predefined role of a plan against a catalogue (the caller's list,
    with its documented source)."""
    known_permissions, known_roles = set(permissions), set(roles)
    used_permissions, used_roles = iam_names(resources)
    out = [
        Violation("iam", "permissions", f"{p!r} is not a known IAM permission", source)
        for p in sorted(used_permissions - known_permissions)
    ]
    out += [
        Violation("iam", "role", f"{r!r} is not a known predefined role", source)
        for r in sorted(used_roles - known_roles)
    ]
    return out


def _custom(resources: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in resources if r.get("custom", True)]


def check_plan_inputs(resources: Sequence[Mapping[str, Any]]) -> list[Violation]:
    """pulumi_gcp: every input is an argument of the resource's `...Args` class."""
    return _unique([v for r in _custom(resources) for v in check_pulumi_inputs(r)])


def check_plan_requests(resources: Sequence[Mapping[str, Any]]) -> list[Violation]:
    """Vertex AI: the request each resource, dynamic resource and the retraining workflow sends."""
    out: list[Violation] = []
    resources = _custom(resources)
    for r in resources:
        for message, body in vertex_requests(r):
            out += check_request(message, body, r["name"])
    for name, path, job in _pipeline_jobs(resources):
        if path.startswith("sourceContents"):  # the workflow's request (schedules are checked above)
            found = re.findall(r"projects/([^/]+)/locations/([a-z0-9-]+)", json.dumps(job))
            parent = f"projects/{found[0][0]}/locations/{found[0][1]}" if found else ""
            out += [
                Violation(v.resource, f"{path}.{v.field}" if v.field else path, v.rule, v.source, v.kind)
                for v in check_request("CreatePipelineJobRequest", {"parent": parent, "pipelineJob": job}, name)
            ]
    return _unique(out)


def check_feature_sources(resources: Sequence[Mapping[str, Any]]) -> list[Violation]:
    """Feature Store v2: each feature group's BigQuery source has what Vertex reads from it."""
    return _unique(_feature_group_rules(_custom(resources)))


def check_serving_runtime(resources: Sequence[Mapping[str, Any]], root: Path | None = None) -> list[Violation]:
    """The serving image is a prebuilt container serving the framework version training installs."""
    return _unique(_serving_rules(_custom(resources), root or REPO_ROOT))


def check_images(resources: Sequence[Mapping[str, Any]]) -> list[Violation]:
    """Every image of every pipeline job: Google-hosted, pinned, and one runtime for training and serving."""
    return _unique(_image_rules(_custom(resources)))


def check_network(resources: Sequence[Mapping[str, Any]]) -> list[Violation]:
    """Private Service Connect forwarding rules as pulumi_gcp documents them."""
    return _unique(_psc_rules(_custom(resources)))


def check_iam(resources: Sequence[Mapping[str, Any]]) -> list[Violation]:
    """IAM custom roles: role id, title, description, stage and permission names well formed."""
    return _unique(_iam_rules(_custom(resources)))


def check_plan(resources: Sequence[Mapping[str, Any]], root: Path | None = None) -> list[Violation]:
    """Every violation of Google's rules in a plan's resources (`{"type", "name", "inputs"}` each)."""
    return _unique(
        check_plan_inputs(resources)
        + check_plan_requests(resources)
        + check_feature_sources(resources)
        + check_serving_runtime(resources, root)
        + check_images(resources)
        + check_network(resources)
        + check_iam(resources)
    )


def _unique(violations: list[Violation]) -> list[Violation]:
    seen, out = set(), []
    for v in violations:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m providers.gcp.vendor_rules PLAN.json", file=sys.stderr)
        return 2
    plan = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    violations = check_plan(plan["resources"])
    for v in violations:
        print(f"{v.kind}: {v}")
    return 2 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
