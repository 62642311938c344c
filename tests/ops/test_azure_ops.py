"""Day-two commands on an Azure stack: the real azure-ai-ml MLClient (and azure-core for Azure
Monitor) against a local fake of Azure Resource Manager (tests/ops/fake_azure.py)."""

from __future__ import annotations

import json

import pytest

from infra.cli import main
from tests.azure.fake_blob import FakeBlob
from tests.ops.conftest import example, project, write_outputs
from tests.ops.fake_azure import FakeAzure, ml_client, workspace_id

DEV_WS = workspace_id("sub-dev", "churn-dev-rg", "churn-dev-ws")
PROD_WS = workspace_id("sub-prod", "churn-prod-rg", "churn-prod-ws")
MODEL = f"{DEV_WS}/models/churn-dev-churn"
INSIGHTS = "/subscriptions/sub-dev/resourceGroups/churn-dev-rg/providers/Microsoft.Insights"
RULE = f"{INSIGHTS}/scheduledQueryRules/churn-dev-drift"
DEV_FILES = (
    "azureml://subscriptions/sub-dev/resourcegroups/churn-dev-rg/workspaces/churn-dev-ws/datastores/"
    "workspaceblobstore/paths/azureml/gate1/model/"
)
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
PROD_STACK = example("azure").replace("    environment: dev\n", "    environment: prod  # production workspace\n")


def outputs(ws: str, prefix: str, *, serving: int | None, approval: str = "manual") -> dict:
    group = "/".join(ws.split("/")[:5])  # /subscriptions/<sub>/resourceGroups/<rg>
    return {
        "cloud": "azure",
        "region": "westeurope",
        "platform": prefix,
        "storage_uri": f"abfss://data@{prefix.replace('-', '')}sa.dfs.core.windows.net/",
        "encryption_key": f"https://{prefix}-kv.vault.azure.net/keys/{prefix}/1",
        "execution_identity": f"{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{prefix}-id",
        "feature_groups": {},
        "model_registry": f"{ws}/models/{prefix}-churn",
        "approval": approval,
        "training_pipeline": f"https://{prefix.replace('-', '')}code.blob.core.windows.net/code/churn/pipeline.json",
        "training_schedule": f"{ws}/schedules/{prefix}-training",
        "endpoint": f"{ws}/onlineEndpoints/{prefix}-ep" if serving else None,
        "serving": f"model version {serving} of {ws}/models/{prefix}-churn" if serving else "nothing served",
        "monitor": f"{ws}/schedules/{prefix}-monitor" if serving else None,
        "drift_alarm": [RULE.replace("churn-dev", prefix)] if serving else [],
        "alert_topic": f"{group}/providers/Microsoft.Insights/actionGroups/{prefix}-drift",
        "retrain_target": None,
    }


@pytest.fixture
def world(tmp_path, monkeypatch):
    import azure.core.pipeline.policies._authentication as auth

    # azure-core refuses bearer tokens over plain http; the fake has no TLS. Test-only relaxation.
    monkeypatch.setattr(auth, "_enforce_https", lambda request: request.context.options.pop("enforce_https", None))
    with FakeAzure() as fake, FakeBlob() as blob:
        # the approval records (the approvals account churndevgate<suffix> of the stack's resource group)
        monkeypatch.setattr("providers.azure.operations.BLOB_URL", blob.url)
        monkeypatch.setattr("providers.azure.operations.client_for", lambda s, r, w: ml_client(fake.url, s, r, w))
        monkeypatch.setattr("providers.azure.operations.ARM_URL", fake.url)
        monkeypatch.setattr("providers.azure.operations.LOGS_URL", fake.url)
        for version, tags, created in (
            ("1", {"approval": "approved", "roc_auc": "0.8100", "accuracy": "0.7700", "run": "gate1"}, "2025-01-01"),
            ("2", {"approval": "rejected", "roc_auc": "0.7900", "rejected-reason": "leaks"}, "2025-01-02"),
            ("3", {"approval": "pending", "roc_auc": "0.8400", "run": "gate3"}, "2025-01-03"),
        ):
            fake.add_model(DEV_WS, "churn-dev-churn", version, tags, DEV_FILES, f"{created}T03:00:00Z")
        fake.add_model(
            PROD_WS, "churn-prod-churn", "1", {"approval": "approved"}, "azureml://x", "2024-12-01T03:00:00Z"
        )
        fake.add_endpoint(DEV_WS, "churn-dev-ep", {"v1": 100}, {"v1": f"{MODEL}/versions/1"})
        fake.schedules[(DEV_WS, "churn-dev-training")] = {
            "id": f"{DEV_WS}/schedules/churn-dev-training",
            "name": "churn-dev-training",
            "properties": {
                "isEnabled": True,
                "trigger": {"triggerType": "Cron", "expression": "0 3 * * *", "timeZone": "UTC"},
                "action": {
                    "actionType": "CreateJob",
                    "jobDefinition": {"jobType": "Pipeline", "experimentName": "churn-dev-churn"},
                },
                "provisioningState": "Succeeded",
            },
        }
        fake.add_job(
            DEV_WS, "sched-1", "churn-dev-churn", "Completed", {}, ("2025-01-03T03:00:00Z", "2025-01-03T03:40:00Z")
        )
        fake.add_job(
            DEV_WS, "drift-1", "churn-dev-churn", "Failed", {}, ("2025-01-04T05:00:00Z", "2025-01-04T05:10:00Z")
        )
        fake.add_job(
            DEV_WS, "other", "another-experiment", "Completed", {}, ("2025-01-05T05:00:00Z", "2025-01-05T05:10:00Z")
        )
        fake.scheduled[(DEV_WS, "churn-dev-training")] = {"sched-1"}
        root = project(tmp_path, {"azure-dev": example("azure"), "azure-prod": PROD_STACK})
        monkeypatch.chdir(root)
        files = {
            "azure-dev": write_outputs(root, "azure-dev", outputs(DEV_WS, "churn-dev", serving=1)),
            "azure-prod": write_outputs(root, "azure-prod", outputs(PROD_WS, "churn-prod", serving=1)),
        }
        yield type("World", (), {"fake": fake, "blob": blob, "files": files, "root": root})


