"""Every body the kit sends to Azure, held against Azure's own machine-readable model.

`check_plan(resources)` takes the resources of a plan (`{"type", "name", "inputs"}`, as in
`mlops plan --format json`) and returns one `Violation` per field Azure would refuse or silently
change. The oracles, in order of authority:

1. **pulumi_azure_native** (the ARM API schema Pulumi sends through): every input is an argument
   of the resource's `*Args` class (and of the nested `*Args` classes, discriminated unions picked
   by their "Expected value is 'X'" constant); every enum-typed input is a value of the SDK's enum.
2. **azure-ai-ml** (Microsoft's own client for Azure ML): each Azure ML body is loaded with the
   SDK entity's `_from_rest_object` and written back with `_to_rest_object()`; a field the entity
   drops or changes is reported. The SDK's own validators (endpoint/deployment names), its ARM
   template for feature stores (`_arm_deployments/arm_templates/workspace_base.json`), its feature
   set operations (`FeatureSetSpec.yaml`, `featuresetProperties`) and its asset-id resolver give
   the rules no REST model encodes. Types come from the REST models in
   `azure.ai.ml._restclient.arm_ml_service` (API 2025-12-01, typespec, no msrest `_validation`).
3. **Microsoft Learn**, where only documentation exists: each rule cites its page next to it.

No network, no credentials: everything is read from the installed SDKs and the plan.
"""

from __future__ import annotations

import contextlib
import copy
import enum
import functools
import importlib
import inspect
import json
import logging
import re
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

# azure-ai-ml logs a warning for each experimental class it loads; the validator loads many.
logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)

ML = "azure-native:machinelearningservices:"
DYNAMIC = "pulumi-python:dynamic:Resource"
ARM_ML_MODELS = "azure.ai.ml._restclient.arm_ml_service.models"
SDK = "azure-ai-ml"

# Microsoft Learn pages cited by the rules below (title, URL), found with the `search` tool.
NAME_RULES_PAGE = (
    "Naming rules and restrictions for Azure resources",
    "https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/resource-name-rules",
)
ML_LIMITS_PAGE = (
    "Manage and increase quotas and limits for resources with Azure Machine Learning",
    "https://learn.microsoft.com/en-us/azure/machine-learning/how-to-manage-quotas",
)
DEPLOYMENT_METRICS_PAGE = (
    "Supported metrics for Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
    "https://learn.microsoft.com/en-us/azure/azure-monitor/reference/supported-metrics/"
    "microsoft-machinelearningservices-workspaces-onlineendpoints-deployments-metrics",
)
SCHEDULE_YAML_PAGE = (
    "CLI (v2) schedule YAML schema",
    "https://learn.microsoft.com/en-us/azure/machine-learning/reference-yaml-schedule",
)


@dataclass(frozen=True, order=True)
class Violation:
    """One field of one planned resource that Azure would refuse, drop or change."""

    resource: str  # the plan's resource name
    type: str  # its type token
    field: str  # dotted path inside the resource's inputs (or of the body the kit sends)
    rule: str  # what the vendor's rule says, and what the plan has
    source: str  # where the rule is written: an SDK path or a Microsoft Learn page
    # "refused": the API or Microsoft's client refuses the value (unknown field, enum, type, name,
    # documented rule). "differs": azure-ai-ml, Microsoft's own client, would send something else
    # for the same intent (a field its entity drops or changes, a reference it resolves).
    severity: str = "refused"

    def __str__(self) -> str:
        return f"[{self.severity}] {self.resource} ({self.type}) {self.field}: {self.rule} [{self.source}]"


def _cite(page: tuple[str, str]) -> str:
    return f"Microsoft Learn: {page[0]} <{page[1]}>"


# ----------------------------------------------------------------------------------------------
# 1. pulumi_azure_native: arguments and enums
# ----------------------------------------------------------------------------------------------


def _resource_class(type_token: str) -> type | None:
    """`azure-native:machinelearningservices:OnlineDeployment` -> the SDK's resource class."""
    parts = type_token.split(":")
    if len(parts) != 3 or parts[0] != "azure-native":
        return None
    try:
        module = importlib.import_module(f"pulumi_azure_native.{parts[1]}")
    except ImportError:
        return None
    return getattr(module, parts[2], None)


def _args_class(resource_cls: type) -> type:
    """The resource's `*Args` class (first `*Args` name in its module's `__all__`)."""
    module = sys.modules[resource_cls.__module__]
    return next(getattr(module, n) for n in module.__all__ if n.endswith("Args"))


def pulumi_api_version(type_token: str) -> str | None:
    """The ARM API version pulumi_azure_native uses for a type ("Uses Azure REST API version X")."""
    cls = _resource_class(type_token)
    if cls is None:
        return None
    match = re.search(r"Uses Azure REST API version (\S+?)\.?\s", inspect.getsource(cls))
    return match.group(1) if match else None


def _unwrap(tp: Any) -> list[Any]:
    """The concrete candidate types of an input annotation (no None/Awaitable/Output)."""
    import collections.abc

    import pulumi

    origin = typing.get_origin(tp)
    if origin is typing.Union:
        out: list[Any] = []
        for arg in typing.get_args(tp):
            out.extend(_unwrap(arg))
        return out
    if tp is type(None) or origin is collections.abc.Awaitable or tp is collections.abc.Awaitable:
        return []
    if isinstance(tp, type) and issubclass(tp, pulumi.Output):
        return []
    if origin is not None and isinstance(origin, type) and issubclass(origin, pulumi.Output):
        return []
    return [tp]


@functools.cache
def _input_types(cls: type) -> dict[str, Any]:
    import pulumi._types as ptypes

    return ptypes.input_type_types(cls)


@functools.cache
def _discriminators(cls: type[Any]) -> dict[str, str]:
    """Constant discriminator values of an `*Args` class: ":param x: ... Expected value is 'V'."."""
    doc = cls.__init__.__doc__ or ""
    import pulumi._types as ptypes

    py_to_pulumi = ptypes.input_type_py_to_pulumi_names(cls)
    found = {}
    for chunk in doc.split(":param ")[1:]:
        head = re.match(r"[^\n:]*? (\w+):", chunk)
        value = re.search(r"Expected value is '([^']+)'", chunk)
        if head and value and head.group(1) in py_to_pulumi:
            found[py_to_pulumi[head.group(1)]] = value.group(1)
    return found


@functools.cache
def _defaults(cls: type[Any]) -> dict[str, Any]:
    """The values an `*Args` class fills in when an input is left out (its SDK defaults)."""
    import pulumi._types as ptypes

    signature = inspect.signature(cls.__init__)
    required = {n: "x" for n, p in signature.parameters.items() if n != "__self__" and p.default is p.empty}
    try:
        obj = cls(**required)
    except Exception:  # noqa: BLE001 - a class we cannot build has no known defaults
        return {}
    names = ptypes.input_type_py_to_pulumi_names(cls)
    out = {}
    for py_name, pulumi_name in names.items():
        if py_name in required:
            continue
        value = getattr(obj, py_name, None)
        if value is not None:
            out[pulumi_name] = value.value if isinstance(value, enum.Enum) else value
    return out


# Where two ARM APIs in one pulumi_azure_native module define an enum of the same name, the
# generated class holds only one of them. pulumi_azure_native 3.29 `monitor.ConditionOperator` has
# the values of the "filtering condition" operator (eq, gt, ...) although `monitor.ConditionArgs`
# (scheduled query rules, `criteria.allOf[].operator`) documents "The criteria operator. Relevant and
# required only for rules of the kind LogAlert" (pulumi_azure_native/monitor/_inputs.py, both input
# types reference 'ConditionOperator'). The scheduled query rule values are Microsoft's:
# Microsoft Learn "KnownConditionOperator enum" (@azure/arm-previewalertrule)
# https://learn.microsoft.com/en-us/javascript/api/@azure/arm-previewalertrule/knownconditionoperator
_ENUM_COLLISIONS: dict[tuple[str, tuple[str, ...]], tuple[set[str], str]] = {
    ("criteria.allOf[].operator", ("ConditionOperator",)): (
        {"Equals", "GreaterOrLessThan", "GreaterThan", "GreaterThanOrEqual", "LessThan", "LessThanOrEqual"},
        "scheduled query rule criteria operator; pulumi_azure_native 3.29 monitor.ConditionOperator holds "
        "another API's values; Microsoft Learn: KnownConditionOperator enum <https://learn.microsoft.com/"
        "en-us/javascript/api/@azure/arm-previewalertrule/knownconditionoperator>",
    ),
}

# Known-value enums the REST API documents as open to one more documented shape: (path, enum) ->
# (pattern, source). A value matching the pattern is accepted; any other must be a known value.
_OPEN_ENUMS: dict[tuple[str, tuple[str, ...]], tuple[str, str]] = {
    ("dataFlows[].streams[]", ("KnownDataFlowStreams",)): (
        r"^Custom-[A-Za-z0-9_]+$",
        "a custom stream declared in streamDeclarations, named Custom-<name> (Microsoft Learn 'Structure of a "
        "data collection rule in Azure Monitor' <https://learn.microsoft.com/en-us/azure/azure-monitor/"
        "essentials/data-collection-rule-structure>)",
    ),
}


def path_key(path: str) -> str:
    """`criteria.allOf[0].operator` -> `criteria.allOf[].operator` (list indices dropped)."""
    return re.sub(r"\[\d+\]", "[]", path)


