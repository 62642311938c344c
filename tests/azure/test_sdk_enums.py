"""Where pulumi_azure_native offers an enum for an input, the provider passes the enum, not a bare
string (issue 14: "the vendor SDKs' enums used where the SDK offers them").

Reads providers/azure/*.py: every call of a pulumi_azure_native resource or `*Args` class with a
string literal (or `a if c else b` of literals) for a keyword whose SDK annotation names an enum
that has that value. Enums are str subclasses: the serialized inputs are the same strings.
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import re
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


def bare_strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "pulumi_azure_native":
            for a in node.names:
                modules[a.asname or a.name] = f"pulumi_azure_native.{a.name}"
    found = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in modules
        ):
            continue
        module = importlib.import_module(modules[node.func.value.id])
        cls = _signature_class(module, node.func.attr)
        if cls is None:
            continue
        parameters = inspect.signature(cls.__init__).parameters
        for keyword in node.keywords:
            if keyword.arg not in parameters:
                continue
            for value in _literals(keyword.value):
                member = _enum_of(module, parameters[keyword.arg].annotation, value)
                if member is not None:
                    found.append(
                        f"{path.name}:{keyword.value.lineno} {node.func.value.id}.{node.func.attr}"
                        f"({keyword.arg}={value!r}): use {node.func.value.id}.{member}"
                    )
    return found


def test_no_bare_string_where_pulumi_azure_native_has_an_enum() -> None:
    found = [line for path in sorted((ROOT / "providers" / "azure").glob("*.py")) for line in bare_strings(path)]
    assert found == []


def test_the_check_sees_a_bare_string(tmp_path: Path) -> None:
    source = (
        "from pulumi_azure_native import storage\n"
        "storage.BlobContainer('c', public_access='None')\n"
        "storage.StorageAccount('a', kind='StorageV2', sku=storage.SkuArgs(name='Standard_LRS'))\n"
        "storage.NetworkRuleSetArgs(default_action='Deny' if True else 'Allow')\n"
        "storage.BlobContainer('ok', public_access=storage.PublicAccess.NONE, container_name='data')\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    assert sorted(line.split(": use ")[1] for line in bare_strings(path)) == [
        "storage.DefaultAction.ALLOW",
        "storage.DefaultAction.DENY",
        "storage.Kind.STORAGE_V2",
        "storage.PublicAccess.NONE",
        "storage.SkuName.STANDARD_LRS",
    ]
