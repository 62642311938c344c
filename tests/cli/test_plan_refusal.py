"""`mlops plan` refuses (exit 2) a plan holding a request the cloud would refuse, one line each."""

from __future__ import annotations

from pathlib import Path

from infra import cli
from providers.aws import AwsProvider

ROOT = Path(__file__).resolve().parents[2]


def test_plan_refuses_what_the_provider_reports(monkeypatch, capsys):
    seen: list[int] = []

    def check_plan(self, resources):
        seen.append(len(resources))
        return [
            "aws:sagemaker/pipeline:Pipeline churn-dev-training-pipeline-pipeline: "
            "CreateProcessingJob.AppSpecification.ContainerEntrypoint[2] = ... breaks max length 256 (is 296)"
        ]

    monkeypatch.setattr(AwsProvider, "check_plan", check_plan)
    code = cli.main(["plan", "--config-file", str(ROOT / "Pulumi.aws-dev.yaml")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INVALID
    assert seen and seen[0] > 10  # every declared resource was handed to the check
    assert "1 request(s) the cloud would refuse" in err
    assert "ContainerEntrypoint[2]" in err and "max length 256 (is 296)" in err
    assert "Traceback" not in err


def test_plan_passes_when_nothing_is_refused(monkeypatch, capsys):
    monkeypatch.setattr(AwsProvider, "check_plan", lambda self, resources: [])
    assert cli.main(["plan", "--config-file", str(ROOT / "Pulumi.aws-dev.yaml"), "--format", "json"]) == 0
