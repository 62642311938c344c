"""The danger tables name real Pulumi types: each token is checked against the installed SDK."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from infra.diff import DATA_BEARING, DATA_BEARING_TYPES, REPLACE_ON_CHANGE

_PACKAGES = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "azure-native": "pulumi_azure_native"}


def _module_dir(token: str) -> Path | None:
    package, module = token.split(":")[0], token.split(":")[1].split("/")[0]
    spec = importlib.util.find_spec(_PACKAGES[package])
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / module


@pytest.mark.parametrize("token", sorted(set(DATA_BEARING_TYPES) | set(REPLACE_ON_CHANGE)))
def test_token_exists_in_the_installed_sdk(token):
    directory = _module_dir(token)
    if directory is None:
        pytest.skip(f"{token.split(':')[0]} SDK not installed")
    quoted = re.compile(rf"""['"]{re.escape(token)}['"]""")
    assert any(quoted.search(f.read_text(encoding="utf-8")) for f in directory.glob("*.py")), token


def test_one_table_covers_every_cloud():
    assert set(DATA_BEARING) == {"aws", "gcp", "azure"}
    prefixes = {"aws": "aws:", "gcp": "gcp:", "azure": "azure-native:"}
    for cloud, table in DATA_BEARING.items():
        assert table and all(t.startswith(prefixes[cloud]) for t in table)
    # Every data-bearing type says what a replace would be triggered by.
    assert set(DATA_BEARING_TYPES) <= set(REPLACE_ON_CHANGE)