def _walk_pulumi(value: Any, tp: Any, path: str, report, defaults_seen: set[str]) -> None:
    import pulumi._types as ptypes

    candidates = _unwrap(tp)
    if not candidates or any(c is Any for c in candidates):
        return
    input_classes = [c for c in candidates if isinstance(c, type) and ptypes.is_input_type(c)]
    enums = [c for c in candidates if isinstance(c, type) and issubclass(c, enum.Enum)]
    if isinstance(value, dict) and input_classes:
        chosen = input_classes[0]
        if len(input_classes) > 1:
            matching = [
                c
                for c in input_classes
                if _discriminators(c) and all(value.get(k) == v for k, v in _discriminators(c).items())
            ]
            if not matching:
                taken = sorted({f"{k}={v}" for c in input_classes for k, v in _discriminators(c).items()})
                report(path, f"matches none of {[c.__name__ for c in input_classes]} (discriminators {taken})")
                return
            chosen = matching[0]
        fields = _input_types(chosen)
        for key, expected in _discriminators(chosen).items():
            if key in value and value[key] != expected:
                report(f"{path}.{key}", f"{value[key]!r}; {chosen.__name__} takes only {expected!r}")
        defaults = _defaults(chosen)
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            if key.startswith("__"):
                continue
            if key not in fields:
                report(sub, f"is not an argument of pulumi_azure_native {chosen.__module__}.{chosen.__name__}")
                continue
            if key in defaults and _same(defaults[key], item):
                defaults_seen.add(sub)
            _walk_pulumi(item, fields[key], sub, report, defaults_seen)
        return
    if enums and isinstance(value, str):
        allowed = {m.value for e in enums for m in e}
        collision = _ENUM_COLLISIONS.get((path_key(path), tuple(e.__qualname__ for e in enums)))
        if collision is not None:
            allowed, where = collision
            if value not in allowed:
                report(path, f"{value!r} is not one of {sorted(allowed)} ({where})")
            return
        opened = _OPEN_ENUMS.get((path_key(path), tuple(e.__qualname__ for e in enums)))
        if opened is not None and re.match(opened[0], value):
            return
        if value not in allowed:
            names = ", ".join(e.__name__ for e in enums)
            report(path, f"{value!r} is not a value of pulumi_azure_native enum {names} {sorted(allowed)}")
        return
    for cand in candidates:
        origin = typing.get_origin(cand)
        args = typing.get_args(cand)
        is_mapping = isinstance(origin, type) and issubclass(origin, Mapping)
        if is_mapping and isinstance(value, dict) and len(args) == 2:
            for key, item in value.items():
                _walk_pulumi(item, args[1], f"{path}.{key}", report, defaults_seen)
            return
        is_sequence = isinstance(origin, type) and issubclass(origin, Sequence) and not issubclass(origin, str)
        if is_sequence and isinstance(value, list) and args:
            for i, item in enumerate(value):
                _walk_pulumi(item, args[0], f"{path}[{i}]", report, defaults_seen)
            return


def check_pulumi_inputs(resource: dict) -> tuple[list[Violation], set[str]]:
    """Inputs against the installed pulumi_azure_native classes; also returns the input paths whose
    value is the SDK's own default (a field azure-ai-ml leaves out is then no loss)."""
    cls = _resource_class(resource["type"])
    found: list[Violation] = []
    defaults_seen: set[str] = set()
    if cls is None:
        return found, defaults_seen
    args = _args_class(cls)
    source = f"pulumi_azure_native {cls.__module__}.{args.__name__}"

    def report(path: str, message: str) -> None:
        found.append(Violation(resource["name"], resource["type"], path, message, source))

    _walk_pulumi(dict(resource["inputs"]), args, "", report, defaults_seen)
    return found, defaults_seen


# ----------------------------------------------------------------------------------------------
# 2. azure-ai-ml: the REST models and the entities' round trip
# ----------------------------------------------------------------------------------------------


def _models():
    return importlib.import_module(ARM_ML_MODELS)


@functools.cache
def _rest_fields(model_cls: type) -> dict[str, tuple[str, Any, list[str] | None]]:
    """rest name -> (attribute, annotation, visibility) of a typespec REST model."""
    models = _models()
    with contextlib.suppress(Exception):  # an instance populates _attr_to_rest_field
        model_cls()
    hints = typing.get_type_hints(model_cls, localns={"_models": models})
    return {
        rf._rest_name: (attr, hints.get(attr), rf._visibility)
        for attr, rf in getattr(model_cls, "_attr_to_rest_field", {}).items()
    }


def _discriminated(model_cls: type, value: dict) -> type:
    """The subclass a polymorphic typespec model picks for `value` (its `__mapping__`)."""
    seen: set[type] = set()
    while hasattr(model_cls, "__mapping__") and model_cls not in seen:
        seen.add(model_cls)
        key = next(
            (
                v._rest_name
                for v in model_cls.__dict__.values()
                if getattr(v, "_is_discriminator", False) and getattr(v, "_rest_name_input", None)
            ),
            None,
        )
        if key is None:
            for base in model_cls.__mro__:
                key = next(
                    (
                        v._rest_name_input
                        for v in base.__dict__.values()
                        if getattr(v, "_is_discriminator", False) and getattr(v, "_rest_name_input", None)
                    ),
                    None,
                )
                if key:
                    break
        nxt = model_cls.__mapping__.get(value.get(key)) if key else None
        if nxt is None or nxt is model_cls:
            break
        model_cls = nxt
    return model_cls


def rest_type_violations(model_cls: type, body: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, problem) for each field of `body` the REST model does not have, that has the wrong
    JSON type (an integer field given a float), or that is read-only (ARM ignores or refuses it)."""
    problems: list[tuple[str, str]] = []
    if not isinstance(body, dict):
        return problems
    model_cls = _discriminated(model_cls, body)
    fields = _rest_fields(model_cls)
    for key, value in body.items():
        sub = f"{path}.{key}" if path else key
        if key not in fields:
            problems.append((sub, f"is not a field of {ARM_ML_MODELS}.{model_cls.__name__}"))
            continue
        _, annotation, visibility = fields[key]
        if visibility is not None and not ({"create", "update"} & set(visibility)):
            problems.append((sub, f"is read-only in {model_cls.__name__} (visibility {visibility})"))
        problems.extend(_rest_value(annotation, value, sub))
    return problems


def _rest_value(annotation: Any, value: Any, path: str) -> list[tuple[str, str]]:
    if annotation is None or value is None:
        return []
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union:
        concrete = [a for a in args if a is not type(None)]
        if len(concrete) == 1:
            return _rest_value(concrete[0], value, path)
        if int in concrete and not any(a in (float, str) for a in concrete) and isinstance(value, float):
            return [(path, f"{value!r} is a JSON float; the REST model takes an integer")]
        return []
    if annotation is int and isinstance(value, float):
        return [(path, f"{value!r} is a JSON float; the REST model takes an integer")]
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        out: list[tuple[str, str]] = []
        for key, item in value.items():
            out.extend(_rest_value(args[1], item, f"{path}.{key}"))
        return out
    if origin is list and args and isinstance(value, list):
        out = []
        for i, item in enumerate(value):
            out.extend(_rest_value(args[0], item, f"{path}[{i}]"))
        return out
    from azure.ai.ml._restclient.arm_ml_service._utils.model_base import Model

    if isinstance(annotation, type) and issubclass(annotation, Model):
        return rest_type_violations(annotation, value, path)
    return []


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, str) and isinstance(b, str):
        # Azure ML's REST enums are case-insensitive (CaseInsensitiveEnumMeta in arm_ml_service).
        return a == b or a.lower() == b.lower()
    return a == b


def _diff(planned: Any, sent: Any, path: str, out: list[tuple[str, str]], ignore: set[str]) -> None:
    """What of `planned` does not survive in `sent` (dropped keys, changed leaves)."""
    if path in ignore:
        return
    if isinstance(planned, dict):
        if not isinstance(sent, dict):
            out.append((path, f"is {_short(planned)}; the SDK sends {_short(sent)}"))
            return
        for key, value in planned.items():
            sub = f"{path}.{key}" if path else key
            if sub in ignore:
                continue
            if key not in sent or sent[key] is None:
                if value in (None, {}, []):
                    continue
                out.append((sub, f"= {_short(value)} is dropped by the SDK entity"))
                continue
            _diff(value, sent[key], sub, out, ignore)
        return
    if isinstance(planned, list):
        if not isinstance(sent, list) or len(planned) != len(sent):
            out.append((path, f"is {_short(planned)}; the SDK sends {_short(sent)}"))
            return
        for i, (a, b) in enumerate(zip(planned, sent, strict=True)):
            _diff(a, b, f"{path}[{i}]", out, ignore)
        return
    if not _same(planned, sent):
        out.append((path, f"is {_short(planned)}; the SDK sends {_short(sent)}"))


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "..."


def arm_body(resource: dict) -> dict:
    """The ARM request body Pulumi sends for a planned Azure ML resource, built with the REST model:
    writable top-level fields stay, other inputs go under `properties` where pulumi_azure_native
    flattens it (Workspace), the rest are URL path parameters and are dropped; user-assigned
    identities become ARM's `{id: {}}` map (pulumi_azure_native takes a list)."""
    inputs = copy.deepcopy(dict(resource["inputs"]))
    rest_cls = getattr(_models(), resource["type"].split(":")[-1], None)
    if rest_cls is None:
        return {k: v for k, v in inputs.items() if not k.startswith("__")}
    top = {
        name: annotation
        for name, (_, annotation, visibility) in _rest_fields(rest_cls).items()
        if visibility is None or {"create", "update"} & set(visibility)
    }
    props_fields: dict = {}
    if "properties" in top and "properties" not in inputs:
        props_cls = next((a for a in typing.get_args(top["properties"]) if a is not type(None)), top["properties"])
        props_fields = _rest_fields(props_cls) if isinstance(props_cls, type) else {}
    body: dict[str, Any] = {}
    for key, value in inputs.items():
        if key in top:
            body[key] = value
        elif key in props_fields:
            body.setdefault("properties", {})[key] = value
    _identities_as_map(body)
    return body


