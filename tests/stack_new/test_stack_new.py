"""`mlops stack new`: the same platform description on another cloud, as a valid stack file."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from infra.cli import main
from infra.config import load_stack_file, resolve_file
from infra.stack_new import provider_keys
from providers import registry

ROOT = Path(__file__).resolve().parents[2]
VALUES = {
    "aws:region": "eu-central-1",
    "gcp:project": "my-ml-project",
    "gcp:region": "europe-west4",
    "azure-native:location": "westeurope",
}


@pytest.fixture()
def stacks(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Pulumi.aws-dev.yaml", tmp_path)
    return tmp_path


def new(capsys, directory: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["stack", "new", *argv, "--dir", str(directory)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("cloud", registry.implemented())
def test_round_trip_to_a_valid_stack(stacks, capsys, cloud):
    keys, _, _ = provider_keys(cloud)
    sets = [f"--set={key}={VALUES[key]}" for key in keys]
    code, out, _ = new(capsys, stacks, f"{cloud}-copy", "--cloud", cloud, "--from", "aws-dev", *sets)
    assert code == 0, out
    assert "valid" in out
    source = load_stack_file(stacks / "Pulumi.aws-dev.yaml")
    target = load_stack_file(stacks / f"Pulumi.{cloud}-copy.yaml")
    expected = copy.deepcopy(source.config["mlops:platform"])
    if cloud != "aws":  # a new cloud's registry holds no model yet
        expected["endpoint"]["model_version"] = None
        assert "endpoint.model_version set to null" in out
    assert target.config["mlops:platform"] == expected
    assert target.config["mlops:cloud"] == cloud
    assert {k: target.config[k] for k in keys} == {k: VALUES[k] for k in keys}
    if cloud != "aws":
        assert "aws:region" not in target.config
    provider, deployment = resolve_file(target)
    assert provider.cloud == cloud and deployment.platform.prefix == "churn-dev"
    # The text is copied, not re-dumped: the flow style of the source survives.
    assert "- {name: tenure_months, type: int}" in (stacks / f"Pulumi.{cloud}-copy.yaml").read_text()


@pytest.mark.parametrize("cloud", registry.clouds())
def test_missing_keys_are_left_as_todo(stacks, capsys, cloud):
    code, out, _ = new(capsys, stacks, f"{cloud}-todo", "--cloud", cloud, "--from", "aws-dev")
    assert code == 0
    path = stacks / f"Pulumi.{cloud}-todo.yaml"
    text = path.read_text(encoding="utf-8")
    keys, _, _ = provider_keys(cloud)
    for key in keys:
        assert f'  {key}: ""  # TODO: set {key}' in text
        assert key in out
    assert "left to fill in" in out
    expected = load_stack_file(stacks / "Pulumi.aws-dev.yaml").config["mlops:platform"]
    if cloud != "aws":
        expected["endpoint"]["model_version"] = None
    assert yaml.safe_load(text)["config"]["mlops:platform"] == expected


def test_refuses_to_overwrite_without_force(stacks, capsys):
    assert (
        new(capsys, stacks, "aws-two", "--cloud", "aws", "--from", "aws-dev", "--set", "aws:region=us-east-1")[0] == 0
    )
    before = (stacks / "Pulumi.aws-two.yaml").read_text()
    code, _, err = new(capsys, stacks, "aws-two", "--cloud", "aws", "--from", "aws-dev")
    assert code == 2 and "--force" in err
    assert (stacks / "Pulumi.aws-two.yaml").read_text() == before
    code, _, _ = new(
        capsys,
        stacks,
        "aws-two",
        "--cloud",
        "aws",
        "--from",
        "aws-dev",
        "--force",
        "--set",
        "aws:region=eu-west-3",
    )
    assert code == 0 and "aws:region: eu-west-3" in (stacks / "Pulumi.aws-two.yaml").read_text()


def test_invalid_stack_is_not_written(stacks, capsys):
    code, _, err = new(capsys, stacks, "aws-bad", "--cloud", "aws", "--from", "aws-dev", "--set", "aws:region=Mars 1")
    assert code == 2 and "aws:region" in err
    assert not (stacks / "Pulumi.aws-bad.yaml").exists()
    assert sorted(p.name for p in stacks.iterdir()) == ["Pulumi.aws-dev.yaml"]  # no temp file left


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--set", "aws:region=eu-west-1", "--cloud", "gcp"], "not a gcp provider key"),
        (["--set", "mlops:cloud=gcp", "--cloud", "gcp"], "written by `mlops stack new`"),
        (["--set", "gcp:project", "--cloud", "gcp"], "namespace:key=value"),
    ],
)
def test_bad_set_is_rejected(stacks, capsys, argv, message):
    code, _, err = new(capsys, stacks, "x-dev", "--from", "aws-dev", *argv)
    assert code == 2 and message in err
    assert not (stacks / "Pulumi.x-dev.yaml").exists()


def test_unknown_source_stack(stacks, capsys):
    code, _, err = new(capsys, stacks, "gcp-dev", "--cloud", "gcp", "--from", "nope")
    assert code == 2 and "Pulumi.nope.yaml" in err


def test_secrets_are_not_copied(stacks, capsys):
    source = stacks / "Pulumi.aws-dev.yaml"
    document = yaml.safe_load(source.read_text())
    document["config"]["mlops:webhook"] = {"secure": "AAABAcipher"}
    source.write_text(yaml.safe_dump(document, sort_keys=False))
    code, _, _ = new(capsys, stacks, "aws-copy", "--cloud", "aws", "--from", "aws-dev", "--set", "aws:region=eu-west-1")
    text = (stacks / "Pulumi.aws-copy.yaml").read_text()
    assert code == 0 and "AAABAcipher" not in text
    assert "pulumi config set --secret mlops:webhook" in text
    assert (
        load_stack_file(stacks / "Pulumi.aws-copy.yaml").config["mlops:platform"]
        == document["config"]["mlops:platform"]
    )
