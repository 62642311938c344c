"""Where pulumi_azure_native offers an enum for an input, the provider passes the enum, not a bare
string (issue 14: "the vendor SDKs' enums used where the SDK offers them").

Reads providers/azure/*.py: every call of a pulumi_azure_native resource or `*Args` class with
- a string literal (or `a if c else b` of literals) for a keyword whose SDK annotation names an enum
  that has that value;
- a value read off the settings (`settings.x`, `s.x` where `s = deployment.settings`,
  `self.settings.x.y`, a parameter annotated AzureSettings) for a keyword whose SDK annotation names
  an enum, unless the settings attribute is annotated (providers/azure/translate.py) with that enum.
Enums are str subclasses: the serialized inputs are the same strings.
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _literals(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    return []


def _signature_class(module: object, name: str) -> type | None:
    """The class whose __init__ types the keywords: the `*Args` class itself, or a resource's `<Name>Args`."""
    cls = getattr(module, name, None)
    if not inspect.isclass(cls):
        return None
    if name.endswith("Args"):
        return cls
    args = getattr(module, f"{name}Args", None)
    return args if inspect.isclass(args) else None


def _enum_of(module: object, annotation: object, value: str) -> str | None:
    """`Enum.MEMBER` of `module` named in `annotation` whose value is `value`, if any."""
    for enum_name in re.findall(r"'(\w+)'", str(annotation)):
        found = getattr(module, enum_name, None)
        if inspect.isclass(found) and issubclass(found, enum.Enum):
            for member in found:
                if member.value == value:
                    return f"{enum_name}.{member.name}"
    return None


def _modules(tree: ast.Module) -> dict[str, str]:
    """Local name -> pulumi_azure_native module, from `from pulumi_azure_native import x [as y]`."""
    modules: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "pulumi_azure_native":
            for a in node.names:
                modules[a.asname or a.name] = f"pulumi_azure_native.{a.name}"
    return modules


def _sdk_calls(tree: ast.AST, modules: dict[str, str]) -> Iterator[tuple[ast.Call, str, str, str]]:
    """(call, module alias, module, class name) for each call of a pulumi_azure_native resource or
    `*Args` class under `tree`."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in modules
        ):
            yield node, node.func.value.id, modules[node.func.value.id], node.func.attr


def splat_targets(paths: list[Path]) -> dict[str, tuple[str, str, str]]:
    """Function name -> (module alias, module, class name) for keywords built by a function and
    spread into an SDK call (`ml.Workspace(..., **foundation.workspace_args(rules))`)."""
    targets: dict[str, tuple[str, str, str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call, alias, module, name in _sdk_calls(tree, _modules(tree)):
            for keyword in call.keywords:
                if keyword.arg is None and isinstance(keyword.value, ast.Call):
                    func = keyword.value.func
                    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                    if called is not None:
                        targets[called] = (alias, module, name)
    return targets


def _sdk_keywords(
    scope: ast.AST, modules: dict[str, str], splats: dict[str, tuple[str, str, str]]
) -> Iterator[tuple[str, str, object, dict[str, inspect.Parameter], ast.keyword]]:
    """(module alias, class name, module, its __init__ parameters, keyword) for each keyword of each
    call of a pulumi_azure_native resource or `*Args` class under `scope`, and of each `return
    dict(...)` of a function whose result such a call spreads (`splats`)."""
    calls: list[tuple[ast.Call, str, str, str]] = list(_sdk_calls(scope, modules))
    for node in ast.walk(scope):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in splats:
            calls += [
                (returned.value, *splats[node.name])
                for returned in ast.walk(node)
                if isinstance(returned, ast.Return)
                and isinstance(returned.value, ast.Call)
                and isinstance(returned.value.func, ast.Name)
                and returned.value.func.id == "dict"
            ]
    for call, alias, module_name, name in calls:
        module = importlib.import_module(module_name)
        cls = _signature_class(module, name)
        if cls is None:
            continue
        parameters = dict(inspect.signature(cls.__init__).parameters)
        for keyword in call.keywords:
            if keyword.arg in parameters:
                yield alias, name, module, parameters, keyword


def _azure_files() -> list[Path]:
    return sorted((ROOT / "providers" / "azure").glob("*.py"))


def bare_strings(path: Path, splats: dict[str, tuple[str, str, str]] | None = None) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    splats = splat_targets(_azure_files()) if splats is None else splats
    found = []
    for alias, name, module, parameters, keyword in _sdk_keywords(tree, _modules(tree), splats):
        for value in _literals(keyword.value):
            member = _enum_of(module, parameters[keyword.arg].annotation, value)  # type: ignore[index]
            if member is not None:
                found.append(
                    f"{path.name}:{keyword.value.lineno} {alias}.{name}({keyword.arg}={value!r}): use {alias}.{member}"
                )
    return found


def settings_types(translate: Path = ROOT / "providers" / "azure" / "translate.py") -> dict[str, dict[str, str]]:
    """Class -> attribute -> annotation (as written), for the classes of translate.py: their
    annotated fields and their properties' return annotations (AzureSettings, VmSize, ...)."""
    types: dict[str, dict[str, str]] = {}
    for node in ast.parse(translate.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef):
            attrs = types.setdefault(node.name, {})
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    attrs[item.target.id] = ast.unparse(item.annotation)
                elif (
                    isinstance(item, ast.FunctionDef)
                    and item.returns is not None
                    and any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list)
                ):
                    attrs[item.name] = ast.unparse(item.returns)
    return types