def _identities_as_map(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "userAssignedIdentities" and isinstance(item, list):
                value[key] = {i: {} for i in item}
            else:
                _identities_as_map(item)
    elif isinstance(value, list):
        for item in value:
            _identities_as_map(item)


def _arm_id(resource: dict, subscription: str) -> str:
    """The ARM id of a planned Azure ML resource, from its path parameters (for the SDK's parsers)."""
    i = resource["inputs"]
    ws = (
        f"/subscriptions/{subscription}/resourceGroups/{i.get('resourceGroupName')}/providers/"
        f"Microsoft.MachineLearningServices/workspaces/{i.get('workspaceName')}"
    )
    kind = resource["type"].split(":")[-1]
    segment = {
        "FeaturesetVersion": "featuresets",
        "FeaturestoreEntityVersion": "featurestoreEntities",
        "EnvironmentVersion": "environments",
        "ComponentVersion": "components",
        "CodeVersion": "codes",
    }.get(kind)
    if segment:
        return f"{ws}/{segment}/{i.get('name')}/versions/{i.get('version')}"
    if kind == "OnlineEndpoint":
        return f"{ws}/onlineEndpoints/{i.get('endpointName')}"
    if kind == "OnlineDeployment":
        return f"{ws}/onlineEndpoints/{i.get('endpointName')}/deployments/{i.get('deploymentName')}"
    if kind == "Schedule":
        return f"{ws}/schedules/{i.get('name')}"
    return ws


def _sdk_round_trip(kind: str, body: dict, resource: dict, subscription: str) -> dict | None:
    """Load the planned body with the azure-ai-ml entity and write it back as the SDK would."""
    from azure.ai.ml import entities as E
    from azure.ai.ml.entities._assets._artifacts.feature_set import FeatureSet
    from azure.ai.ml.entities._feature_store_entity.feature_store_entity import FeatureStoreEntity

    models = _models()
    # Any: each `_from_rest_object` is annotated with a base class; the entity it returns writes itself back.
    entity: Any
    i = resource["inputs"]
    wire = dict(body, id=_arm_id(resource, subscription))
    name_key = {"OnlineEndpoint": "endpointName", "OnlineDeployment": "deploymentName", "Workspace": "workspaceName"}
    wire.setdefault("name", i.get(name_key.get(kind, "name")))
    if kind in ("OnlineEndpoint", "OnlineDeployment") and not _valid_endpoint_name(wire["name"]):
        # The name rule is reported once, by check_names; load the rest of the body regardless.
        wire["name"] = "placeholder-name"
        wire["id"] = wire["id"].rsplit("/", 1)[0] + "/placeholder-name"
    if kind == "Schedule":
        entity = E.Schedule._from_rest_object(models.Schedule(wire))
        return entity._to_rest_object().as_dict()
    if kind == "FeaturesetVersion":
        entity = FeatureSet._from_rest_object(models.FeaturesetVersion(wire))
        return entity._to_rest_object().as_dict()
    if kind == "FeaturestoreEntityVersion":
        entity = FeatureStoreEntity._from_rest_object(models.FeaturestoreEntityVersion(wire))
        return entity._to_rest_object().as_dict()
    if kind == "OnlineEndpoint":
        entity = E.OnlineEndpoint._from_rest_object(models.OnlineEndpoint(wire))
        return entity._to_rest_online_endpoint(body.get("location"))
    if kind == "OnlineDeployment":
        entity = E.OnlineDeployment._from_rest_object(models.OnlineDeployment(wire))
        return entity._to_rest_object(body.get("location")).as_dict()
    if kind == "ComponentVersion":
        entity = E.Component._from_rest_object(models.ComponentVersion(wire))
        return entity._to_rest_object().as_dict()
    if kind == "EnvironmentVersion":
        entity = E.Environment._from_rest_object(models.EnvironmentVersion(wire))
        return entity._to_rest_object().as_dict()
    if kind == "Workspace":
        cls = E.FeatureStore if str(body.get("kind", "")).lower() == "featurestore" else E.Workspace
        entity = cls._from_rest_object(models.Workspace(wire))
        return entity._to_rest_object().as_dict()
    return None


def _as_plain(value: Any) -> Any:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return json.loads(json.dumps(value, default=lambda o: o.as_dict() if hasattr(o, "as_dict") else str(o)))


ROUND_TRIP = {
    "Schedule": "azure.ai.ml.entities.Schedule (JobSchedule / MonitorSchedule)",
    "FeaturesetVersion": "azure.ai.ml.entities.FeatureSet",
    "FeaturestoreEntityVersion": "azure.ai.ml.entities.FeatureStoreEntity",
    "OnlineEndpoint": "azure.ai.ml.entities.ManagedOnlineEndpoint",
    "OnlineDeployment": "azure.ai.ml.entities.ManagedOnlineDeployment",
    "ComponentVersion": "azure.ai.ml.entities.Component",
    "EnvironmentVersion": "azure.ai.ml.entities.Environment",
    "Workspace": "azure.ai.ml.entities.Workspace / FeatureStore",
}

# The 2023-06-01-preview names the SDK's schedule code still writes (it pins that api-version for
# schedules: azure/ai/ml/operations/_schedule_operations.py), for the same GA (2025-12-01) fields.
# Each pair is stated in the SDK's own comments: entities/_monitoring/definition.py (singular
# `alertNotificationSetting`), entities/_monitoring/alert_notification.py (`emailNotificationSetting`
# in an `alertNotificationType: Email` envelope), entities/_monitoring/input_data.py (`Rolling` is
# the GA name of the preview's `Trailing`). The planned GA body is translated to those names before
# it is loaded, so only a real loss is reported.
_PREVIEW_SCHEDULE_NAMES = {"alertNotificationSettings": "alertNotificationSetting"}
_PREVIEW_EMAIL_NAMES = {"emailNotificationSettings": "emailNotificationSetting"}
_PREVIEW_VALUES = {("inputDataType", "Rolling"): "Trailing"}
# Fields the SDK's `_to_rest_object()` writes that the plan does not: never a loss.
_SDK_ADDS = ("properties", "tags", "isArchived", "isAnonymous")


def _to_preview(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _PREVIEW_SCHEDULE_NAMES:
                inner = _to_preview(item)
                if isinstance(inner, dict) and "emailNotificationSettings" in inner:
                    inner = {
                        "alertNotificationType": "Email",
                        **{_PREVIEW_EMAIL_NAMES.get(k, k): v for k, v in inner.items()},
                    }
                out[_PREVIEW_SCHEDULE_NAMES[key]] = inner
            else:
                preview = _PREVIEW_VALUES.get((key, item)) if isinstance(item, str) else None
                out[key] = preview if preview is not None else _to_preview(item)
        return out
    if isinstance(value, list):
        return [_to_preview(v) for v in value]
    return value


def check_round_trip(resource: dict, defaults_seen: set[str], subscription: str) -> list[Violation]:
    from azure.ai.ml.exceptions import MlException

    kind = resource["type"].split(":")[-1]
    if not resource["type"].startswith(ML) or kind not in ROUND_TRIP:
        return []
    source = f"{SDK} {ROUND_TRIP[kind]} _from_rest_object/_to_rest_object"
    body = arm_body(resource)
    planned = _to_preview(body) if kind == "Schedule" else body
    try:
        sent = _as_plain(_sdk_round_trip(kind, copy.deepcopy(planned), resource, subscription))
    except MlException as error:
        message = " ".join(str(error).split())
        return [Violation(resource["name"], resource["type"], "", f"the SDK entity refuses it: {message}", source)]
    if sent is None:
        return []
    if kind == "Workspace":
        sent = _with_template_fields(planned, sent)
    # A field left at pulumi_azure_native's own default is no loss if the SDK leaves it out.
    # (Input paths; for a resource whose properties Pulumi flattens they sit under `properties`.)
    ignore = set(defaults_seen) | {f"properties.{p}" for p in defaults_seen}
    # `kind` on the ARM envelope is "Metadata used by portal/tooling/etc to render different UX
    # experiences" (pulumi_azure_native docstring): no behaviour, and the SDK entities never send it.
    ignore.add("kind")
    out: list[tuple[str, str]] = []
    _diff(planned, sent, "", out, ignore)
    return [Violation(resource["name"], resource["type"], path, message, source, "differs") for path, message in out]


@functools.cache
def _workspace_template() -> dict:
    """Workspace properties azure-ai-ml writes at creation through its ARM template rather than
    `Workspace._to_rest_object()` (azure/ai/ml/_arm_deployments/arm_templates/workspace_base.json)."""
    import azure.ai.ml._arm_deployments.arm_templates as templates

    path = templates.__path__[0] + "/workspace_base.json"
    with open(path, encoding="utf-8") as f:
        template = json.load(f)
    for res in template["resources"]:
        if res.get("type") == "Microsoft.MachineLearningServices/workspaces":
            return res.get("properties", {})
    return {}


def _template_part(template: Any, planned: Any) -> Any:
    """The part of a planned value the SDK's template can carry (its keys; any value at a parameter)."""
    if isinstance(template, dict) and isinstance(planned, dict):
        lowered = {k.lower(): v for k, v in template.items()}
        return {k: _template_part(lowered[k.lower()], v) for k, v in planned.items() if k.lower() in lowered}
    return planned


def _with_template_fields(planned: dict, sent: dict) -> dict:
    """The SDK's update body plus the create-time properties its ARM template carries."""
    sent = copy.deepcopy(sent)
    props = sent.setdefault("properties", {})
    template = _workspace_template()
    for key, value in (planned.get("properties") or {}).items():
        if key in template and key not in props:
            props[key] = _template_part(template[key], value)
    return sent


def check_rest_model(resource: dict) -> list[Violation]:
    """Field names, integer types and read-only fields against azure-ai-ml's REST model."""
    kind = resource["type"].split(":")[-1]
    if not resource["type"].startswith(ML):
        return []
    model = getattr(_models(), kind, None)
    if model is None:
        return []
    source = f"{SDK} REST model {ARM_ML_MODELS}.{kind} (api 2025-12-01)"
    return [
        Violation(resource["name"], resource["type"], path, problem, source)
        for path, problem in rest_type_violations(model, arm_body(resource))
        # Pulumi's JSON turns every number into a float; the azure-native provider (Go) writes an
        # integral float as an integer, so only a fraction is a real type error there.
        if not ("is a JSON float" in problem and _integral_float_at(arm_body(resource), path))
    ]


def _integral_float_at(body: Any, path: str) -> bool:
    value = body
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            value = value[int(part[1:-1])] if isinstance(value, list) else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            return False
    return isinstance(value, float) and value.is_integer()


# ----------------------------------------------------------------------------------------------
# 3. Rules no REST model encodes: names, metrics, feature store wiring, references, recurrences
# ----------------------------------------------------------------------------------------------


def _valid_endpoint_name(name: Any) -> bool:
    from azure.ai.ml.entities._endpoint._endpoint_helpers import validate_endpoint_or_deployment_name
    from azure.ai.ml.exceptions import ValidationException

    try:
        validate_endpoint_or_deployment_name(name)
    except ValidationException:
        return False
    return isinstance(name, str)


# (type, input holding the name) -> (regex, the documented rule, its citation). Names come from the
# pages cited; the regex is the rule as written there.
_NAME_RULES: dict[tuple[str, str], tuple[str, str, str]] = {
    # Naming rules and restrictions for Azure resources, Microsoft.Storage: storageAccounts, global,
    # 3-24, lowercase letters and numbers.
    ("azure-native:storage:StorageAccount", "accountName"): (
        r"^[a-z0-9]{3,24}$",
        "storage account names are 3-24 lowercase letters and digits, unique across Azure",
        _cite(NAME_RULES_PAGE),
    ),
    # Microsoft.KeyVault: vaults, global, 3-24, alphanumerics and hyphens; start with a letter, end
    # with a letter or digit, no consecutive hyphens.
    ("azure-native:keyvault:Vault", "vaultName"): (
        r"^(?!.*--)[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$",
        "Key Vault names are 3-24 letters, digits and hyphens, start with a letter, end with a letter "
        "or digit, no consecutive hyphens, unique across Azure",
        _cite(NAME_RULES_PAGE),
    ),
    # Microsoft.ContainerRegistry: registries, global, 5-50, alphanumerics.
    ("azure-native:containerregistry:Registry", "registryName"): (
        r"^[A-Za-z0-9]{5,50}$",
        "container registry names are 5-50 letters and digits, unique across Azure",
        _cite(NAME_RULES_PAGE),
    ),
    # Microsoft.MachineLearningServices: workspaces, resource group, 3-33, alphanumerics, hyphens
    # and underscores.
    (ML + "Workspace", "workspaceName"): (
        r"^[A-Za-z0-9_-]{3,33}$",
        "Azure ML workspace names are 3-33 letters, digits, hyphens and underscores",
        _cite(NAME_RULES_PAGE),
    ),
    # Microsoft.Authorization: roleDefinitions, tenant, 36, must be a GUID.
    ("azure-native:authorization:RoleDefinition", "roleDefinitionId"): (
        r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        "role definition names are GUIDs, unique in the tenant",
        _cite(NAME_RULES_PAGE),
    ),
    # Microsoft.Logic: workflows, resource group, 1-43, alphanumerics, hyphens, underscores,
    # periods and parentheses.
    ("azure-native:logic:Workflow", "workflowName"): (
        r"^[A-Za-z0-9_.()-]{1,43}$",
        "Logic App workflow names are 1-43 letters, digits, hyphens, underscores, periods, parentheses",
        _cite(NAME_RULES_PAGE),
    ),
    # Microsoft.Cache: Redis, global, 1-63, alphanumerics and hyphens, start and end with
    # alphanumeric, no consecutive hyphens.
    ("azure-native:redis:Redis", "name"): (
        r"^(?!.*--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$",
        "Azure Cache for Redis names are 1-63 letters, digits and hyphens, start and end with a letter "
        "or digit, no consecutive hyphens, unique across Azure",
        _cite(NAME_RULES_PAGE),
    ),
    # Microsoft.ManagedIdentity: userAssignedIdentities, resource group, 3-128, alphanumerics,
    # hyphens and underscores, start with a letter or number.
    ("azure-native:managedidentity:UserAssignedIdentity", "resourceName"): (
        r"^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$",
        "user-assigned identity names are 3-128 letters, digits, hyphens, underscores, starting with a letter or digit",
        _cite(NAME_RULES_PAGE),
    ),
}


def check_names(resource: dict) -> list[Violation]:
    found: list[Violation] = []
    inputs = resource["inputs"]
    for (type_token, key), (pattern, rule, source) in _NAME_RULES.items():
        value = inputs.get(key) if resource["type"] == type_token else None
        if isinstance(value, str) and not re.match(pattern, value):
            found.append(Violation(resource["name"], resource["type"], key, f"{inputs[key]!r}: {rule}", source))
    # Online endpoint and deployment names: azure-ai-ml's own validator
    # (azure/ai/ml/entities/_endpoint/_endpoint_helpers.py, constants/_endpoint.py
    # EndpointConfigurations: 3-32 characters, ^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$), which is the
    # documented limit: "Endpoint names must begin with a letter, be 3-32 characters in length, only
    # consist of letters and numbers" (single dashes accepted), same for deployment names.
    for type_token, key in ((ML + "OnlineEndpoint", "endpointName"), (ML + "OnlineDeployment", "deploymentName")):
        if resource["type"] == type_token and key in inputs and not _valid_endpoint_name(inputs[key]):
            found.append(
                Violation(
                    resource["name"],
                    resource["type"],
                    key,
                    f"{inputs[key]!r}: names must begin with a letter, be 3-32 characters, letters, digits "
                    "and single dashes, ending with a letter or digit",
                    f"{SDK} entities/_endpoint/_endpoint_helpers.py validate_endpoint_or_deployment_name; "
                    + _cite(ML_LIMITS_PAGE),
                )
            )
    return found


def resource_type_of(arm_id: str) -> str | None:
    """`/subscriptions/s/resourceGroups/g/providers/Ns/a/x/b/y` -> `Ns/a/b` (the ARM resource type)."""
    match = re.search(r"/providers/([^/]+)/(.+)$", arm_id or "")
    if not match:
        return None
    parts = match.group(2).strip("/").split("/")
    return "/".join([match.group(1), *parts[0::2]])


# Azure Monitor: the namespace of a platform metric is the resource type that emits it; the metrics
# of an online deployment, per "Supported metrics for
# Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments" (REST names).
_DEPLOYMENT_METRICS = {
    "CpuMemoryUtilizationPercentage",
    "CpuUtilizationPercentage",
    "DataCollectionErrorsPerMinute",
    "DataCollectionEventsPerMinute",
    "DeploymentCapacity",
    "DiskUtilization",
    "GpuEnergyJoules",
    "GpuMemoryUtilizationPercentage",
    "GpuUtilizationPercentage",
    "RequestLatency_P50",
    "RequestLatency_P90",
    "RequestLatency_P95",
    "RequestLatency_P99",
    "RequestsPerMinute",
}
_DEPLOYMENT_TYPE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"


def check_autoscale(resource: dict) -> list[Violation]:
    if resource["type"] != "azure-native:monitor:AutoscaleSetting":
        return []
    found = []
    for p, profile in enumerate(resource["inputs"].get("profiles") or []):
        for r, rule in enumerate(profile.get("rules") or []):
            trigger = rule.get("metricTrigger") or {}
            where = f"profiles[{p}].rules[{r}].metricTrigger"
            expected = resource_type_of(trigger.get("metricResourceUri", ""))
            namespace = trigger.get("metricNamespace")
            if expected and namespace is not None and namespace.lower() != expected.lower():
                found.append(
                    Violation(
                        resource["name"],
                        resource["type"],
                        f"{where}.metricNamespace",
                        f"{namespace!r}; a platform metric's namespace is the resource type of "
                        f"metricResourceUri: {expected!r}",
                        _cite(DEPLOYMENT_METRICS_PAGE),
                    )
                )
            if (expected or "").lower() == _DEPLOYMENT_TYPE.lower() and trigger.get(
                "metricName"
            ) not in _DEPLOYMENT_METRICS:
                found.append(
                    Violation(
                        resource["name"],
                        resource["type"],
                        f"{where}.metricName",
                        f"{trigger.get('metricName')!r} is not a metric of {_DEPLOYMENT_TYPE}",
                        _cite(DEPLOYMENT_METRICS_PAGE),
                    )
                )
    return found


def check_recurrence(resource: dict) -> list[Violation]:
    """A recurrence `schedule` pattern (hours/minutes/week days) is for day, week or month
    frequencies only (Microsoft Learn: CLI (v2) schedule YAML schema, `recurrence.pattern`)."""
    found = []

    def visit(value: Any, path: str) -> None:
        if isinstance(value, dict):
            # An empty pattern is no pattern: azure-ai-ml's RecurrenceTrigger sends
            # `{"hours": [], "minutes": []}` for every minute and hour recurrence.
            schedule = value.get("schedule")
            pattern = schedule if isinstance(schedule, dict) else {}
            if value.get("triggerType") == "Recurrence" and any(pattern.get(k) for k in pattern):
                frequency = str(value.get("frequency", ""))
                if frequency.lower() not in ("day", "week", "month"):
                    found.append(
                        Violation(
                            resource["name"],
                            resource["type"],
                            f"{path}.schedule" if path else "schedule",
                            f"a recurrence pattern with frequency {frequency!r}; patterns are only for "
                            "day, week and month frequencies (use interval alone for minute/hour)",
                            _cite(SCHEDULE_YAML_PAGE),
                        )
                    )
            for key, item in value.items():
                visit(item, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                visit(item, f"{path}[{i}]")

    if resource["type"].startswith(ML):
        visit(resource["inputs"], "")
    return found


def _sdk_ref_rule(value: Any, asset_type: str) -> bool:
    """azure-ai-ml resolves `azureml:name:version` to `azureml:` + the asset's ARM id before it
    sends a component (operations/_component_operations.py _resolve_arm_id_or_upload_dependencies,
    operations/_operation_orchestrator.py get_asset_arm_id, VERSIONED_RESOURCE_ID_FORMAT)."""
    from azure.ai.ml._utils._arm_id_utils import is_ARM_id_for_resource

    if not isinstance(value, str):
        return True
    ref = value[len("azureml:") :] if value.startswith("azureml:") else value
    return value.startswith("azureml:") and is_ARM_id_for_resource(ref, asset_type)


def check_component_references(resource: dict) -> list[Violation]:
    if resource["type"] != ML + "ComponentVersion":
        return []
    spec = ((resource["inputs"].get("properties") or {}).get("componentSpec")) or {}
    found = []
    for key, asset_type in (("code", "codes"), ("environment", "environments")):
        if key in spec and not _sdk_ref_rule(spec[key], asset_type):
            found.append(
                Violation(
                    resource["name"],
                    resource["type"],
                    f"properties.componentSpec.{key}",
                    f"{spec[key]!r}; azure-ai-ml sends 'azureml:/subscriptions/.../workspaces/<ws>/{asset_type}/"
                    "<name>/versions/<version>' (it resolves short references before it sends a component)",
                    f"{SDK} operations/_operation_orchestrator.py get_asset_arm_id",
                    "differs",
                )
            )
    return found


def _job_round_trip(job: dict, resource: dict, where: str) -> list[Violation]:
    """A pipeline job's REST `properties` loaded with azure-ai-ml's Job entity and written back."""
    from azure.ai.ml.entities import Job

    source = f"{SDK} azure.ai.ml.entities.Job _from_rest_object/_to_rest_object"
    models = _models()
    try:
        entity: Any = Job._from_rest_object(models.JobBase({"properties": copy.deepcopy(job)}))  # a concrete job
        sent = _as_plain(entity._to_rest_object())["properties"]
    except Exception as error:  # noqa: BLE001 - any refusal by the SDK is the finding
        return [Violation(resource["name"], resource["type"], where, f"the SDK Job entity refuses it: {error}", source)]
    out: list[tuple[str, str]] = []
    _diff(job, sent, where, out, set())
    return [Violation(resource["name"], resource["type"], p, m, source, "differs") for p, m in out]


def check_workflow_jobs(resource: dict) -> list[Violation]:
    """The job a Logic App submits to `.../workspaces/<ws>/jobs/<id>` (an ARM PUT body)."""
    if resource["type"] != "azure-native:logic:Workflow":
        return []
    found = []
    actions = ((resource["inputs"].get("definition") or {}).get("actions")) or {}
    for name, action in actions.items():
        inputs = action.get("inputs") or {}
        if "/jobs/" in str(inputs.get("uri", "")) and isinstance(inputs.get("body"), dict):
            job = inputs["body"].get("properties")
            if isinstance(job, dict):
                found += _job_round_trip(job, resource, f"definition.actions.{name}.inputs.body.properties")
    return found


# ---- feature store: what azure-ai-ml does (its ARM template and its feature set operations) ----


@functools.cache
def _feature_store_template() -> dict:
    import azure.ai.ml._arm_deployments.arm_templates as templates

    with open(templates.__path__[0] + "/workspace_base.json", encoding="utf-8") as f:
        return json.load(f)


def _template_connections() -> dict[str, dict]:
    """The connections azure-ai-ml's template creates for a feature store: category -> properties."""
    out = {}
    for res in _feature_store_template()["resources"]:
        for child in res.get("resources", []) if isinstance(res.get("resources"), list) else []:
            if child.get("type") == "connections":
                props = child.get("properties", {})
                out[props.get("category")] = props
    return out


def _template_materialization_roles() -> list[tuple[str, str]]:
    """(role definition GUID, scope expression) of each role assignment azure-ai-ml's feature store
    template grants the materialization identity."""
    roles: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Microsoft.Authorization/roleAssignments":
                guid = re.findall(r"[0-9a-f-]{36}", str((node.get("properties") or {}).get("roleDefinitionId")))
                if guid:
                    roles.append((guid[0], str(node.get("scope"))))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(_feature_store_template())
    return roles


# The template's scope expressions, by what they name in a planned feature store.
_TEMPLATE_SCOPES = {
    "workspace": "'Microsoft.MachineLearningServices/workspaces'",
    "offline": "variables('offlineStore')",
    "online": "parameters('online_store_resource_id')",
    "storage": "variables('storageAccount')",
}


def _check_materialization_roles(store: dict, targets: dict[str, str], resources: list[dict]) -> list[Violation]:
    """Each role azure-ai-ml grants the materialization identity has a planned assignment of the
    same role at that resource or above it (principals are not compared: plan ids are mocks)."""
    assignments = [
        (
            str(r["inputs"].get("roleDefinitionId", "")).rsplit("/", 1)[-1].lower(),
            str(r["inputs"].get("scope", "")).lower(),
        )
        for r in resources
        if r["type"] == "azure-native:authorization:RoleAssignment"
    ]
    found = []
    for guid, expression in _template_materialization_roles():
        what = next((k for k, marker in _TEMPLATE_SCOPES.items() if marker in expression), None)
        target = (targets.get(what) or "").lower() if what else ""
        if not target.startswith("/subscriptions/"):
            continue
        if not any(g == guid and (target == sc or target.startswith(sc.rstrip("/") + "/")) for g, sc in assignments):
            found.append(
                Violation(
                    store["name"],
                    store["type"],
                    f"materialization identity role on the {what} store"
                    if what in ("offline", "online")
                    else f"materialization identity role on the {what}",
                    f"no assignment of role {guid} at {target}; azure-ai-ml grants it to the materialization "
                    "identity when it creates a feature store",
                    f"{SDK} _arm_deployments/arm_templates/workspace_base.json",
                    "differs",
                )
            )
    return found


def check_feature_store(resources: list[dict]) -> list[Violation]:
    from azure.ai.ml._utils._arm_id_utils import AzureResourceId
    from azure.ai.ml.entities._feature_store._constants import (
        OFFLINE_STORE_CONNECTION_CATEGORY,
        ONLINE_STORE_CONNECTION_CATEGORY,
        STORE_REGEX_PATTERN,
    )

    template_src = f"{SDK} _arm_deployments/arm_templates/workspace_base.json (how the SDK creates a feature store)"
    found: list[Violation] = []
    stores = {
        r["inputs"].get("workspaceName"): r
        for r in resources
        if r["type"] == ML + "Workspace" and str(r["inputs"].get("kind", "")).lower() == "featurestore"
    }
    connections = {
        (r["inputs"].get("workspaceName"), r["inputs"].get("connectionName")): r
        for r in resources
        if r["type"] == ML + "WorkspaceConnection"
    }
    template = _template_connections()
    subscription = _subscription(resources)
    for ws_name, store in stores.items():
        settings = store["inputs"].get("featureStoreSettings") or {}
        # The second write azure-ai-ml makes (its template's "-deploy-feature-store" deployment): an
        # ArmPatch of this workspace that sets the names once the connections exist.
        store_id = _arm_id(store, subscription).lower()
        patched: dict[str, Any] = {}
        for r in resources:
            if _dynamic_kind(r) == "patch" and str(r["inputs"].get("resource_id", "")).lower() == store_id:
                patched.update(
                    ((r["inputs"].get("patch") or {}).get("properties") or {}).get("featureStoreSettings") or {}
                )
        for key, category_const, template_category in (
            ("offlineStoreConnectionName", OFFLINE_STORE_CONNECTION_CATEGORY, "AzureDataLakeGen2"),
            ("onlineStoreConnectionName", ONLINE_STORE_CONNECTION_CATEGORY, "Redis"),
        ):
            conn_name = settings.get(key) or patched.get(key)
            if not conn_name:
                continue
            conn = connections.get((ws_name, conn_name))
            if not settings.get(key) and conn is None:
                found.append(
                    Violation(
                        store["name"],
                        store["type"],
                        f"featureStoreSettings.{key}",
                        f"is set to {conn_name!r}, a connection the plan does not create",
                        template_src,
                    )
                )
            if settings.get(key) and conn is not None:
                found.append(
                    Violation(
                        store["name"],
                        store["type"],
                        f"featureStoreSettings.{key}",
                        f"names connection {conn_name!r}, a child of this workspace that cannot exist before it; "
                        "azure-ai-ml creates the feature store without connection names, then the connections, "
                        "then sets the names in a second deployment",
                        template_src,
                    )
                )
            if conn is None:
                continue
            props = conn["inputs"].get("properties") or {}
            categories = {category_const, template_category}
            if props.get("category") not in categories:
                found.append(
                    Violation(
                        conn["name"],
                        conn["type"],
                        "properties.category",
                        f"{props.get('category')!r}; the SDK's {key} connection has category in {sorted(categories)}",
                        template_src,
                    )
                )
            target = props.get("target", "")
            if key == "offlineStoreConnectionName" and not re.match(STORE_REGEX_PATTERN, str(target)):
                found.append(
                    Violation(
                        conn["name"],
                        conn["type"],
                        "properties.target",
                        f"{target!r}; the offline store target is a blob container ARM id "
                        "(/subscriptions/.../storageAccounts/<account>/blobServices/default/containers/<name>)",
                        f"{SDK} entities/_feature_store/_constants.py STORE_REGEX_PATTERN; " + template_src,
                    )
                )
            if key == "onlineStoreConnectionName":
                try:
                    AzureResourceId(str(target))
                except Exception:  # noqa: BLE001
                    found.append(
                        Violation(
                            conn["name"],
                            conn["type"],
                            "properties.target",
                            f"{target!r}; the online store target is the Redis cache's ARM id",
                            template_src,
                        )
                    )
            expected_auth = (template.get(template_category) or {}).get("authType")
            if expected_auth and props.get("authType") != expected_auth:
                found.append(
                    Violation(
                        conn["name"],
                        conn["type"],
                        "properties.authType",
                        f"{props.get('authType')!r}; the SDK's connection uses {expected_auth!r}",
                        template_src,
                    )
                )
        targets = {
            "workspace": _arm_id(store, _subscription(resources)),
            "storage": store["inputs"].get("storageAccount"),
        }
        for key, what in (("offlineStoreConnectionName", "offline"), ("onlineStoreConnectionName", "online")):
            conn = connections.get((ws_name, settings.get(key) or patched.get(key)))
            if conn is not None:
                target = str((conn["inputs"].get("properties") or {}).get("target", ""))
                targets[what] = target if target.startswith("/subscriptions/") else _account_id_of(target, resources)
        found += _check_materialization_roles(store, targets, resources)
    found += _check_featureset_versions(resources, stores)
    return found


def _account_id_of(url: str, resources: list[dict]) -> str:
    """`https://<account>.dfs.core.windows.net/...` -> the planned storage account's ARM id."""
    match = re.match(r"^https://([a-z0-9]+)\.(?:dfs|blob)\.core\.windows\.net", url)
    if not match:
        return ""
    for r in resources:
        if r["type"] == "azure-native:storage:StorageAccount" and r["inputs"].get("accountName") == match.group(1):
            return (
                f"/subscriptions/{_subscription(resources)}/resourceGroups/{r['inputs'].get('resourceGroupName')}"
                f"/providers/Microsoft.Storage/storageAccounts/{match.group(1)}"
            )
    return ""


_SPEC_FILE = "FeatureSetSpec.yaml"


def _check_featureset_versions(resources: list[dict], stores: dict) -> list[Violation]:
    from azure.ai.ml.entities._feature_set.featureset_spec_metadata import FeaturesetSpecMetadata

    ops_src = f"{SDK} operations/_feature_set_operations.py begin_create_or_update"
    utils_src = f"{SDK} _utils/_feature_store_utils.py read_remote_feature_set_spec_metadata"
    blobs = [r for r in resources if r["type"] == "azure-native:storage:Blob"]
    found: list[Violation] = []
    for r in resources:
        if r["type"] != ML + "FeaturesetVersion":
            continue
        props = r["inputs"].get("properties") or {}
        path = str((props.get("specification") or {}).get("path", ""))
        if not path.startswith("azureml://"):
            found.append(
                Violation(
                    r["name"],
                    r["type"],
                    "properties.specification.path",
                    f"{path!r}; azure-ai-ml reads a remote feature set spec only from an azureml:// datastore "
                    "path (azureml://datastores/<store>/paths/<folder>)",
                    utils_src,
                    "differs",
                )
            )
        folder = _blob_folder(path) or _datastore_folder(path, r["inputs"].get("workspaceName"), resources)
        spec_text = None
        if folder is not None:
            account, prefix = folder
            in_folder = [
                b
                for b in blobs
                if b["inputs"].get("accountName") == account
                and str(b["inputs"].get("blobName", "")).rsplit("/", 1)[0] + "/" == prefix
            ]
            exact = [b for b in in_folder if str(b["inputs"]["blobName"]).rsplit("/", 1)[-1] == _SPEC_FILE]
            near = [
                b for b in in_folder if str(b["inputs"]["blobName"]).rsplit("/", 1)[-1].lower() == _SPEC_FILE.lower()
            ]
            if not exact:
                names = [str(b["inputs"]["blobName"]).rsplit("/", 1)[-1] for b in near]
                found.append(
                    Violation(
                        r["name"],
                        r["type"],
                        "properties.specification.path",
                        f"the spec folder holds no {_SPEC_FILE!r} (file names are case-sensitive)"
                        + (f"; it holds {names}" if names else ""),
                        utils_src,
                    )
                )
            spec_blob = next(iter(exact or near), None)
            if spec_blob is not None:
                spec_text = (spec_blob["inputs"].get("source") or {}).get("text")
        if spec_text is None:
            continue
        try:
            spec = FeaturesetSpecMetadata._load(yaml.safe_load(spec_text), None)
        except Exception as error:  # noqa: BLE001 - the SDK's schema refusing the spec is the finding
            found.append(
                Violation(r["name"], r["type"], "specification", f"the SDK refuses the spec: {error}", ops_src)
            )
            continue
        expected = {"featuresetPropertiesVersion": "1", "featuresetProperties": json.dumps(spec._to_dict())}
        asset_props = props.get("properties") or {}
        for key, value in expected.items():
            if key not in asset_props:
                found.append(
                    Violation(
                        r["name"],
                        r["type"],
                        f"properties.properties.{key}",
                        f"is missing; azure-ai-ml always sends it ({key} = {_short(value)})",
                        ops_src,
                        "differs",
                    )
                )
            elif key == "featuresetProperties" and json.loads(asset_props[key]) != json.loads(value):
                found.append(
                    Violation(
                        r["name"],
                        r["type"],
                        f"properties.properties.{key}",
                        f"differs from the spec as the SDK reads it ({_short(value)})",
                        ops_src,
                        "differs",
                    )
                )
    return found


def _datastore_folder(path: str, workspace: Any, resources: list[dict]) -> tuple[str, str] | None:
    """`azureml://datastores/<store>/paths/<prefix>/` -> (account, prefix/) of the planned datastore."""
    match = re.match(r"^azureml://datastores/([^/]+)/paths/(.*)$", path)
    if not match:
        return None
    for r in resources:
        if r["type"] == ML + "Datastore" and r["inputs"].get("name") == match.group(1):
            if r["inputs"].get("workspaceName") != workspace:
                continue
            account = (r["inputs"].get("properties") or {}).get("accountName")
            prefix = match.group(2)
            return str(account), prefix if prefix.endswith("/") else prefix + "/"
    return None


def _blob_folder(path: str) -> tuple[str, str] | None:
    """`https://<account>.blob.core.windows.net/<container>/<prefix>/` -> (account, prefix/)."""
    match = re.match(r"^https://([a-z0-9]+)\.blob\.core\.windows\.net/[^/]+/(.*)$", path)
    if not match:
        return None
    prefix = match.group(2)
    return match.group(1), prefix if prefix.endswith("/") else prefix + "/"


# ---- documented rules between resources ----

WORKSPACE_PAGE = (
    "What is an Azure Machine Learning workspace?",
    "https://learn.microsoft.com/en-us/azure/machine-learning/concept-workspace",
)
ACR_CMK_PAGE = (
    "Encrypt registry using a customer-managed key",
    "https://learn.microsoft.com/en-us/azure/container-registry/container-registry-customer-managed-keys",
)
SECURE_TRAFFIC_PAGE = (
    "Network traffic flow when using a secured workspace",
    "https://learn.microsoft.com/en-us/azure/machine-learning/concept-secure-network-traffic-flow",
)
ACR_CMK_FIREWALL_ISSUE = (
    "MicrosoftDocs/azure-docs#61064 'Creation will fail when using CMK from keyvault with firewall enabled'",
    "https://github.com/MicrosoftDocs/azure-docs/issues/61064",
)


def _locks(vault: dict, resources: list[dict]) -> bool:
    """Whether the vault ends up behind its firewall: at creation or through an ArmPatch of it."""

    def closed(props: dict) -> bool:
        return (props.get("networkAcls") or {}).get("defaultAction") == "Deny" or props.get(
            "publicNetworkAccess"
        ) == "Disabled"

    name = str(vault["inputs"].get("vaultName", "")).lower()
    patched = any(
        _dynamic_kind(r) == "patch"
        and str(r["inputs"].get("resource_id", "")).lower().endswith(f"/microsoft.keyvault/vaults/{name}")
        and closed((r["inputs"].get("patch") or {}).get("properties") or {})
        for r in resources
    )
    return patched or closed(vault["inputs"].get("properties") or {})


def _by_arm_name(resources: list[dict], type_token: str, key: str) -> dict[str, dict]:
    return {str(r["inputs"].get(key)): r for r in resources if r["type"] == type_token}


def check_dependencies(resources: list[dict]) -> list[Violation]:
    """Rules Microsoft documents between two resources of a plan."""
    found: list[Violation] = []
    accounts = _by_arm_name(resources, "azure-native:storage:StorageAccount", "accountName")
    # "To use an existing Azure Storage account, it can't be of type BlobStorage or a premium account
    # (Premium_LRS and Premium_GRS). It also can't have a hierarchical namespace (used with Azure Data
    # Lake Storage Gen2). Neither premium storage nor hierarchical namespaces are supported with the
    # default storage account of the workspace." (What is an Azure Machine Learning workspace?,
    # Associated resources)
    for ws in (r for r in resources if r["type"] == ML + "Workspace"):
        account = accounts.get(str(ws["inputs"].get("storageAccount", "")).rsplit("/", 1)[-1])
        if account is None:
            continue
        inputs = account["inputs"]
        sku = str((inputs.get("sku") or {}).get("name", ""))
        problems = []
        if inputs.get("isHnsEnabled") is True:
            problems.append("hierarchical namespace on")
        if sku.startswith("Premium_") or inputs.get("kind") == "BlobStorage":
            problems.append(f"{inputs.get('kind')}/{sku}")
        if problems:
            found.append(
                Violation(
                    ws["name"],
                    ws["type"],
                    "storageAccount",
                    f"the workspace's default storage account {inputs.get('accountName')!r} has "
                    f"{', '.join(problems)}; a workspace's default storage account takes neither (keep an "
                    "ADLS Gen2 account as a datastore / offline store and give the workspace a plain one)",
                    _cite(WORKSPACE_PAGE),
                )
            )
    # "Unlike the legacy approach, the egress_public_network_access flag for the deployment no longer
    # applies when you use a workspace managed virtual network with your deployment. Instead,
    # outbound communication will be controlled by the rules set for the workspace's managed virtual
    # network." (Network traffic flow when using a secured workspace). "Enabled" is the API's default,
    # which pulumi_azure_native's ManagedOnlineDeploymentArgs sends when the field is left out;
    # "Disabled" is the legacy isolation (a private endpoint per deployment).
    managed = {
        str(r["inputs"].get("workspaceName"))
        for r in resources
        if r["type"] == ML + "Workspace" and (r["inputs"].get("managedNetwork") or {}).get("isolationMode")
    }
    for dep in (r for r in resources if r["type"] == ML + "OnlineDeployment"):
        flag = (dep["inputs"].get("properties") or {}).get("egressPublicNetworkAccess")
        if str(flag or "Enabled").lower() != "enabled" and str(dep["inputs"].get("workspaceName")) in managed:
            found.append(
                Violation(
                    dep["name"],
                    dep["type"],
                    "properties.egressPublicNetworkAccess",
                    f"{flag!r}; the workspace {dep['inputs'].get('workspaceName')!r} has a managed network, which "
                    "governs the deployment's outbound traffic: the legacy isolation flag no longer applies there, "
                    "leave it out",
                    _cite(SECURE_TRAFFIC_PAGE),
                )
            )
    # "Advanced scenario: Key Vault firewall. If your Azure key vault is deployed in a virtual network
    # with a Key Vault firewall ... 1. Configure registry encryption to use the registry's
    # system-assigned identity 2. Enable the registry to bypass the Key Vault firewall"
    # (Encrypt registry using a customer-managed key).
    vaults = _by_arm_name(resources, "azure-native:keyvault:Vault", "vaultName")
    for reg in (r for r in resources if r["type"] == "azure-native:containerregistry:Registry"):
        encryption = reg["inputs"].get("encryption") or {}
        key_uri = str((encryption.get("keyVaultProperties") or {}).get("keyIdentifier", ""))
        match = re.match(r"^https://([^.]+)\.vault\.azure\.net/", key_uri)
        vault = vaults.get(match.group(1)) if match else None
        if str(encryption.get("status", "")).lower() != "enabled" or vault is None:
            continue
        props = vault["inputs"].get("properties") or {}
        if (props.get("networkAcls") or {}).get("defaultAction") == "Deny" or props.get(
            "publicNetworkAccess"
        ) == "Disabled":
            # The registry takes its key at creation through its user-assigned identity, which the
            # firewall refuses ("Client address is not authorized and caller is not a trusted
            # service", azure-docs#61015): create the vault open, lock it after the switch.
            found.append(
                Violation(
                    vault["name"],
                    vault["type"],
                    "properties.networkAcls.defaultAction",
                    f"the vault holding the registry {reg['inputs'].get('registryName')!r}'s key is firewalled at "
                    "creation; a registry's CMK is set at creation through a user-assigned identity, which does "
                    "not pass the firewall: create the vault open and lock it once the registry uses its "
                    "system identity",
                    f"{_cite(ACR_CMK_PAGE)}; GitHub {ACR_CMK_FIREWALL_ISSUE[0]} <{ACR_CMK_FIREWALL_ISSUE[1]}>",
                )
            )
        if not _locks(vault, resources):
            continue
        identity_type = str((reg["inputs"].get("identity") or {}).get("type", ""))
        if "systemassigned" not in identity_type.replace(" ", "").lower():
            found.append(
                Violation(
                    reg["name"],
                    reg["type"],
                    "identity.type",
                    f"{identity_type!r}; with the key in a firewalled Key Vault the registry reaches the key "
                    "with its system-assigned identity",
                    _cite(ACR_CMK_PAGE),
                )
            )
        if reg["inputs"].get("networkRuleBypassOptions") != "AzureServices":
            found.append(
                Violation(
                    reg["name"],
                    reg["type"],
                    "networkRuleBypassOptions",
                    f"{reg['inputs'].get('networkRuleBypassOptions')!r}; the registry must be allowed to bypass "
                    "the Key Vault firewall as a trusted service ('AzureServices')",
                    _cite(ACR_CMK_PAGE),
                )
            )
    return found


# ---- the dynamic resources (providers/azure/dynamic.py) ----

# ARM resource type -> the pulumi_azure_native type that writes the same resource.
_PULUMI_TYPE_OF = {
    "microsoft.machinelearningservices/workspaces": ML + "Workspace",
    "microsoft.machinelearningservices/workspaces/onlineendpoints": ML + "OnlineEndpoint",
    "microsoft.machinelearningservices/workspaces/models/versions": ML + "ModelVersion",
    "microsoft.containerregistry/registries": "azure-native:containerregistry:Registry",
    "microsoft.keyvault/vaults": "azure-native:keyvault:Vault",
}


def _dynamic_kind(resource: dict) -> str | None:
    inputs = resource["inputs"]
    if resource["type"] != DYNAMIC:
        return None
    if "endpoint_id" in inputs:
        return "traffic"
    if "workspace_id" in inputs and "include_spark" in inputs:
        return "network"
    if "resource_id" in inputs and "patch" in inputs:
        return "patch"
    if "version_id" in inputs and "approvals_account" in inputs:
        return "approval"
    return "unknown"  # a dynamic resource these rules were not taught: check_dynamic_api_version refuses it


def check_dynamic_api_version(resource: dict) -> list[Violation]:
    """A dynamic resource writes (or, the approval check, reads) an ARM resource Pulumi also
    writes: with the same API version. A dynamic resource of a kind not listed here is refused."""
    from providers.azure import dynamic

    kind = _dynamic_kind(resource)
    if kind is None:
        return []
    inputs = resource["inputs"]
    if kind == "unknown":
        return [
            Violation(
                resource["name"],
                resource["type"],
                "kind",
                f"a dynamic resource with inputs {sorted(inputs)}, of no kind these rules check (API version, body)",
                "providers/azure/vendor_rules.py _dynamic_kind",
            )
        ]
    target = {"traffic": "endpoint_id", "network": "workspace_id", "patch": "resource_id", "approval": "version_id"}[
        kind
    ]
    version = inputs.get("api_version") if kind in ("patch", "approval") else dynamic.ML_API_VERSION
    arm_type = (resource_type_of(str(inputs.get(target, ""))) or "").lower()
    pulumi_type = _PULUMI_TYPE_OF.get(arm_type)
    if pulumi_type is None:
        return [
            Violation(
                resource["name"],
                resource["type"],
                target,
                f"writes {arm_type or inputs.get(target)!r}, a type the kit does not know the API version of",
                "providers/azure/vendor_rules.py _PULUMI_TYPE_OF",
            )
        ]
    pulumi_version = pulumi_api_version(pulumi_type)
    if pulumi_version and pulumi_version != version:
        return [
            Violation(
                resource["name"],
                resource["type"],
                "api-version",
                f"{version!r}; pulumi_azure_native writes {pulumi_type} with {pulumi_version!r}: both write "
                "the same ARM resource, so they must use one API version",
                f"pulumi_azure_native {_resource_class(pulumi_type).__module__} (Uses Azure REST API version)",
            )
        ]
    return []


def check_arm_patch(resource: dict) -> list[Violation]:
    """An ArmPatch body holds only fields of the resource's update model: azure-ai-ml's REST
    `WorkspaceUpdateParameters` for a workspace, pulumi_azure_native's Registry arguments (under
    `properties`, as ARM nests them) for a container registry."""
    if _dynamic_kind(resource) != "patch":
        return []
    inputs = resource["inputs"]
    patch = inputs.get("patch") or {}
    arm_type = (resource_type_of(str(inputs.get("resource_id", ""))) or "").lower()
    if arm_type == "microsoft.machinelearningservices/workspaces":
        source = f"{SDK} REST model {ARM_ML_MODELS}.WorkspaceUpdateParameters"
        problems = rest_type_violations(_models().WorkspaceUpdateParameters, patch)
    elif arm_type == "microsoft.containerregistry/registries":
        cls = _resource_class("azure-native:containerregistry:Registry")
        assert cls is not None  # a type the installed pulumi_azure_native declares
        args = _args_class(cls)
        source = f"pulumi_azure_native {cls.__module__}.{args.__name__}"
        problems = []

        def report(path: str, message: str) -> None:
            problems.append((path, message))

        flat = {k: v for k, v in patch.items() if k != "properties"} | dict(patch.get("properties") or {})
        _walk_pulumi(flat, args, "", report, set())
    elif arm_type == "microsoft.keyvault/vaults":
        cls = _resource_class("azure-native:keyvault:Vault")
        assert cls is not None  # a type the installed pulumi_azure_native declares
        args = _args_class(cls)
        source = f"pulumi_azure_native {cls.__module__}.{args.__name__}"
        problems = []

        def report(path: str, message: str) -> None:
            problems.append((path, message))

        _walk_pulumi(patch, args, "", report, set())
    else:
        return []
    return [Violation(resource["name"], resource["type"], f"patch.{p}", m, source) for p, m in problems]


def check_traffic_resource(resource: dict, resources: list[dict], subscription: str) -> list[Violation]:
    """The body EndpointTraffic PUTs, built from what ARM's GET returns for the planned endpoint,
    through azure-ai-ml's entity exactly as the provider does, held against the REST model."""
    if _dynamic_kind(resource) != "traffic":
        return []
    from providers.azure import dynamic

    found: list[Violation] = []
    ml_type = ML + "OnlineEndpoint"
    endpoint_id = str(resource["inputs"]["endpoint_id"])
    endpoint = next(
        (
            r
            for r in resources
            if r["type"] == ml_type
            and endpoint_id.rstrip("/").endswith("/onlineEndpoints/" + str(r["inputs"].get("endpointName")))
        ),
        None,
    )
    if endpoint is None:
        return found
    # What ARM's GET returns for the planned endpoint (its body plus read-only fields). The traffic
    # values are what a Pulumi dynamic provider receives: numbers from a protobuf Struct are floats.
    current = arm_body(endpoint)
    current["id"] = endpoint_id
    current["name"] = endpoint["inputs"].get("endpointName")
    current.setdefault("properties", {}).update(
        {"provisioningState": "Succeeded", "scoringUri": "https://example/score", "traffic": {}}
    )
    traffic = {k: float(v) for k, v in (resource["inputs"].get("traffic") or {}).items()}
    source = f"{SDK} REST model {ARM_ML_MODELS}.OnlineEndpoint (the body providers/azure/dynamic.py PUTs)"
    try:
        body = json.loads(json.dumps(dynamic.traffic_body(current, traffic)))
    except Exception as error:  # noqa: BLE001 - any refusal by the SDK is the finding
        return [Violation(resource["name"], resource["type"], "body", f"the SDK refuses it: {error}", source)]
    for path, problem in rest_type_violations(_models().OnlineEndpoint, body):
        found.append(Violation(resource["name"], resource["type"], f"body.{path}", problem, source))
    wanted = {k: int(v) for k, v in traffic.items()}
    if body["properties"].get("traffic") != wanted:
        found.append(
            Violation(
                resource["name"],
                resource["type"],
                "body.properties.traffic",
                f"{body['properties'].get('traffic')!r}; the declared traffic is {wanted!r}",
                source,
            )
        )
    return found


# ---- log search alerts: every column a query names exists in the table it reads ----

LOG_TABLES_PAGE = (
    "Azure Monitor Logs reference: AmlRunStatusChangedEvent",
    "https://learn.microsoft.com/en-us/azure/azure-monitor/reference/tables/amlrunstatuschangedevent",
)
# Built-in tables' columns, as Microsoft documents them (a custom table's come from the plan).
BUILT_IN_TABLES: dict[str, tuple[str, ...]] = {
    "AmlRunStatusChangedEvent": (
        "TimeGenerated",
        "RunId",
        "ParentRunId",
        "RootRunId",
        "Status",
        "Message",
        "Level",
        "OperationName",
        "OperationVersion",
        "ResultType",
        "ResultSignature",
        "ResultDescription",
        "CorrelationId",
        "DurationMs",
        "Identity",
        "CallerIpAddress",
        "Location",
        "_ResourceId",
        "_SubscriptionId",
        "SourceSystem",
        "Type",
    ),
}
_KQL_WORDS = {
    "where", "project", "extend", "summarize", "by", "and", "or", "not", "in", "has", "contains", "between",
    "count", "take", "limit", "top", "sort", "order", "asc", "desc", "distinct", "true", "false", "let",
    "bin", "ago", "now", "datetime", "timespan", "isnull", "isnotnull", "isempty", "isnotempty", "tostring",
    "toreal", "todouble", "toint", "tolong", "tobool", "max", "min", "avg", "sum", "dcount", "arg_max",
    "arg_min", "startswith", "endswith", "matches", "regex", "on", "kind", "join", "union", "h", "m", "d", "s",
}  # fmt: skip
_KQL_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_KQL_NAME = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)(?![\w])")


def kql_columns(query: str) -> tuple[str, set[str]]:
    """(table, columns named) of a simple KQL query: `Table | where ... | project ...`. Names a
    stage defines (`extend X = ...`, `summarize X = ...`, `project X = ...`) are not columns read."""
    text = _KQL_STRING.sub('""', query)
    table, _, rest = text.partition("|")
    defined = set(re.findall(r"(?:extend|summarize|project|,)\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)", rest))
    names: set[str] = set()
    for match in _KQL_NAME.finditer(rest):
        name = match.group(1)
        after = rest[match.end() :].lstrip()
        if name.lower() in _KQL_WORDS or after.startswith("(") or re.fullmatch(r"\d+[a-z]*", name):
            continue
        names.add(name)
    return table.strip(), names - defined


def declared_tables(resources: list[dict]) -> dict[str, tuple[str, ...]]:
    tables = dict(BUILT_IN_TABLES)
    for r in resources:
        if r["type"] == "azure-native:operationalinsights:Table":
            columns = ((r["inputs"].get("schema") or {}).get("columns")) or []
            tables[str(r["inputs"].get("tableName"))] = tuple(str(c.get("name")) for c in columns)
    return tables


def check_log_queries(resources: list[dict]) -> list[Violation]:
    """A log search alert whose query names a column its table does not have never matches a row:
    the alert is silently dead (issue 10 item 9: `ExperimentName` on AmlRunStatusChangedEvent)."""
    tables = declared_tables(resources)
    found = []
    for r in resources:
        if r["type"] != "azure-native:monitor:ScheduledQueryRule":
            continue
        for i, condition in enumerate(((r["inputs"].get("criteria") or {}).get("allOf")) or []):
            query = str(condition.get("query") or "")
            table, names = kql_columns(query)
            where = f"criteria.allOf[{i}].query"
            if table not in tables:
                found.append(
                    Violation(
                        r["name"],
                        r["type"],
                        where,
                        f"reads {table!r}, a table neither documented here nor declared by the plan",
                        _cite(LOG_TABLES_PAGE),
                    )  # fmt: skip
                )
                continue
            missing = sorted(names - set(tables[table]))
            if missing:
                source = (
                    _cite(LOG_TABLES_PAGE)
                    if table in BUILT_IN_TABLES
                    else f"the plan's azure-native:operationalinsights:Table {table} schema"
                )
                found.append(
                    Violation(
                        r["name"],
                        r["type"],
                        where,
                        f"names {missing}, not columns of {table} ({', '.join(tables[table])}): it matches no row",
                        source,
                    )
                )
    return found


# ---- role assignments ----


def granted_role_ids(resources: list[dict]) -> list[tuple[str, str, str]]:
    """(resource name, role definition GUID, scope) of every role assignment to a role that is not
    defined in the plan itself (i.e. built-in roles)."""
    custom = {
        str(r["inputs"].get("roleDefinitionId", "")).lower()
        for r in resources
        if r["type"] == "azure-native:authorization:RoleDefinition"
    }
    out = []
    for r in resources:
        if r["type"] != "azure-native:authorization:RoleAssignment":
            continue
        guid = str(r["inputs"].get("roleDefinitionId", "")).rsplit("/", 1)[-1].lower()
        if guid not in custom:
            out.append((r["name"], guid, str(r["inputs"].get("scope", ""))))
    return out


def check_custom_roles(resources: list[dict]) -> list[Violation]:
    """A custom role is assignable only at or below one of its assignableScopes (Microsoft Learn:
    "Azure custom roles", AssignableScopes)."""
    page = ("Azure custom roles", "https://learn.microsoft.com/en-us/azure/role-based-access-control/custom-roles")
    found = []
    defs = {
        str(r["inputs"].get("roleDefinitionId", "")).lower(): r
        for r in resources
        if r["type"] == "azure-native:authorization:RoleDefinition"
    }
    for r in resources:
        if r["type"] != "azure-native:authorization:RoleAssignment":
            continue
        guid = str(r["inputs"].get("roleDefinitionId", "")).rsplit("/", 1)[-1].lower()
        role = defs.get(guid)
        if role is None:
            continue
        scope = str(r["inputs"].get("scope", "")).lower()
        scopes = [str(s).lower().rstrip("/") for s in role["inputs"].get("assignableScopes") or []]
        if not any(scope == s or scope.startswith(s + "/") for s in scopes):
            found.append(
                Violation(
                    r["name"],
                    r["type"],
                    "scope",
                    f"{scope!r} is outside the role's assignableScopes {scopes}",
                    _cite(page),
                )
            )
    return found


# ----------------------------------------------------------------------------------------------
# The entry point
# ----------------------------------------------------------------------------------------------


def _subscription(resources: list[dict]) -> str:
    for r in resources:
        match = re.search(r"/subscriptions/([^/]+)/", json.dumps(r.get("inputs", {})))
        if match:
            return match.group(1)
    return "00000000-0000-0000-0000-000000000000"


# Differences from what azure-ai-ml would send that the kit keeps on purpose: (type, field pattern)
# -> why. Each is explained in docs/azure.md ("Where the kit differs from azure-ai-ml"); `check_plan`
# reports them with severity "note" (printed by `mlops plan`, never a refusal).
JUSTIFIED: dict[tuple[str, str], str] = {
    (ML + "Workspace", r"^properties\.encryption\.identity$"): (
        "kept: the REST API's CMK identity (encryption.identity.userAssignedIdentity, Microsoft Learn 'Set "
        "up authentication between Azure Machine Learning and other services': a user-assigned identity "
        "to authenticate from storage to Key Vault) has no field in azure-ai-ml 1.35's Workspace entity; "
        "without it the workspace's own identity would need the key"
    ),
}


def justification(violation: Violation) -> str | None:
    for (type_token, pattern), reason in JUSTIFIED.items():
        if violation.type == type_token and re.match(pattern, violation.field):
            return reason
    return None


def check_plan(resources: list[dict]) -> list[Violation]:
    """Every violation of Azure's own rules in a plan's resources (`{"type", "name", "inputs"}`).

    A "differs" finding the kit keeps on purpose (`JUSTIFIED`) comes back as a "note" with its reason."""
    return sorted(
        Violation(v.resource, v.type, v.field, f"{v.rule} ({reason})", v.source, "note")
        if v.severity == "differs" and (reason := justification(v))
        else v
        for v in _check_plan(resources)
    )


def _check_plan(resources: list[dict]) -> list[Violation]:
    subscription = _subscription(resources)
    found: list[Violation] = []
    for resource in resources:
        if not resource.get("type", "").startswith(("azure-native:", DYNAMIC)):
            continue
        pulumi_found, defaults_seen = check_pulumi_inputs(resource)
        found += pulumi_found
        found += check_rest_model(resource)
        found += check_round_trip(resource, defaults_seen, subscription)
        found += check_names(resource)
        found += check_autoscale(resource)
        found += check_recurrence(resource)
        found += check_component_references(resource)
        found += check_workflow_jobs(resource)
        found += check_traffic_resource(resource, resources, subscription)
        found += check_dynamic_api_version(resource)
        found += check_arm_patch(resource)
    found += check_feature_store(resources)
    found += check_custom_roles(resources)
    found += check_log_queries(resources)
    found += check_dependencies(resources)
    return sorted(set(found))
