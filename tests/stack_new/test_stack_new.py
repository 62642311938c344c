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


# --- issue 15: --set into the platform, model_version, rules with stand-ins, names, --dry-run -------


def test_set_writes_into_the_platform_and_a_new_environment_serves_nothing(stacks, capsys):
    code, out, err = new(
        capsys,
        stacks,
        "aws-prod",
        "--cloud",
        "aws",
        "--from",
        "aws-dev",
        "--set",
        "aws:region=eu-west-1",
        "--set",
        "mlops:platform.environment=prod",
        "--set",
        "mlops:platform.endpoint.max_replicas=8",
    )
    assert code == 0, err
    target = load_stack_file(stacks / "Pulumi.aws-prod.yaml")
    platform = target.config["mlops:platform"]
    assert platform["environment"] == "prod" and platform["endpoint"]["max_replicas"] == 8
    assert platform["endpoint"]["model_version"] is None
    assert "mlops:platform.environment" not in target.config  # no dead top-level key
    _, deployment = resolve_file(target)
    assert deployment.platform.prefix == "churn-prod"  # new physical names
    assert "endpoint.model_version set to null" in out
    text = (stacks / "Pulumi.aws-prod.yaml").read_text()
    assert "- {name: tenure_months, type: int}" in text  # comments and flow style survive the edit


def test_an_explicit_model_version_is_kept(stacks, capsys):
    code, _, err = new(
        capsys,
        stacks,
        "gcp-dev",
        "--cloud",
        "gcp",
        "--from",
        "aws-dev",
        "--set",
        "mlops:platform.endpoint.model_version=3",
    )
    assert code == 0, err
    assert load_stack_file(stacks / "Pulumi.gcp-dev.yaml").config["mlops:platform"]["endpoint"]["model_version"] == 3


def test_target_cloud_rules_are_checked_while_keys_are_placeholders(stacks, capsys):
    # Azure ML cron triggers ignore the day of month: this schedule is fine on AWS, not on Azure.
    code, _, err = new(
        capsys,
        stacks,
        "az-dev",
        "--cloud",
        "azure",
        "--from",
        "aws-dev",
        "--set",
        "mlops:platform.pipeline.schedule=0 3 1 * *",
    )
    assert code == 2
    assert err.startswith("mlops: invalid config: mlops:platform.pipeline.schedule: '0 3 1 * *': Azure ML schedules")
    assert err.count("\n") == 1
    assert not (stacks / "Pulumi.az-dev.yaml").exists()
    code, out, _ = new(capsys, stacks, "az-dev", "--cloud", "azure", "--from", "aws-dev")
    assert code == 0
    assert "left to fill in (1): azure-native:location" in out
    assert "valid on azure (checked with azure-native:location=westeurope in place of the keys to fill in)" in out


@pytest.mark.parametrize("name", ["..", ".", "a/b", "x" * 101, "sp ace"])
def test_stack_names_pulumi_refuses(stacks, capsys, name):
    code, _, err = new(capsys, stacks, name, "--cloud", "aws", "--from", "aws-dev")
    assert code == 2
    assert "NAME: a stack name is 1-100 letters, digits, '-', '_' and '.' (not '.' or '..')" in err
    assert sorted(p.name for p in stacks.iterdir()) == ["Pulumi.aws-dev.yaml"]


def test_dry_run_writes_nothing(stacks, capsys):
    code, out, err = new(
        capsys,
        stacks,
        "gcp-dev",
        "--cloud",
        "gcp",
        "--from",
        "aws-dev",
        "--dry-run",
        "--set",
        "gcp:project=my-ml-project",
    )
    assert code == 0
    assert out.startswith("# Created by `mlops stack new gcp-dev --cloud gcp --from aws-dev")
    assert "  mlops:cloud: gcp" in out and "gcp:project: my-ml-project" in out
    assert "dry run" in err and "left" not in out
    assert sorted(p.name for p in stacks.iterdir()) == ["Pulumi.aws-dev.yaml"]


def test_bad_platform_set(stacks, capsys):
    code, _, err = new(
        capsys, stacks, "x-dev", "--cloud", "aws", "--from", "aws-dev", "--set", "mlops:platform.name.first=x"
    )
    assert code == 2 and "--set mlops:platform.name.first: name is not a mapping" in err