def _settings_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Names a function binds to the settings: `settings`, `x = <...>.settings` (alone or in a
    tuple assignment), and parameters annotated AzureSettings."""
    names = {"settings"}
    arguments = function.args
    for argument in arguments.posonlyargs + arguments.args + arguments.kwonlyargs:
        if argument.annotation is not None and "AzureSettings" in ast.unparse(argument.annotation):
            names.add(argument.arg)
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = (
                    zip(target.elts, node.value.elts, strict=False)
                    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                    else [(target, node.value)]
                )
                for name, value in pairs:
                    if isinstance(name, ast.Name) and isinstance(value, ast.Attribute) and value.attr == "settings":
                        names.add(name.id)
    return names


def _settings_path(node: ast.expr, names: set[str]) -> list[str] | None:
    """The attributes read off the settings (`settings.a.b` -> [a, b]), or None if not the settings."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        if node.attr == "settings":  # self.settings.x, deployment.settings.x
            return attrs[::-1] or None
        attrs.append(node.attr)
        node = node.value
    return attrs[::-1] or None if isinstance(node, ast.Name) and node.id in names else None


def _resolve(path: list[str], types: dict[str, dict[str, str]]) -> str | None:
    """The annotation of `AzureSettings.<path>` (through the classes of translate.py), None if unknown."""
    annotation = "AzureSettings"
    for attr in path:
        annotation = types.get(annotation.replace(" | None", "").strip(), {}).get(attr)  # type: ignore[assignment]
        if annotation is None:
            return None
    return annotation


def settings_into_enums(
    path: Path,
    types: dict[str, dict[str, str]] | None = None,
    splats: dict[str, tuple[str, str, str]] | None = None,
) -> list[str]:
    """Keywords whose SDK annotation names an enum and whose value is a settings attribute that is
    not annotated with that enum (a `str` setting reaching an enum-typed input)."""
    types = settings_types() if types is None else types
    splats = splat_targets(_azure_files()) if splats is None else splats
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = _modules(tree)
    found: set[tuple[int, str]] = set()
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        names = _settings_names(function)
        for alias, name, module, parameters, keyword in _sdk_keywords(function, modules, splats):
            values = (
                [keyword.value.body, keyword.value.orelse] if isinstance(keyword.value, ast.IfExp) else [keyword.value]
            )
            for value in values:
                attrs = _settings_path(value, names)
                if attrs is None:
                    continue
                enums = [
                    enum_name
                    for enum_name in re.findall(r"'(\w+)'", str(parameters[keyword.arg].annotation))  # type: ignore[index]
                    if inspect.isclass(getattr(module, enum_name, None))
                    and issubclass(getattr(module, enum_name), enum.Enum)
                ]
                annotation = _resolve(attrs, types)
                if enums and not any(re.search(rf"\b{e}\b", annotation or "") for e in enums):
                    found.add(
                        (
                            value.lineno,
                            f"{path.name}:{value.lineno} {alias}.{name}({keyword.arg}={ast.unparse(value)}): "
                            f"the setting is typed {annotation or '(unknown)'}; pass {alias}.{enums[0]}",
                        )
                    )
    return [line for _, line in sorted(found)]


