"""The `mlops` command: exit codes, one-line errors, the plan JSON, the local pipeline run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.cli import main
from providers import registry
from providers.spec import SpecError

ROOT = Path(__file__).resolve().parents[2]


def write_stack(tmp_path: Path, mutate=None, name: str = "Pulumi.t-dev.yaml") -> Path:
    document = yaml.safe_load((ROOT / "Pulumi.aws-dev.yaml").read_text())
    if mutate:
        mutate(document["config"])
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document))
    return path


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_validate_ok(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["validate", "--stack", "aws-dev"]) == 0
    assert "aws-dev: valid (aws, eu-west-1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c["mlops:platform"].update(name="Churn!"), "mlops:platform.name: must be 3-20 characters"),
        (lambda c: c.update({"mlops:cloud": "oracle"}), "mlops:cloud: unknown cloud 'oracle'"),
        (lambda c: c["mlops:platform"]["endpoint"].update(instance="huge"), "mlops:platform.endpoint.instance"),
        (lambda c: c["mlops:platform"]["pipeline"].update(schedule="daily"), "mlops:platform.pipeline.schedule"),
        (lambda c: c.pop("aws:region"), "aws:region: is required when mlops:cloud is aws"),
        (
            lambda c: c["mlops:platform"]["pipeline"]["quality_gate"].update(metric="auc"),
            "mlops:platform.pipeline.quality_gate.metric: 'auc' is not a metric pipeline 'churn' reports; "
            "its metrics: roc_auc, accuracy, f1, precision, recall",
        ),
    ],
)
def test_invalid_config_exits_2_with_one_line(tmp_path, capsys, mutate, message):
    path = write_stack(tmp_path, mutate)
    assert main(["validate", "--config-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_subprocess_error_has_no_traceback(tmp_path):
    path = write_stack(
        tmp_path, lambda c: c["mlops:platform"]["feature_store"]["feature_groups"][0].update(name="Customer Profile")
    )
    proc = run_cli("plan", "--config-file", str(path))
    assert proc.returncode == 2
    assert proc.stderr.startswith("mlops: invalid config: mlops:platform.feature_store.feature_groups[0].name")
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_bad_yaml_and_missing_file(tmp_path, capsys):
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  mlops:cloud: [aws\n")
    assert main(["validate", "--config-file", str(bad)]) == 2
    assert "is not valid YAML at line" in capsys.readouterr().err
    assert main(["validate", "--config-file", str(tmp_path / "Pulumi.none.yaml")]) == 2
    assert "no such stack file" in capsys.readouterr().err
    assert main(["validate", "--stack", "nope"]) == 2
    assert "no stack file Pulumi.nope.yaml" in capsys.readouterr().err


def test_usage_errors_exit_2():
    proc = run_cli("plan", "--format", "xml", "--stack", "aws-dev")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_unimplemented_cloud_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(registry._PROVIDERS, "gcp", ("providers.not_there", "Nope"))
    with pytest.raises(SpecError, match="the gcp provider is not implemented yet"):
        registry.get("gcp")


def test_plan_json_shape(tmp_path, capsys):
    path = write_stack(tmp_path)
    assert main(["plan", "--config-file", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"stack", "cloud", "resources", "outputs"} <= set(data)
    assert data["stack"] == "t-dev" and data["cloud"] == "aws"
    resource = data["resources"][0]
    assert {"urn", "type", "name", "parent", "inputs"} <= set(resource)
    assert all(r["urn"].startswith("urn:pulumi:t-dev::mlops::") for r in data["resources"])
    children = [r for r in data["resources"] if r["type"] == "aws:s3/bucket:Bucket"]
    assert children[0]["parent"].endswith("mlops:aws:Foundation::churn-dev-foundation")
    assert data["outputs"]["cloud"] == "aws"


def test_plan_stack_name_from_option_and_table(tmp_path, capsys):
    path = write_stack(tmp_path, name="custom.yaml")
    assert main(["plan", "--config-file", str(path), "--stack-name", "prod-eu"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Previewing stack prod-eu (aws):")
    assert (
        " +   │  └─ aws:sagemaker:FeatureGroup" in out
        and "churn-dev-feature-store-customer_profile  [protected]" in out
    )


def test_secure_values_never_reach_the_plan(tmp_path, capsys):
    def mutate(config):
        config["mlops:webhook"] = {"secure": "v1:AAAABBBBCCCC"}

    path = write_stack(tmp_path, mutate)
    assert main(["plan", "--config-file", str(path), "--format", "json"]) == 0
    assert "AAAABBBBCCCC" not in capsys.readouterr().out


def test_pipeline_run_local(tmp_path):
    proc = run_cli("pipeline", "run", "churn", "--local", "--rows", "400", "--workdir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for step in ("validate", "features", "train", "evaluate"):
        assert f"> {step}" in out and f"✓ {step}" in out
    assert "roc_auc:" in out
    assert "quality gate roc_auc >= 0.75: PASSED" in out
    assert (tmp_path / "train").exists()


def test_pipeline_run_unknown_name_and_bad_gate(capsys):
    assert main(["pipeline", "run", "nope", "--local"]) == 2
    assert "unknown pipeline 'nope'" in capsys.readouterr().err
    assert main(["pipeline", "run", "churn", "--local", "--gate", "auc=0.7"]) == 2
    assert "--gate: must look like roc_auc:0.75 (or 'roc_auc>=0.75', quoted)" in capsys.readouterr().err


def test_non_utf8_file_and_non_plain_values_exit_2(tmp_path, capsys):
    binary = tmp_path / "Pulumi.bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    assert main(["validate", "--config-file", str(binary)]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err
    dated = write_stack(tmp_path, lambda c: c.update({"mlops:when": __import__("datetime").date(2024, 1, 1)}))
    assert main(["plan", "--config-file", str(dated)]) == 2
    err = capsys.readouterr().err
    assert "mlops:when: datetime.date(2024, 1, 1) is not a plain value: quote it" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gate", "roc_auc>=1.5"], "--gate: threshold must be between 0 and 1, got '1.5'"),
        (["--gate", "roc_auc>=nan"], "--gate: threshold must be between 0 and 1"),
        (["--gate", "nonsense>=0.5"], "--gate: unknown quality gate metric 'nonsense'"),
        (["--rows", "99"], "--rows: must be between 100 and 1,000,000, got 99"),
        (["--rows", "100000000"], "--rows: must be between 100 and 1,000,000"),
    ],
)
def test_pipeline_run_rejects_bad_options_before_any_work(capsys, args, message):
    assert main(["pipeline", "run", "churn", "--local", *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.count("\n") == 1
    assert "local run of every step" not in captured.out  # nothing started, no temp dir made


def test_pipeline_run_workdir_that_is_a_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["pipeline", "run", "churn", "--local", "--workdir", str(afile)]) == 2
    assert "--workdir: " in capsys.readouterr().err


def test_pipeline_run_missing_the_gate_exits_4_and_registers_nothing(tmp_path):
    proc = run_cli(
        "pipeline", "run", "churn", "--local", "--rows", "300", "--gate", "f1>=0.99", "--workdir", str(tmp_path)
    )
    assert proc.returncode == 4, proc.stderr
    assert "quality gate f1 >= 0.99: FAILED" in proc.stdout
    assert "model: " not in proc.stdout
    assert "model not registered: it missed the quality gate" in proc.stderr
