"""The cloud-neutral pieces of day two: stack outputs, request files, traffic shares, the stack file
rewrite, the registry's lazy import of each cloud's operations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from infra.promote import set_model_version
from providers import registry
from providers.operations import (
    OperationError,
    load_outputs,
    parse_promotion_tag,
    promotion_tag,
    read_records,
    traffic_shares,
)
from providers.spec import SpecError

ROOT = Path(__file__).resolve().parents[2]


# ---- outputs --------------------------------------------------------------------------------------


def test_outputs_from_the_pulumi_cli():
    calls = []

    def run(argv, **kwargs):
        calls.append((argv, kwargs["cwd"]))
        return SimpleNamespace(returncode=0, stdout='{"cloud": "aws", "endpoint": null}', stderr="")

    out = load_outputs("aws-dev", None, cwd=ROOT, which=lambda _: "/usr/bin/pulumi", run=run)
    assert calls == [(["pulumi", "stack", "output", "--json", "--stack", "aws-dev"], ROOT)]
    assert (out.cloud, out.source) == ("aws", "pulumi stack output")


def test_pulumi_cli_failure_is_its_last_line():
    def run(argv, **kwargs):
        return SimpleNamespace(returncode=255, stdout="", stderr="warning: x\nerror: no stack named 'aws-dev' found\n")

    with pytest.raises(OperationError) as err:
        load_outputs("aws-dev", None, which=lambda _: "/usr/bin/pulumi", run=run)
    assert str(err.value) == (
        "`pulumi stack output --json --stack aws-dev` failed: error: no stack named 'aws-dev' found"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--outputs: {path}: no such file"),
        ("not json", "--outputs: {path} is not JSON (Expecting value: line 1 column 1 (char 0))"),
        ("[1, 2]", "--outputs: {path} must hold a JSON object of stack outputs"),
        ('{"endpoint": null}', "--outputs: {path} has no `cloud` output: not the outputs of an mlops stack"),
    ],
)
def test_bad_outputs_file(tmp_path, content, message):
    path = tmp_path / "outputs.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(OperationError) as err:
        load_outputs("s", path)
    assert str(err.value) == message.format(path=path)


# ---- request files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "records"),
    [
        ("one.json", '{"a": 1}', [{"a": 1}]),
        ("many.json", '[{"a": 1}, {"a": 2}]', [{"a": 1}, {"a": 2}]),
        ("vertex.json", '{"instances": [{"a": 1}]}', [{"a": 1}]),
        ("azure.json", '{"data": [{"a": 1}]}', [{"a": 1}]),
        ("rows.csv", "a,b\n1,x\n", [{"a": "1", "b": "x"}]),
    ],
)
def test_request_files(tmp_path, name, text, records):
    path = tmp_path / name
    path.write_text(text)
    assert read_records(path) == records


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("x.json", "[]", "--data: {path} must hold a record, a list of records or {{'instances': [...]}}"),
        ("x.json", "[1]", "--data: {path} must hold a record, a list of records or {{'instances': [...]}}"),
        ("x.csv", "a,b\n", "--data: {path}: no record (a CSV file needs a header row and one row)"),
    ],
)
def test_bad_request_files(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(OperationError) as err:
        read_records(path)
    assert str(err.value) == message.format(path=path)


# ---- traffic and tags -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "shares"),
    [
        ({"a": 1.0}, {"a": 100}),
        ({"a": 1.0, "b": 1.0, "c": 1.0}, {"a": 34, "b": 33, "c": 33}),
        ({"blue": 0.9, "green": 0.1}, {"blue": 90, "green": 10}),
        ({"a": 0.0, "b": 0.0}, {"a": 0, "b": 0}),
    ],
)
def test_traffic_shares_add_up(weights, shares):
    assert traffic_shares(weights) == shares


def test_promotion_tag_round_trip():
    assert promotion_tag(7, "aws-dev") == "v7-from-aws-dev"
    assert promotion_tag(3, "acme/mlops/Prod.EU") == "v3-from-prod-eu"
    assert parse_promotion_tag("v7-from-aws-dev") == (7, "aws-dev")
    assert parse_promotion_tag("7-from-aws-dev") is None
    assert len(promotion_tag(12, "s" * 80)) == 63  # the portable tag rule


# ---- the stack file rewrite --------------------------------------------------------------------------

FILE = """config:
  mlops:cloud: aws
  aws:region: eu-west-1   # Ireland
  # the platform, reviewed by the ML team
  mlops:platform:
    name: churn
    environment: prod
    endpoint:
      model_version: 3    # release 2025-01
      instance: small

      # scaling, tuned in March
      max_replicas: 8
    monitor:
      alert_email: "ml@example.com"