def test_no_bare_string_where_pulumi_azure_native_has_an_enum() -> None:
    splats = splat_targets(_azure_files())
    assert "workspace_args" in splats  # the workspace's shared keywords are checked too
    found = [line for path in _azure_files() for line in bare_strings(path, splats)]
    assert found == []


def test_the_check_sees_a_bare_string(tmp_path: Path) -> None:
    source = (
        "from pulumi_azure_native import storage\n"
        "storage.BlobContainer('c', public_access='None')\n"
        "storage.StorageAccount('a', kind='StorageV2', sku=storage.SkuArgs(name='Standard_LRS'))\n"
        "storage.NetworkRuleSetArgs(default_action='Deny' if True else 'Allow')\n"
        "storage.BlobContainer('ok', public_access=storage.PublicAccess.NONE, container_name='data')\n"
        "def shared(self):\n"
        "    return dict(access_tier='Hot', allow_blob_public_access=False)\n"
        "storage.StorageAccount('b', **self.shared())\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    splats = splat_targets([path])
    assert splats == {"shared": ("storage", "pulumi_azure_native.storage", "StorageAccount")}
    assert sorted(line.split(": use ")[1] for line in bare_strings(path, splats)) == [
        "storage.AccessTier.HOT",
        "storage.DefaultAction.ALLOW",
        "storage.DefaultAction.DENY",
        "storage.Kind.STORAGE_V2",
        "storage.PublicAccess.NONE",
        "storage.SkuName.STANDARD_LRS",
    ]


def test_no_str_setting_reaches_an_enum_input() -> None:
    splats = splat_targets(_azure_files())
    found = [line for path in _azure_files() for line in settings_into_enums(path, splats=splats)]
    assert found == []


def test_the_check_sees_a_setting_reaching_an_enum(tmp_path: Path) -> None:
    source = (
        "from pulumi_azure_native import machinelearningservices as ml, redis\n"
        "def f(deployment, foundation):\n"
        "    s, p = deployment.settings, deployment.platform\n"
        "    ml.Workspace('w', public_network_access=s.public_network_access)\n"
        "    redis.Redis('r', public_network_access=deployment.settings.public_network_access if p else None)\n"
        "    ml.OnlineEndpointPropertiesArgs(\n"
        "        auth_mode='AADToken', public_network_access=ml.PublicNetworkAccessType(s.public_network_access)\n"
        "    )\n"
        "    ml.Workspace('ok', location=s.location, friendly_name=s.prefix)\n"
        "    redis.SkuArgs(name=s.cache_size.name, family='C', capacity=1)\n"
        "def g(self, settings: 'AzureSettings'):\n"
        "    ml.ManagedOnlineDeploymentArgs(\n"
        "        endpoint_compute_type='Managed', egress_public_network_access=settings.public_network_access\n"
        "    )\n"
        "    ml.Workspace('w', public_network_access=self.settings.public_network_access)\n"
        "def workspace_args(self):\n"
        "    settings = self.settings\n"
        "    return dict(hbi_workspace=True, public_network_access=settings.public_network_access)\n"
        "ml.Workspace('s', **foundation.workspace_args())\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    types = {
        "AzureSettings": {"public_network_access": "str", "location": "str", "prefix": "str", "cache_size": "VmSize"},
        "VmSize": {"name": "str"},
    }
    splats = splat_targets([path])
    assert [line.split(" ", 1)[1] for line in settings_into_enums(path, types, splats)] == [
        "ml.Workspace(public_network_access=s.public_network_access): the setting is typed str; "
        "pass ml.PublicNetworkAccessType",
        "redis.Redis(public_network_access=deployment.settings.public_network_access): the setting is typed str; "
        "pass redis.PublicNetworkAccess",
        "redis.SkuArgs(name=s.cache_size.name): the setting is typed str; pass redis.SkuName",
        "ml.ManagedOnlineDeploymentArgs(egress_public_network_access=settings.public_network_access): the setting "
        "is typed str; pass ml.EgressPublicNetworkAccessType",
        "ml.Workspace(public_network_access=self.settings.public_network_access): the setting is typed str; "
        "pass ml.PublicNetworkAccessType",
        "ml.Workspace(public_network_access=settings.public_network_access): the setting is typed str; "
        "pass ml.PublicNetworkAccessType",
    ]
    typed = {"AzureSettings": {"public_network_access": "ml.PublicNetworkAccessType"}}
    assert [line for line in settings_into_enums(path, typed, splats) if "ml.Workspace(" in line] == []
