"""Run the real Pulumi program offline, under the SDK's mocks, and record what it declares.

No Pulumi CLI, no provider plugin, no credentials: every resource registration is answered by a
mock that echoes the inputs (plus the few computed attributes a provider's `mocks.py` fakes),
so the plan shows exactly the inputs the program would send to `pulumi up`. Values a cloud only
knows after creation (ARNs, ids) appear as mock values.
"""

from __future__ import annotations

import importlib
import json
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings

from infra.config import PROJECT, SECRET_PLACEHOLDER, StackFile, resolve_file
from providers.spec import SpecError

_SECRET_SIG = rpc._special_sig_key
_SECRET_VALUE = rpc._special_secret_sig


def _scrub(value: Any) -> Any:
    """Replace Pulumi secrets with a placeholder so a plan never carries a secret value."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == _SECRET_VALUE:
            return SECRET_PLACEHOLDER
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, pulumi.Resource):
        return "<resource>"
    if isinstance(value, pulumi.asset.Asset | pulumi.asset.Archive):
        return _asset(value)
    return value


_MAX_SHOWN_TEXT = 16_384


def _asset(value: Any) -> dict[str, Any]:
    """An asset or archive as JSON: kind, path relative to the project root (the directory of the
    nearest Pulumi.yaml above the file, whatever directory `mlops` runs from), content hash."""
    import hashlib
    from pathlib import Path

    from infra.config import find_project_root

    out: dict[str, Any] = {"asset": type(value).__name__}
    path = getattr(value, "path", None)
    if isinstance(path, str):
        resolved = Path(path).resolve()
        root = find_project_root(resolved.parent)
        out["path"] = resolved.relative_to(root).as_posix() if root else resolved.as_posix()
        if resolved.is_file():
            out["sha256"] = hashlib.sha256(resolved.read_bytes()).hexdigest()
    elif isinstance(getattr(value, "text", None), str):
        out["sha256"] = hashlib.sha256(value.text.encode()).hexdigest()
        if len(value.text) <= _MAX_SHOWN_TEXT:
            out["text"] = value.text  # small generated files (specs, configs): reviewers see them
    elif isinstance(getattr(value, "uri", None), str):
        out["uri"] = value.uri
    elif isinstance(getattr(value, "assets", None), dict):
        out["assets"] = {k: _scrub(v) for k, v in sorted(value.assets.items())}
    return out


@dataclass
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    custom: bool
    protect: bool
    ignore_changes: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    """URNs this resource waits for (`depends_on` and the resources its inputs come from); not in the JSON."""
    aliases: list[dict[str, Any]] = field(default_factory=list)
    """The aliases its registration carried, as `{"urn": ...}` or the spec's set fields (`{"type": ...}`
    for the type aliases pulumi_azure_native's classes add to every resource); not in the JSON."""

    def to_json(self) -> dict[str, Any]:
        extra = {"ignore_changes": self.ignore_changes} if self.ignore_changes else {}
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "inputs": self.inputs,
            "custom": self.custom,
            "protect": self.protect,
            **extra,
        }


@dataclass
class Plan:
    stack: str
    cloud: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    platform: dict[str, Any] = field(default_factory=dict)
    """The validated platform description, with defaults filled in (what `mlops diff` compares)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "cloud": self.cloud,
            "resources": [r.to_json() for r in self.resources],
            "outputs": self.outputs,
            "platform": self.platform,
        }

    def by_type(self, type_: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> PlannedResource:
        found = self.by_type(type_)
        if len(found) != 1:
            raise LookupError(f"expected one {type_}, found {len(found)}")
        return found[0]


class OfflineMocks(pulumi.runtime.Mocks):
    """Answers registrations and invokes from a provider's plan-time fakes (`providers/<cloud>/mocks.py`)."""

    def __init__(self, fakes: Any) -> None:
        self.fakes = fakes

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        extra, resource_id = self.fakes.fake_state(args.typ, args.name, args.inputs)
        state.update(extra)
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return self.fakes.fake_call(args.token, args.args), []


