"""Day-two commands on an AWS stack, against moto with boto3 (the real client)."""

from __future__ import annotations

import json

import pytest
import requests
from moto import mock_aws

from infra.cli import main
from tests.ops.aws_world import DEV_ACCOUNT, PROD_ACCOUNT, REGION, AwsStack, PolicyStore, session
from tests.ops.conftest import example, project, write_outputs

GROUP = f"arn:aws:sagemaker:{REGION}:{DEV_ACCOUNT}:model-package-group/churn-dev-churn"
PROD_STACK = """config:
  mlops:cloud: aws
  aws:region: eu-west-1
  aws:profile: prod          # the production account's credentials
  # Production: a person approves every version.
  mlops:platform:
    name: churn
    environment: prod
    tags: {team: ml-platform}
    feature_store:
      feature_groups:
        - name: customer_profile
          entity: customer_id
          event_time: event_time
          features:
            - {name: tenure_months, type: int}
            - {name: monthly_charges, type: float}
            - {name: contract_type, type: string}
            - {name: support_calls, type: int}
            - {name: total_charges, type: float}
            - {name: payment_method, type: string}
            - {name: paperless_billing, type: bool}
            - {name: avg_monthly_spend, type: float}
            - {name: support_calls_per_year, type: float}
    registry:
      approval: manual
    pipeline:
      name: churn
      schedule: "0 3 * * *"
      quality_gate: {metric: roc_auc, threshold: 0.75}
    endpoint:
      model_version: 1   # first release
      instance: medium   # prod traffic
      max_replicas: 8
    monitor:
      drift_threshold: 0.2
      alert_email: ml-oncall@example.com
"""
RECORD = {
    "tenure_months": 12,
    "monthly_charges": 70.5,
    "total_charges": 846.0,
    "support_calls": 2,
    "contract_type": "monthly",
    "payment_method": "card",
    "paperless_billing": True,
    "avg_monthly_spend": 70.5,
    "support_calls_per_year": 2.0,
}