def cli(world, *args: str, stack: str = "azure-dev") -> int:
    return main([*args, "--stack", stack, "--outputs", str(world.files[stack])])


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_model_list(world, capsys):
    assert cli(world, "model", "list", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["registry"] == MODEL
    rows = [(v["version"], v["status"], v["traffic"], v["metrics"], v["created"], v["note"]) for v in doc["versions"]]
    assert rows == [
        (3, "pending", None, {"roc_auc": 0.84}, "2025-01-03T03:00:00+00:00", ""),
        (2, "rejected", None, {"roc_auc": 0.79}, "2025-01-02T03:00:00+00:00", "rejected: leaks"),
        (1, "approved", 100, {"roc_auc": 0.81, "accuracy": 0.77}, "2025-01-01T03:00:00+00:00", ""),
    ]


def test_approve_and_reject(world, capsys):
    assert cli(world, "model", "approve", "3") == 0
    assert "version 3 approved (was pending)" in capsys.readouterr().out
    tags = world.fake.models[(DEV_WS, "churn-dev-churn", "3")]["properties"]["tags"]
    assert tags == {"approval": "approved", "roc_auc": "0.8400", "run": "gate3"}
    assert cli(world, "model", "reject", "3", "--reason", "drifts on day one") == 0
    tags = world.fake.models[(DEV_WS, "churn-dev-churn", "3")]["properties"]["tags"]
    assert tags == {"approval": "rejected", "roc_auc": "0.8400", "run": "gate3", "rejected-reason": "drifts on day one"}
    puts = [r for r in world.fake.requests if r[0] == "PUT"]
    assert all(r[2]["properties"]["modelUri"] == DEV_FILES for r in puts)  # only tags change


def test_approve_writes_a_record_for_a_version_only_its_tag_calls_approved(world, capsys):
    # Version 1 is tagged approved but no approver's record exists (the runtime identity can tag): in
    # a manual registry the gate refuses it, so `approve` must write the record, not say "already".
    from providers.azure.dynamic import ApprovalRecords

    account = "churndevgate5cbab6b1c4"  # the approvals account of sub-dev/churn-dev-rg
    records = ApprovalRecords(account, "approvals", f"{world.blob.url}/{account}")
    version_id = f"{MODEL}/versions/1"
    assert records.latest(version_id) is None
    assert cli(world, "model", "approve", "1") == 0
    assert "version 1 approved (was pending)" in capsys.readouterr().out
    assert records.latest(version_id)["decision"] == "approved"
    assert cli(world, "model", "approve", "1") == 0  # now the gate approves it: nothing more to write
    assert "version 1 already approved" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("model", "reject", "4"), f"mlops: stack azure-dev: no version 4 in {MODEL} (versions: 1, 2, 3)"),
        (
            ("model", "promote", "3", "--to", "azure-prod"),
            "mlops: stack azure-dev: version 3 is pending, not approved; only an approved version is promoted "
            "(mlops model approve 3 --stack azure-dev)",
        ),
    ],
)
def test_bad_input(world, capsys, args, message):
    extra = ["--to-outputs", str(world.files["azure-prod"])] if "promote" in args else []
    assert cli(world, *args, *extra) == 2
    assert one_line_error(capsys) == message
    assert (world.root / "Pulumi.azure-prod.yaml").read_text() == PROD_STACK
    assert not [r for r in world.fake.requests if r[0] == "PUT"]