def _alias_json(alias: Any) -> dict[str, Any]:
    """One `pulumirpc.Alias` as plain data: its URN, or the fields its spec sets."""
    if not alias.HasField("spec"):
        return {"urn": alias.urn}
    spec = alias.spec
    fields = {key: getattr(spec, key) for key in ("name", "type", "stack", "project", "parentUrn")}
    return {key: value for key, value in fields.items() if value} | ({"noParent": True} if spec.noParent else {})


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping parent, protect and the raw inputs of each resource."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[PlannedResource] = []
        self._stack_urn: str | None = None
        self.on_resource: Callable[[int, str], None] | None = None
        """Called with the count so far and the type of each resource the program declares."""

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            self._stack_urn = response.urn
            return response
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        parent = request.parent or None
        self.recorded.append(
            PlannedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=None if parent == self._stack_urn else parent,
                inputs=_scrub(inputs),
                custom=bool(request.custom),
                protect=bool(request.protect),
                ignore_changes=list(request.ignoreChanges),
                dependencies=list(request.dependencies),
                aliases=[_alias_json(alias) for alias in request.aliases],
            )
        )
        if self.on_resource is not None:
            self.on_resource(len(self.recorded), request.type)
        return response


def use_offline_mocks(cloud: str, stack: str, cloud_config: Mapping[str, Any] | None = None) -> _RecordingMonitor:
    """Point the Pulumi runtime at `cloud`'s offline mocks (for plans and `@pulumi.runtime.test`)."""
    fakes = importlib.import_module(f"providers.{cloud}.mocks")
    if cloud_config is not None and hasattr(fakes, "configure"):
        fakes.configure(cloud_config)  # e.g. fake ARNs in the stack's own region
    monitor = _RecordingMonitor(OfflineMocks(fakes))
    settings.ROOT.set(None)  # a fresh root stack per run: several plans share one process
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    return monitor


def _config_strings(stack_file: StackFile) -> dict[str, str]:
    """Pulumi keeps config as strings; objects travel as JSON, as the CLI passes them."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in stack_file.config.items()}


class VendorRuleError(SpecError):
    """The plan holds requests the cloud would refuse (one line each, from the provider's vendor rules)."""

    def __init__(self, stack: str, violations: list[str]) -> None:
        self.violations = violations
        shown = "".join(f"\n  {line}" for line in violations)
        super().__init__(stack, f"{len(violations)} request(s) the cloud would refuse:{shown}")


def plan(stack_file: StackFile, on_resource: Callable[[int, str], None] | None = None, *, check: bool = True) -> Plan:
    """Validate the stack, then run the program under mocks. Raises SpecError for bad config, and
    VendorRuleError (a SpecError) when `check` and a planned request breaks a rule of the cloud.

    `on_resource(count, type)` is called as the program declares each resource (progress)."""
    provider, deployment = resolve_file(stack_file)  # fail fast, before the runtime is touched
    monitor = use_offline_mocks(provider.cloud, stack_file.stack, deployment.cloud_config)
    monitor.on_resource = on_resource
    pulumi.runtime.set_all_config(_config_strings(stack_file), list(stack_file.secret_keys))

    outputs: dict[str, Any] = {}

    def capture(key: str, value: Any) -> pulumi.Output[None]:
        out = pulumi.Output.from_input(value)

        async def grab() -> None:
            resolved = await out.future(with_unknowns=True)
            outputs[key] = SECRET_PLACEHOLDER if await out.is_secret() else _scrub(resolved)

        return pulumi.Output.from_input(grab())

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        from infra.program import main

        exported = main()
        return pulumi.Output.all(*[capture(k, v) for k, v in exported.items()])

    # pulumi.dynamic.serialize_provider patches pickle._Pickler for every dynamic resource and never
    # restores it: each plan in a process would nest more wrappers, until pickling anything (a model,
    # in a long test session) recursed past Python's limit. Leave pickle as it was found.
    pickler: Any = pickle._Pickler  # private, untyped in typeshed
    saved = (pickler._batch_setitems, pickler.save_dict)
    try:
        run()
    finally:
        pickler._batch_setitems, pickler.save_dict = saved
    resources = sorted(monitor.recorded, key=lambda r: r.urn)
    if check:
        violations = provider.check_plan([r.to_json() for r in resources])
        if violations:
            raise VendorRuleError(stack_file.stack, violations)
    ordered = {key: outputs[key] for key in sorted(outputs)}
    return Plan(
        stack=stack_file.stack,
        cloud=deployment.cloud,
        resources=resources,
        outputs=ordered,
        platform=deployment.platform.model_dump(mode="json"),
    )