@pytest.fixture
def world(tmp_path, monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        policies = PolicyStore()
        sessions = {None: session(DEV_ACCOUNT), "prod": session(PROD_ACCOUNT)}
        for s in sessions.values():
            policies.attach(s)
        monkeypatch.setattr("providers.aws.operations.session_for", lambda profile, region: sessions[profile])
        dev = AwsStack(DEV_ACCOUNT, "churn-dev", sessions[None])
        dev.create_foundation()
        dev.register({"roc_auc": 0.81, "accuracy": 0.77}, "schedule", "Approved")
        dev.register({"roc_auc": 0.79, "accuracy": 0.74}, "drift", "Rejected")
        dev.register({"roc_auc": 0.84, "accuracy": 0.78}, "manual", "PendingManualApproval")
        dev.serve(1)
        prod = AwsStack(PROD_ACCOUNT, "churn-prod", sessions["prod"])
        prod.create_foundation()
        prod.register({"roc_auc": 0.8, "accuracy": 0.75}, "schedule", "Approved")
        prod.serve(1)
        root = project(tmp_path, {"aws-dev": example("aws"), "aws-prod": PROD_STACK})
        monkeypatch.chdir(root)
        files = {
            "aws-dev": write_outputs(root, "aws-dev", dev.outputs(serving=1)),
            "aws-prod": write_outputs(root, "aws-prod", prod.outputs(serving=1)),
        }
        yield type("World", (), {"dev": dev, "prod": prod, "files": files, "root": root, "policies": policies})


def cli(world, *args: str, stack: str = "aws-dev") -> int:
    return main([*args, "--stack", stack, "--outputs", str(world.files[stack])])


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_model_list_json(world, capsys):
    assert cli(world, "model", "list", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["registry"] == GROUP
    assert doc["approval"] == "manual"
    rows = [(v["version"], v["status"], v["traffic"], v["trigger"], v["metrics"]) for v in doc["versions"]]
    assert rows == [
        (3, "pending", None, "person", {"roc_auc": 0.84, "accuracy": 0.78}),
        (2, "rejected", None, "drift", {"roc_auc": 0.79, "accuracy": 0.74}),
        (1, "approved", 100, "schedule", {"roc_auc": 0.81, "accuracy": 0.77}),
    ]
    assert doc["versions"][2]["id"] == f"arn:aws:sagemaker:{REGION}:{DEV_ACCOUNT}:model-package/churn-dev-churn/1"
    assert all(v["created"].endswith("+00:00") for v in doc["versions"])


def test_model_list_table(world, capsys):
    assert cli(world, "model", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"stack aws-dev (aws): registry {GROUP} (approval: manual)"
    assert lines[1].endswith("serves version 1 (100%)")
    assert lines[3].split() == ["VERSION", "STATUS", "TRAFFIC", "CREATED", "TRIGGER", "METRICS", "NOTE"]
    assert lines[4].split()[:3] == ["3", "pending", "-"]
    assert lines[6].split()[:3] == ["1", "approved", "100%"]
    assert "accuracy 0.770, roc_auc 0.810" in lines[6]


def test_approve_then_reject(world, capsys):
    sm = world.dev.client("sagemaker")
    assert cli(world, "model", "approve", "3") == 0
    assert capsys.readouterr().out.startswith("stack aws-dev: version 3 approved (was pending)")
    described = sm.describe_model_package(ModelPackageName=world.dev.versions[2])
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == (
        f"approved by arn:aws:sts::{DEV_ACCOUNT}:user/moto (mlops model approve)"
    )
    assert cli(world, "model", "approve", "3") == 0
    assert "version 3 already approved" in capsys.readouterr().out

    assert cli(world, "model", "reject", "1", "--reason", "leaks the label") == 0
    captured = capsys.readouterr()
    assert "version 1 rejected (was approved)" in captured.out
    assert "warning: version 1 still takes 100% of the traffic" in captured.err
    described = sm.describe_model_package(ModelPackageName=world.dev.versions[0])
    assert described["ModelApprovalStatus"] == "Rejected"
    assert described["ApprovalDescription"].endswith("(mlops model reject): leaks the label")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("model", "approve", "9"), f"mlops: stack aws-dev: no version 9 in {GROUP} (versions: 1, 2, 3)"),
        (("model", "reject", "0"), "mlops: VERSION must be a registry version number (1, 2, ...), got '0'"),
        (
            ("model", "promote", "3", "--to", "aws-prod"),
            "mlops: stack aws-dev: version 3 is pending, not approved; only an approved version is promoted "
            "(mlops model approve 3 --stack aws-dev)",
        ),
        (
            ("model", "promote", "9", "--to", "aws-prod"),
            f"mlops: stack aws-dev: no version 9 in {GROUP} (versions: 1, 2, 3)",
        ),
    ],
)
def test_bad_input_is_one_line(world, capsys, args, message):
    before = (world.root / "Pulumi.aws-prod.yaml").read_text()
    extra = ["--to-outputs", str(world.files["aws-prod"])] if "promote" in args else []
    assert cli(world, *args, *extra) == 2
    assert one_line_error(capsys) == message
    assert (world.root / "Pulumi.aws-prod.yaml").read_text() == before
    listed = world.prod.client("sagemaker").list_model_packages(ModelPackageGroupName="churn-prod-churn")
    assert len(listed["ModelPackageSummaryList"]) == 1  # nothing copied


def test_stack_without_endpoint(world, capsys, tmp_path):
    nothing = write_outputs(tmp_path, "idle", world.dev.outputs(serving=None))
    record = tmp_path / "r.json"
    record.write_text(json.dumps(RECORD))
    for args in (["invoke", "--data", str(record)], ["drift"]):
        assert main([*args, "--stack", "aws-dev", "--outputs", str(nothing)]) == 2
        assert one_line_error(capsys) == (
            "mlops: stack aws-dev has no endpoint (nothing served: endpoint.model_version is null "
            "(set it to an approved registry version))"
        )
    assert main(["model", "list", "--stack", "aws-dev", "--outputs", str(nothing)]) == 0
    assert "endpoint: none (nothing served" in capsys.readouterr().out


