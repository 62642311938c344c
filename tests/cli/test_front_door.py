"""Issue 15's front door: each case exits 2 with one line naming the key, or gives the right result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


@pytest.fixture(scope="module")
def aws_plan_json(tmp_path_factory) -> dict:
    """The example AWS stack planned from a directory outside the project (asset paths must not care)."""
    outside = tmp_path_factory.mktemp("elsewhere")
    proc = run_cli("plan", "--config-file", str(ROOT / "Pulumi.aws-dev.yaml"), "--format", "json", cwd=outside)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# --- output paths ------------------------------------------------------------------------------


def test_plan_output_to_a_directory_is_refused_before_planning(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["plan", "--stack", "aws-dev", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"mlops: invalid config: --output: {tmp_path} is a directory; give a file name" in err
    assert one_line(err)


def test_plan_output_into_missing_directories(tmp_path, aws_plan_json):
    target = tmp_path / "missing" / "dir" / "x.json"
    proc = run_cli("plan", "--stack", "aws-dev", "--format", "json", "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(target.read_text()) == aws_plan_json  # also: the same plan from any directory
    assert f"wrote {target} (88 resources)" in proc.stderr


def test_diff_output_to_a_directory(tmp_path, capsys, aws_plan_json):
    plan_file = tmp_path / "p.json"
    plan_file.write_text(json.dumps(aws_plan_json))
    assert main(["diff", str(plan_file), str(plan_file), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--output: " in err and "is a directory" in err and one_line(err)
    assert main(["diff", str(plan_file), str(plan_file), "-o", str(tmp_path / "new" / "d.md")]) == 0
    assert "No changes." in (tmp_path / "new" / "d.md").read_text()


def test_plan_output_under_a_file_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["plan", "--stack", "aws-dev", "-o", str(afile / "x.json")]) == 2
    err = capsys.readouterr().err
    assert f"--output: {afile} is a file, not a directory" in err and one_line(err)


# --- plan reads like pulumi preview ----------------------------------------------------------------


def test_plan_json_does_not_depend_on_the_directory(aws_plan_json):
    proc = run_cli("plan", "--stack", "aws-dev", "--format", "json", cwd=ROOT / "docs")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == aws_plan_json
    assets = [
        value
        for r in aws_plan_json["resources"]
        for value in r["inputs"].values()
        if isinstance(value, dict) and "path" in value
    ]
    paths = [a["path"] for a in assets]
    assert paths and all(not p.startswith("/") for p in paths), paths
    # Files exist; an archive may be a directory a command builds before `pulumi up` (AWS's wheelhouse).
    assert all((ROOT / a["path"]).is_file() for a in assets if a["asset"] == "FileAsset")


def test_plan_table_is_a_tree_that_fits_120_columns():
    proc = run_cli("plan", "--stack", "acme/mlops/azure-dev")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "Previewing stack azure-dev (azure): offline plan under Pulumi mocks"
    assert max(len(line) for line in lines) <= 120
    assert " +   pulumi:pulumi:Stack" in proc.stdout
    assert " +   ├─ mlops:azure:Foundation" in proc.stdout
    assert "│  ├─ azure-native:keyvault:Vault" in proc.stdout  # short type names, under their component
    assert "Resources:" in lines and "    + 166 to create" in lines
    # Progress went to stderr while planning, not into the table.
    assert "mlops plan: azure-dev: loading the program" in proc.stderr
    assert "165 resources declared in" in proc.stderr


# --- pipeline run -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "-1"], "--seed: must be between 0 and 4294967295, got -1"),
        (["--seed", "4294967296"], "--seed: must be between 0 and 4294967295"),
        (["--gate", "roc_auc:0.75", "--stack", "aws-dev"], "--gate: give --gate or --stack"),
        (["--gate", "roc_auc"], "--gate: must look like roc_auc:0.75"),
    ],
)
def test_pipeline_run_bad_options_exit_2(capsys, monkeypatch, args, message):
    monkeypatch.chdir(ROOT)
    assert main(["pipeline", "run", "churn", "--local", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and one_line(err)


def test_pipeline_run_gate_from_the_stack_and_temp_dirs_removed(tmp_path):
    stack = yaml.safe_load((ROOT / "Pulumi.gcp-dev.yaml").read_text())
    stack["config"]["mlops:platform"]["pipeline"]["quality_gate"] = {"metric": "f1", "threshold": 0.05}
    path = tmp_path / "Pulumi.gate-dev.yaml"
    path.write_text(yaml.safe_dump(stack))
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = run_cli(
        "pipeline", "run", "churn", "--local", "--rows", "300", "--config-file", str(path), env={"TMPDIR": str(temp)}
    )
    assert proc.returncode == 0, proc.stderr
    assert "quality gate f1 >= 0.05: PASSED" in proc.stdout
    assert (
        "would register the model as a new version of churn-dev-churn in the gcp model registry of stack "
        "gate-dev; it waits for a person to approve it (registry.approval: manual)" in proc.stdout
    )
    assert list(temp.iterdir()) == []  # the temporary working directory is gone


def test_pipeline_run_gate_with_a_colon(tmp_path):
    proc = run_cli(
        "pipeline", "run", "churn", "--local", "--rows", "300", "--gate", "accuracy:0.5", "--workdir", str(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr
    assert "quality gate accuracy >= 0.5: PASSED" in proc.stdout
    assert f"model: {tmp_path}" in proc.stdout and (tmp_path / "train").is_dir()  # --workdir is kept
    assert "would register" in proc.stdout


# --- version, doctor, stack list -------------------------------------------------------------------


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("mlops ")


def test_doctor(capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for cloud in ("aws", "gcp", "azure"):
        assert f"{cloud:<10} installed" in out
    assert "local run  installed" in out
    assert "pulumi     CLI not on PATH" in out


def test_stack_list(tmp_path, capsys):
    for cloud in ("aws", "gcp"):
        (tmp_path / f"Pulumi.{cloud}-dev.yaml").write_text((ROOT / f"Pulumi.{cloud}-dev.yaml").read_text())
    (tmp_path / "Pulumi.broken.yaml").write_text(
        (ROOT / "Pulumi.aws-dev.yaml").read_text().replace("max_replicas: 4", "max_replicas: 400")
    )
    assert main(["stack", "list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["STACK", "CLOUD", "REGION", "ENVIRONMENT", "STATUS"]
    assert out[1].split() == ["aws-dev", "aws", "eu-west-1", "dev", "valid"]
    assert out[2].startswith("broken") and "invalid: mlops:platform.endpoint.max_replicas:" in out[2]
    assert out[3].split() == ["gcp-dev", "gcp", "europe-west4", "dev", "valid"]