def test_promote_to_another_workspace(world, capsys):
    # a manual registry: an approver's record, not only the tag (written here by the approver's own
    # call to model_registry.approve, the path the docs give besides `mlops model approve`)
    from providers.azure.dynamic import ApprovalRecords
    from providers.azure.model_registry import approve

    account = "churndevgate5cbab6b1c4"  # the approvals account of sub-dev/churn-dev-rg
    records = ApprovalRecords(account, "approvals", f"{world.blob.url}/{account}")
    approve(ml_client(world.fake.url, "sub-dev", "churn-dev-rg", "churn-dev-ws"), "churn-dev-churn", 1, records=records)
    args = ["model", "promote", "1", "--to", "azure-prod", "--to-outputs", str(world.files["azure-prod"])]
    assert cli(world, *args, "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["target"]["version"] == 2
    assert doc["target"]["id"] == f"{PROD_WS}/models/churn-prod-churn/versions/2"
    copy = world.fake.models[(PROD_WS, "churn-prod-churn", "2")]["properties"]
    # the source workspace's files by their https URL: an azureml:// path would be rewritten to prod's workspace
    assert copy["modelUri"] == "https://churndevwssa.blob.core.windows.net/azureml-blobstore-0000/azureml/gate1/model/"
    assert copy["tags"] == {
        "approval": "pending",
        "roc_auc": "0.8100",
        "accuracy": "0.7700",
        "promoted-from": f"{MODEL}/versions/1",
        "promoted-from-stack": "azure-dev",
    }
    assert doc["steps"][1] == (
        "the files stay in churndevwssa.blob.core.windows.net: the target's endpoint identity needs read access to it"
    )
    expected = PROD_STACK.replace(
        "    tags: {team: ml-platform}\n", "    tags: {team: ml-platform, promoted_model: v2-from-azure-dev}\n"
    ).replace(
        "      model_version: 1\n",
        f"      model_version: 2  # promoted from azure-dev version 1 ({MODEL}/versions/1) by mlops model promote\n",
    )
    assert (world.root / "Pulumi.azure-prod.yaml").read_text() == expected


def test_run_and_runs(world, capsys):
    assert cli(world, "runs", "--format", "json") == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["id"], r["status"], r["trigger"], r["duration_s"]) for r in runs] == [
        ("drift-1", "failed", "unknown", 600.0),  # the drift-started job carries no trigger on azure
        ("sched-1", "succeeded", "schedule", 2400.0),
    ]
    assert cli(world, "run", "--format", "json") == 0
    run = json.loads(capsys.readouterr().out)["run"]
    assert (run["status"], run["trigger"]) == ("running", "person")
    assert world.fake.jobs[(DEV_WS, run["id"])]["properties"]["tags"] == {"trigger": "manual"}
    trigger = next(
        r for r in world.fake.requests if r[1].split("?")[0].endswith("/schedules/churn-dev-training/trigger")
    )
    assert trigger[0] == "POST"


def test_invoke(world, capsys, tmp_path):
    world.fake.answer_score = [0.31]
    data = tmp_path / "r.json"
    data.write_text(json.dumps({"data": [RECORD]}))
    assert cli(world, "invoke", "--data", str(data), "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["output"] == [0.31]
    assert world.fake.scores[-1]["body"] == [RECORD]
    assert world.fake.scores[-1]["headers"]["Authorization"] == "Bearer fake-token"

    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps([{k: v for k, v in RECORD.items() if k != "tenure_months"}]))
    assert cli(world, "invoke", "--data", str(missing)) == 2
    assert one_line_error(capsys) == (
        "mlops: --data: record 0 lacks column 'tenure_months' (the request columns are tenure_months, "
        "monthly_charges, total_charges, support_calls, contract_type, payment_method, paperless_billing, "
        "avg_monthly_spend, support_calls_per_year)"
    )
    assert len(world.fake.scores) == 1