def test_no_pulumi_cli_and_no_outputs(world, capsys):
    assert main(["runs", "--stack", "aws-dev"]) == 2
    assert one_line_error(capsys) == (
        "mlops: --outputs: the Pulumi CLI is not on PATH, so the outputs of stack aws-dev cannot be read; "
        "give --outputs FILE holding the JSON of `pulumi stack output --json --stack aws-dev`"
    )


def test_promote_across_accounts(world, capsys):
    prod_file = world.root / "Pulumi.aws-prod.yaml"
    args = ["model", "promote", "1", "--to", "aws-prod", "--to-outputs", str(world.files["aws-prod"])]
    assert cli(world, *args, "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    prod_group = f"arn:aws:sagemaker:{REGION}:{PROD_ACCOUNT}:model-package-group/churn-prod-churn"
    assert doc["target"] == {
        "stack": "aws-prod",
        "version": 2,
        "id": f"arn:aws:sagemaker:{REGION}:{PROD_ACCOUNT}:model-package/churn-prod-churn/2",
        "status": "pending",
        "copied": True,
        "previous_model_version": 1,
    }
    # the source group lets the production account describe and list its versions
    assert [p["ModelPackageGroupName"] for p in world.policies.puts] == ["churn-dev-churn"]
    policy = json.loads(world.policies.puts[0]["ResourcePolicy"])
    assert policy["Statement"] == [
        {
            "Sid": f"MlopsPromoteTo{PROD_ACCOUNT}",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{PROD_ACCOUNT}:root"},
            "Action": [
                "sagemaker:DescribeModelPackageGroup",
                "sagemaker:DescribeModelPackage",
                "sagemaker:ListModelPackages",
            ],
            "Resource": [GROUP, f"arn:aws:sagemaker:{REGION}:{DEV_ACCOUNT}:model-package/churn-dev-churn/*"],
        }
    ]
    # the copy lives in the production account: its own bucket, its own key
    sm = world.prod.client("sagemaker")
    copy = sm.describe_model_package(ModelPackageName=doc["target"]["id"])
    assert copy["ModelApprovalStatus"] == "PendingManualApproval"
    archive = copy["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert archive == f"s3://churn-prod-data-{PROD_ACCOUNT}/models/promoted/churn-dev-churn/1/0/model.tar.gz"
    s3 = world.prod.client("s3")
    key = archive.split("/", 3)[3]
    head = s3.head_object(Bucket=f"churn-prod-data-{PROD_ACCOUNT}", Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == world.prod.key_arn
    assert s3.get_object(Bucket=f"churn-prod-data-{PROD_ACCOUNT}", Key=key)["Body"].read() == b"model 1"
    assert copy["CustomerMetadataProperties"]["promoted-from"] == world.dev.versions[0]
    assert copy["CustomerMetadataProperties"]["promoted-from-stack"] == "aws-dev"
    # the stack file: two lines changed, every comment and the layout kept
    expected = PROD_STACK.replace(
        "    tags: {team: ml-platform}\n", "    tags: {team: ml-platform, promoted_model: v2-from-aws-dev}\n"
    ).replace(
        "      model_version: 1   # first release\n",
        "      model_version: 2   # promoted from aws-dev version 1 "
        f"(arn:aws:sagemaker:{REGION}:{DEV_ACCOUNT}:model-package/churn-dev-churn/1) by mlops model promote\n",
    )
    assert prod_file.read_text() == expected
    # the production stack lists the copy with its gate metrics (its own copy of the report)
    assert cli(world, "model", "list", "--format", "json", stack="aws-prod") == 0
    listed = json.loads(capsys.readouterr().out)["versions"][0]
    assert (listed["version"], listed["status"], listed["metrics"]) == (
        2,
        "pending",
        {"roc_auc": 0.81, "accuracy": 0.77},
    )
    assert listed["note"] == f"promoted from aws-dev: {world.dev.versions[0]}"
    assert prod_group in listed["id"].replace(":model-package/", ":model-package-group/")


def test_promote_within_one_account_says_what_next(world, capsys, tmp_path):
    staging = AwsStack(DEV_ACCOUNT, "churn-staging", world.dev.session)
    staging.create_foundation()
    text = PROD_STACK.replace("environment: prod", "environment: staging").replace(
        "  aws:profile: prod          # the production account's credentials\n", ""
    )
    (world.root / "Pulumi.aws-staging.yaml").write_text(text)
    outputs = write_outputs(tmp_path, "aws-staging", staging.outputs(serving=None, approval="auto"))
    args = ["model", "promote", "1", "--to", "aws-staging", "--to-outputs", str(outputs)]
    assert cli(world, *args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "promoted aws-dev version 1 to aws-staging:"
    assert out[-1] == (
        "next: open a pull request with Pulumi.aws-staging.yaml; `mlops diff` shows: model version 1 -> 1 "
        "(promoted from aws-dev)"
    )
    assert world.policies.puts == []  # same account: no resource policy needed
    copy = staging.client("sagemaker").describe_model_package(
        ModelPackageName=f"arn:aws:sagemaker:{REGION}:{DEV_ACCOUNT}:model-package/churn-staging-churn/1"
    )
    assert copy["ModelApprovalStatus"] == "Approved"  # registry.approval: auto there


def test_promote_refuses_another_cloud(world, capsys, tmp_path, monkeypatch):
    from providers import registry

    asked: list[str] = []
    real = registry.operations
    monkeypatch.setattr(registry, "operations", lambda cloud, key="": asked.append(cloud) or real(cloud, key))
    (world.root / "Pulumi.gcp-dev.yaml").write_text(example("gcp"))
    outputs = write_outputs(tmp_path, "gcp-dev", {"cloud": "gcp", "model_registry": "projects/p/locations/r/models/m"})
    assert cli(world, "model", "promote", "1", "--to", "gcp-dev", "--to-outputs", str(outputs)) == 2
    assert one_line_error(capsys) == (
        "mlops: --to: stack gcp-dev is on gcp and the version's stack on aws: promote copies a version within "
        "one cloud (move the platform with `mlops stack new` and train there)"
    )
    assert asked == ["aws"]  # the GCP operations were never asked for


def test_run_and_runs(world, capsys):
    sm = world.dev.client("sagemaker")
    sm.start_pipeline_execution(
        PipelineName="churn-dev-churn", PipelineParameters=[{"Name": "trigger", "Value": "schedule"}]
    )
    assert cli(world, "run", "--format", "json") == 0
    run = json.loads(capsys.readouterr().out)["run"]
    assert (run["status"], run["trigger"]) == ("succeeded", "person")  # moto ends every execution at once
    params = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=run["id"])["PipelineParameters"]
    assert params == [{"Name": "trigger", "Value": "manual"}]
    assert cli(world, "runs", "--format", "json") == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert sorted(r["trigger"] for r in runs) == ["person", "schedule"]
    assert cli(world, "runs", "--limit", "0") == 2
    assert one_line_error(capsys) == "mlops: --limit must be between 1 and 100, got 0"


def test_run_wait_reports_a_failed_run(world, capsys, monkeypatch):
    from moto.sagemaker import models

    original = models.FakePipelineExecution.__init__

    def executing(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.pipeline_execution_status = "Executing"

    monkeypatch.setattr(models.FakePipelineExecution, "__init__", executing)

    def later(_seconds):
        backend = models.sagemaker_backends[DEV_ACCOUNT][REGION]
        for execution in backend.pipelines["churn-dev-churn"].pipeline_executions.values():
            execution.pipeline_execution_status = "Failed"
            execution.pipeline_execution_failure_reason = "quality gate failed: roc_auc = 0.61, required >= 0.75"

    monkeypatch.setattr("infra.ops_cli.time.sleep", later)
    assert cli(world, "run", "--wait") == 4
    err = capsys.readouterr().err
    assert "  failed (Failed)" in err
    assert err.strip().splitlines()[-1].endswith("ended failed: Failed")


def test_invoke_checks_the_request_first(world, capsys, tmp_path):
    requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
        json={
            "account_id": DEV_ACCOUNT,
            "region": REGION,
            "results": [{"Body": '{"predictions": [0.83]}', "ContentType": "application/json"}],
        },
        timeout=5,
    )
    good = tmp_path / "good.json"
    good.write_text(json.dumps([RECORD]))
    assert cli(world, "invoke", "--data", str(good), "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["output"] == {"predictions": [0.83]}
    assert doc["endpoint"] == f"arn:aws:sagemaker:{REGION}:{DEV_ACCOUNT}:endpoint/churn-dev-endpoint"

    cases = {
        "typo": ({**RECORD, "tenure_months": "twelve"}, "column 'tenure_months' must be a number (int), got 'twelve'"),
        "missing": ({k: v for k, v in RECORD.items() if k != "support_calls"}, "lacks column 'support_calls'"),
        "extra": ({**RECORD, "churned": 1}, "carries column 'churned', not a request column"),
    }
    for name, (record, message) in cases.items():
        bad = tmp_path / f"{name}.json"
        bad.write_text(json.dumps(record))
        assert cli(world, "invoke", "--data", str(bad)) == 2
        assert message in one_line_error(capsys)
    import base64

    from moto.sagemakerruntime.models import sagemakerruntime_backends

    results = sagemakerruntime_backends[DEV_ACCOUNT][REGION].results
    sent = [json.loads(base64.b64decode(key)) for answers in results.values() for key in answers]
    assert len(sent) == 1  # only the good request reached the endpoint
    assert json.loads(sent[0]["Body"]) == [RECORD]
    assert sent[0]["Accept"] == "application/json"


def test_drift(world, capsys):
    world.dev.publish_drift({"monthly_charges": 0.31, "support_calls": 0.05, "tenure_months": 0.12}, "ALARM")
    sm = world.dev.client("sagemaker")
    started = sm.start_pipeline_execution(
        PipelineName="churn-dev-churn", PipelineParameters=[{"Name": "trigger", "Value": "drift"}]
    )["PipelineExecutionArn"]
    assert cli(world, "drift", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["threshold"] == 0.2
    assert doc["features"] == [
        {"feature": "monthly_charges", "value": 0.31, "drifted": True},
        {"feature": "support_calls", "value": 0.05, "drifted": False},
        {"feature": "tenure_months", "value": 0.12, "drifted": False},
    ]
    assert [(a["id"], a["state"]) for a in doc["alerts"]] == [
        (f"arn:aws:cloudwatch:{REGION}:{DEV_ACCOUNT}:alarm:churn-dev-feature-drift", "alarm")
    ]
    assert doc["last_retraining"]["id"] == started
    assert doc["last_retraining"]["trigger"] == "drift"
    assert cli(world, "drift") == 0
    text = capsys.readouterr().out
    assert "monthly_charges  0.310     DRIFT" in text


def test_drift_of_the_kit_engine_reads_what_the_drift_job_publishes(world, capsys, tmp_path):
    """monitor.engine: kit (the default): `mlops drift` reads the kit's per-column `feature_drift`
    (published here by the AWS step I/O's own code) through the alarms the stack declares; the
    silent-check alarm's threshold (1 heartbeat) is not the drift threshold."""
    result = {
        "status": "ok",
        "n_current": 250,
        "features": {
            "monthly_charges": {"value": 0.31, "drifted": True},
            "support_calls": {"value": 0.05, "drifted": False},
        },
    }
    alarms = world.dev.publish_kit_drift(result, "ALARM")
    kit = write_outputs(tmp_path, "kit", {**world.dev.outputs(serving=1), "drift_alarm": alarms})
    assert main(["drift", "--format", "json", "--stack", "aws-dev", "--outputs", str(kit)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["threshold"] == 0.2
    assert doc["features"] == [
        {"feature": "monthly_charges", "value": 0.31, "drifted": True},
        {"feature": "support_calls", "value": 0.05, "drifted": False},
    ]
    assert sorted(a["id"].rsplit(":", 1)[1] for a in doc["alerts"]) == [
        "churn-dev-drift-check-silent",
        "churn-dev-feature-drift",
    ]
    assert doc["notes"] == []