"""


def test_rewrite_keeps_everything_else():
    out = set_model_version(FILE, 4, "promoted from aws-dev version 9", "v4-from-aws-dev")
    assert out == (
        FILE.replace(
            "      model_version: 3    # release 2025-01\n",
            "      model_version: 4    # promoted from aws-dev version 9\n",
        ).replace(
            "    environment: prod\n", "    environment: prod\n    tags:\n      promoted_model: v4-from-aws-dev\n"
        )
    )


def test_rewrite_adds_a_missing_model_version_and_keeps_following_comments():
    text = FILE.replace("      model_version: 3    # release 2025-01\n", "")
    out = set_model_version(text, 1, "promoted", None)
    assert out == text.replace("    endpoint:\n", "    endpoint:\n      model_version: 1  # promoted\n")


def test_rewrite_of_a_null_version():
    text = FILE.replace("model_version: 3    # release 2025-01", "model_version: null")
    assert "      model_version: 2  # promoted\n" in set_model_version(text, 2, "promoted", None)
    assert set_model_version(text, 2, "promoted", None).count("null") == 0


def test_rewrite_refuses_a_layout_it_cannot_reproduce():
    odd = FILE.replace("  mlops:cloud: aws\n", "  mlops:cloud:    aws\n").replace("      instance:", "      instance :")
    with pytest.raises(OperationError) as err:
        set_model_version(odd, 4, "x", None, where="Pulumi.aws-prod.yaml")
    assert str(err.value).startswith("Pulumi.aws-prod.yaml: cannot rewrite it without changing its layout")


@pytest.mark.parametrize("stack", ["aws-dev", "gcp-dev", "azure-dev"])
def test_rewrite_of_the_example_stacks_changes_two_lines(stack):
    text = (ROOT / f"Pulumi.{stack}.yaml").read_text()
    out = set_model_version(text, 9, "promoted", "v9-from-x")
    changed = [(a, b) for a, b in zip(text.splitlines(), out.splitlines(), strict=True) if a != b]
    assert changed == [
        ("    tags: {team: ml-platform}", "    tags: {team: ml-platform, promoted_model: v9-from-x}"),
        ("      model_version: 1", "      model_version: 9  # promoted"),
    ]


# ---- the registry ----------------------------------------------------------------------------------


def test_registry_gives_each_clouds_operations():
    for cloud in registry.clouds():
        assert registry.operations(cloud).cloud == cloud
    with pytest.raises(SpecError) as err:
        registry.operations("oracle", key="--outputs cloud")
    assert str(err.value) == "--outputs cloud: unknown cloud 'oracle'; must be one of aws, gcp, azure"


PROBE = """
import json, sys
from providers import registry
import infra.ops_cli
registry.operations(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""
FOREIGN = {
    "aws": ("boto3", "botocore", "providers.aws"),
    "gcp": ("google.cloud.aiplatform", "google.cloud.aiplatform_v1", "google.cloud.logging", "providers.gcp"),
    "azure": ("azure.ai.ml", "azure.core", "providers.azure"),
}


@pytest.mark.parametrize("cloud", sorted(FOREIGN))
def test_one_clouds_operations_import_no_other_cloud(cloud):
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, cloud], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert f"providers.{cloud}.operations" in modules
    for other, names in FOREIGN.items():
        if other != cloud:
            loaded = [m for m in modules for n in names if m == n or m.startswith(n + ".")]
            assert loaded == [], f"{cloud} operations imported {other} code: {loaded[:5]}"