def test_drift_of_azure_mls_own_monitor(world, capsys):
    # monitor.engine: builtin: the run history of the monitoring schedule
    world.fake.rules[RULE.lower()] = {
        "id": RULE,
        "properties": {
            "scopes": [LOGS],
            "criteria": {"allOf": [{"query": 'AmlRunStatusChangedEvent | where Status == "x"'}]},
        },
    }
    world.fake.add_job(
        DEV_WS, "monitor-1", "churn-dev-monitor", "Completed", {}, ("2025-01-04T01:00:00Z", "2025-01-04T01:05:00Z")
    )
    world.fake.add_job(
        DEV_WS, "monitor-2", "churn-dev-monitor", "Failed", {}, ("2025-01-04T02:00:00Z", "2025-01-04T02:05:00Z")
    )
    world.fake.scheduled[(DEV_WS, "churn-dev-monitor")] = {"monitor-1", "monitor-2"}
    world.fake.alerts.append(
        {
            "rule": RULE,
            "alert": {
                "properties": {
                    "essentials": {
                        "monitorCondition": "Fired",
                        "alertState": "New",
                        "startDateTime": "2025-01-04T02:15:00Z",
                        "lastModifiedDateTime": "2025-01-04T02:15:00Z",
                    }
                }
            },
        }
    )
    assert cli(world, "drift", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["checked"] == "2025-01-04T02:00:00+00:00"
    assert doc["features"] == []
    assert doc["alerts"] == [
        {"id": RULE, "state": "alarm", "since": "2025-01-04T02:15:00+00:00", "detail": "1 fired alert(s) not closed"}
    ]
    assert "latest drift check monitor-2: Failed" in doc["notes"]
    alerts_call = next(r for r in world.fake.requests if "AlertsManagement" in r[1])
    assert "alertRule=" in alerts_call[1] and "api-version=2019-05-05-preview" in alerts_call[1]


LOGS = (
    "/subscriptions/sub-dev/resourceGroups/churn-dev-rg/providers/Microsoft.OperationalInsights/workspaces/"
    "churn-dev-logs"
)
KIT_QUERY = (
    "MlopsDrift_CL\n"
    '| where Monitor == "churn-dev-monitor" and Status == "ok" and Value > 0.2\n'
    "| project TimeGenerated, Feature, Value, Threshold, WindowEnd"
)


def _drift_row(at: str, feature: str, value: float | None, status: str = "ok", samples: int = 340) -> dict:
    return {
        "TimeGenerated": at,
        "Monitor": "churn-dev-monitor",
        "Feature": feature,
        "Statistic": "ks" if feature != "contract_type" else "linf",
        "Value": value,
        "Threshold": 0.2,
        "Drifted": None if value is None else value > 0.2,
        "Status": status,
        "Samples": samples,
        "WindowStart": at[:11] + "04:00:00Z",
        "WindowEnd": at[:11] + "05:00:00Z",
    }


def test_drift_reads_the_kits_newest_check_from_its_table(world, capsys):
    world.fake.rules[RULE.lower()] = {
        "id": RULE,
        "properties": {"scopes": [LOGS], "criteria": {"allOf": [{"query": KIT_QUERY}]}},
    }
    world.fake.logs[LOGS.lower()] = [
        _drift_row("2025-01-04T04:00:30Z", "tenure_months", 0.9),  # an older check
        _drift_row("2025-01-04T05:00:30Z", "tenure_months", 0.31),
        _drift_row("2025-01-04T05:00:30Z", "contract_type", 0.05),
        {**_drift_row("2025-01-04T05:00:30Z", "x", 0.5), "Monitor": "another-monitor"},
    ]
    assert cli(world, "drift", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["checked"] == "2025-01-04T05:00:30+00:00"
    assert doc["threshold"] == 0.2
    assert doc["features"] == [
        {"feature": "contract_type", "value": 0.05, "drifted": False},
        {"feature": "tenure_months", "value": 0.31, "drifted": True},
    ]
    assert (
        "latest drift check: window 2025-01-04T04:00:00+00:00 to 2025-01-04T05:00:00+00:00, 340 requests"
        in (doc["notes"])
    )
    (query,) = [b for m, p, b in world.fake.requests if m == "POST" and p.endswith("/query")]
    assert query["query"].startswith('let last = toscalar(MlopsDrift_CL | where Monitor == "churn-dev-monitor"')


def test_a_skipped_window_has_no_verdict(world, capsys):
    world.fake.rules[RULE.lower()] = {
        "id": RULE,
        "properties": {"scopes": [LOGS], "criteria": {"allOf": [{"query": KIT_QUERY}]}},
    }
    world.fake.logs[LOGS.lower()] = [_drift_row("2025-01-04T05:00:30Z", "tenure_months", None, "skipped", 12)]
    assert cli(world, "drift", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["features"] == [{"feature": "tenure_months", "value": None, "drifted": None}]
    assert any("skipped, 12 requests (under monitor.min_samples): no verdict" in n for n in doc["notes"])


def test_no_check_yet(world, capsys):
    world.fake.rules[RULE.lower()] = {
        "id": RULE,
        "properties": {"scopes": [LOGS], "criteria": {"allOf": [{"query": KIT_QUERY}]}},
    }
    world.fake.logs[LOGS.lower()] = []
    assert cli(world, "drift", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["checked"] is None and doc["features"] == []
    assert "no drift check has written a result yet (table MlopsDrift_CL, monitor churn-dev-monitor)" in doc["notes"]
