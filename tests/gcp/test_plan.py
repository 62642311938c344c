"""The real program under Pulumi mocks (infra.plan): the GCP inputs that matter."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from infra.config import load_stack_file
from infra.plan import plan
from pipelines import get_pipeline
from providers.base import CAPABILITIES, NOT_SERVING
from providers.gcp.pipeline_definition import code_bundle
from tests.gcp.conftest import write_stack

KEY = "projects/my-ml-project/locations/europe-west4/keyRings/churn-dev-mlops/cryptoKeys/churn-dev-cmek"
DYNAMIC = "pulumi-python:dynamic:Resource"
# The step code's content hash (its algorithm is tested with literal values in tests/pipelines/test_package.py).
CODE_DIGEST = code_bundle(get_pipeline("churn")).digest


def inputs(result, type_: str) -> list[dict]:
    return [r.inputs for r in result.by_type(type_)]


def one(result, type_: str) -> dict:
    return result.one(type_).inputs


def schedule(result, trigger: str) -> dict:
    return next(
        i
        for i in inputs(result, "gcp:colab/schedule:Schedule")
        if i["createPipelineJobRequest"]["pipelineJob"]["labels"]["trigger"] == trigger
    )


def test_seven_components(gcp_plan):
    components = sorted(r.type for r in gcp_plan.resources if not r.custom)
    assert components == sorted(f"mlops:gcp:{c}" for c in CAPABILITIES)


def test_apis_enabled_and_left_enabled(gcp_plan):
    services = inputs(gcp_plan, "gcp:projects/service:Service")
    assert {
        "aiplatform.googleapis.com",
        "bigquery.googleapis.com",
        "cloudkms.googleapis.com",
        "workflows.googleapis.com",
        "eventarc.googleapis.com",
    } <= {s["service"] for s in services}
    assert all(s["disableOnDestroy"] is False for s in services)


def test_cmek_everywhere(gcp_plan):
    key = one(gcp_plan, "gcp:kms/cryptoKey:CryptoKey")
    assert key["rotationPeriod"] == "7776000s"
    buckets = inputs(gcp_plan, "gcp:storage/bucket:Bucket")
    assert len(buckets) == 2 and all(b["encryption"] == {"defaultKmsKeyName": KEY} for b in buckets)
    for dataset in inputs(gcp_plan, "gcp:bigquery/dataset:Dataset"):
        assert dataset["defaultEncryptionConfiguration"] == {"kmsKeyName": KEY}
    for table in inputs(gcp_plan, "gcp:bigquery/table:Table"):
        if "view" not in table:  # a view holds no data (its table is encrypted)
            assert table["encryptionConfiguration"] == {"kmsKeyName": KEY}
    assert one(gcp_plan, "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore")["encryptionSpec"] == {
        "kmsKeyName": KEY
    }
    assert one(gcp_plan, "gcp:vertex/aiEndpoint:AiEndpoint")["encryptionSpec"] == {"kmsKeyName": KEY}
    assert one(gcp_plan, "gcp:pubsub/topic:Topic")["kmsKeyName"] == KEY
    assert one(gcp_plan, "gcp:workflows/workflow:Workflow")["cryptoKeyName"] == KEY
    for sched in inputs(gcp_plan, "gcp:colab/schedule:Schedule"):
        assert sched["createPipelineJobRequest"]["pipelineJob"]["encryptionSpec"] == {"kmsKeyName": KEY}


def test_service_agents_may_use_the_key(gcp_plan):
    identities = {i["service"] for i in inputs(gcp_plan, "gcp:projects/serviceIdentity:ServiceIdentity")}
    assert "aiplatform.googleapis.com" in identities
    grants = inputs(gcp_plan, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert all(g["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter" and g["cryptoKeyId"] == KEY for g in grants)
    members = " ".join(g["member"] for g in grants)
    for agent in (
        "gcp-sa-aiplatform",
        "gs-project-accounts",
        "bigquery-encryption",
        "gcp-sa-pubsub",
        "gcp-sa-workflows",
    ):
        assert agent in members


def test_private_buckets(gcp_plan):
    """The kit's bucket and the approvals bucket (approval records): private, versioned, kept."""
    buckets = {r.name: r for r in gcp_plan.by_type("gcp:storage/bucket:Bucket")}
    assert {name: r.inputs["name"] for name, r in buckets.items()} == {
        "churn-dev-foundation-bucket": "my-ml-project-churn-dev-mlops",
        "churn-dev-model-registry-approvals": "my-ml-project-churn-dev-gate",
    }
    for bucket in buckets.values():
        assert bucket.inputs["publicAccessPrevention"] == "enforced"
        assert bucket.inputs["uniformBucketLevelAccess"] is True
        assert bucket.inputs["versioning"] == {"enabled": True}
        assert bucket.inputs["forceDestroy"] is False
        assert bucket.inputs["encryption"] == {"defaultKmsKeyName": KEY}
        assert bucket.inputs["location"] == "europe-west4"
        assert bucket.protect is True


# Every grant, custom-role permission and scope: tests/gcp/test_identities.py (literal tables).


def test_feature_store_v2_schema_and_views(gcp_plan):
    assert not [r for r in gcp_plan.resources if r.type.startswith("gcp:vertex/aiFeatureStore")]
    table, source = sorted(inputs(gcp_plan, "gcp:bigquery/table:Table"), key=lambda t: t["tableId"])
    assert json.loads(table["schema"]) == [
        {"name": "customer_id", "type": "STRING", "mode": "REQUIRED"},
        {"name": "event_time", "type": "TIMESTAMP", "mode": "REQUIRED"},
        {"name": "tenure_months", "type": "INTEGER", "mode": "NULLABLE"},
        {"name": "monthly_charges", "type": "FLOAT", "mode": "NULLABLE"},
        {"name": "contract_type", "type": "STRING", "mode": "NULLABLE"},
        {"name": "support_calls", "type": "INTEGER", "mode": "NULLABLE"},
        {"name": "total_charges", "type": "FLOAT", "mode": "NULLABLE"},
        {"name": "payment_method", "type": "STRING", "mode": "NULLABLE"},
        {"name": "paperless_billing", "type": "BOOLEAN", "mode": "NULLABLE"},
        {"name": "avg_monthly_spend", "type": "FLOAT", "mode": "NULLABLE"},
        {"name": "support_calls_per_year", "type": "FLOAT", "mode": "NULLABLE"},
        # every write appends, stamped with its time: reads keep the last write per (entity, event time)
        {"name": "mlops_written_at", "type": "TIMESTAMP", "mode": "NULLABLE"},
    ]
    group = one(gcp_plan, "gcp:vertex/aiFeatureGroup:AiFeatureGroup")
    # prefixed like the dataset: churn-dev and churn-staging share a project and region
    assert group["name"] == "churn_dev_customer_profile"
    assert gcp_plan.outputs["feature_groups"]["customer_profile"]["id"] == (
        "projects/my-ml-project/locations/europe-west4/featureGroups/churn_dev_customer_profile"
    )
    # Vertex reads a view of the table: the last write of each (entity, event time), exposing the
    # event time as feature_timestamp (the table is what the pipeline writes)
    assert source == {
        **source,
        "tableId": "customer_profile_vertex_source",
        "datasetId": "churn_dev_features",
        "view": {
            "query": (
                "SELECT * EXCEPT (mlops_rank), `event_time` AS feature_timestamp FROM (SELECT *, ROW_NUMBER() OVER "
                "(PARTITION BY `customer_id`, `event_time` ORDER BY `mlops_written_at` DESC) AS mlops_rank FROM "
                "`my-ml-project.churn_dev_features.customer_profile`) WHERE mlops_rank = 1"
            ),
            "useLegacySql": False,
        },
        "deletionProtection": True,
    }
    assert group["bigQuery"] == {
        "bigQuerySource": {"inputUri": "bq://my-ml-project.churn_dev_features.customer_profile_vertex_source"},
        "entityIdColumns": ["customer_id"],
    }
    assert gcp_plan.outputs["feature_groups"]["customer_profile"]["offline"] == (
        "projects/my-ml-project/datasets/churn_dev_features/tables/customer_profile"
    )
    features = [i["name"] for i in inputs(gcp_plan, "gcp:vertex/aiFeatureGroupFeature:AiFeatureGroupFeature")]
    assert sorted(features) == [
        "avg_monthly_spend",
        "contract_type",
        "monthly_charges",
        "paperless_billing",
        "payment_method",
        "support_calls",
        "support_calls_per_year",
        "tenure_months",
        "total_charges",
    ]
    store = one(gcp_plan, "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore")
    assert store["name"] == "churn_dev_online"
    assert store["bigtable"]["autoScaling"] == {
        "minNodeCount": 1,
        "maxNodeCount": 3,
        "cpuUtilizationTarget": 70,
    }
    view = one(gcp_plan, "gcp:vertex/aiFeatureOnlineStoreFeatureview:AiFeatureOnlineStoreFeatureview")
    assert view["name"] == "customer_profile"  # inside the prefixed online store
    assert view["featureRegistrySource"]["featureGroups"][0]["featureGroupId"] == "churn_dev_customer_profile"
    assert view["syncConfig"] == {"cron": "0 * * * *"}
    assert view["featureRegistrySource"]["featureGroups"][0]["featureIds"] == [
        "tenure_months",
        "monthly_charges",
        "contract_type",
        "support_calls",
        "total_charges",
        "payment_method",
        "paperless_billing",
        "avg_monthly_spend",
        "support_calls_per_year",
    ]


def test_data_bearing_resources_are_protected(gcp_plan):
    protected = {r.type for r in gcp_plan.resources if r.protect}
    assert {
        "gcp:storage/bucket:Bucket",
        "gcp:kms/cryptoKey:CryptoKey",
        "gcp:bigquery/dataset:Dataset",
        "gcp:bigquery/table:Table",
        "gcp:vertex/aiFeatureGroup:AiFeatureGroup",
        "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore",
    } <= protected
    assert all(t["deletionProtection"] is True for t in inputs(gcp_plan, "gcp:bigquery/table:Table"))


def test_labels_on_everything_that_takes_them(gcp_plan):
    wanted = {"mlops-platform": "churn", "mlops-environment": "dev", "team": "ml-platform"}
    for r in gcp_plan.resources:
        for field in ("labels", "userLabels"):
            if field in r.inputs and r.type != "gcp:monitoring/notificationChannel:NotificationChannel":
                assert wanted.items() <= r.inputs[field].items(), r.name


def test_training_schedule_runs_the_compiled_pipeline(gcp_plan):
    sched = schedule(gcp_plan, "schedule")
    assert sched["cron"] == "0 3 * * *"
    assert sched["maxConcurrentRunCount"] == "1"
    job = sched["createPipelineJobRequest"]["pipelineJob"]
    assert job["serviceAccount"] == "churn-dev-ml@my-ml-project.iam.gserviceaccount.com"
    values = dict(job["runtimeConfig"]["parameterValues"])
    image = values.pop("serving_image")
    assert values == {
        "code_uri": f"gs://my-ml-project-churn-dev-mlops/code/churn/{CODE_DIGEST}",
        "input_data": "gs://my-ml-project-churn-dev-mlops/data/churn/",
        "project": "my-ml-project",
        "location": "europe-west4",
        "model_id": "churn-dev-churn",
        "kms_key": KEY,  # uploaded model versions are encrypted with it
        # where the register step copies each version's drift baseline (<root>/v<version>/)
        "baseline_root": "gs://my-ml-project-churn-dev-mlops/baselines/churn-dev-churn",
    }
    # the prebuilt scikit-learn 1.4 image, by the digest `pulumi up` resolves (a fake one offline)
    assert re.fullmatch(r"europe-docker\.pkg\.dev/vertex-ai/prediction/sklearn-cpu\.1-4@sha256:[0-9a-f]{64}", image)
    spec = json.loads(job["pipelineSpec"])
    assert spec["pipelineInfo"]["name"] == "churn-dev-churn"
    assert "condition-branches-1" in spec["root"]["dag"]["tasks"]
    assert {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()} == {image}
    objects = {i["name"] for i in inputs(gcp_plan, "gcp:storage/bucketObject:BucketObject")}
    assert {
        f"code/churn/{CODE_DIGEST}/validate.py",
        f"code/churn/{CODE_DIGEST}/features.py",
        f"code/churn/{CODE_DIGEST}/train.py",
        f"code/churn/{CODE_DIGEST}/evaluate.py",
        f"code/churn/{CODE_DIGEST}/serve.py",
        f"code/churn/{CODE_DIGEST}/requirements.txt",
        # the kit's steps, the data contract and the step I/O ship with every pipeline
        f"code/churn/{CODE_DIGEST}/mlops_contract.json",
        f"code/churn/{CODE_DIGEST}/mlops_drift.py",
        f"code/churn/{CODE_DIGEST}/mlops_io.py",
        f"code/churn/{CODE_DIGEST}/mlops_model.py",
        f"code/churn/{CODE_DIGEST}/mlops_schema.py",
        f"code/churn/{CODE_DIGEST}/mlops_serve.py",
        f"code/churn/{CODE_DIGEST}/mlops_store_features.py",
        f"code/churn/{CODE_DIGEST}/mlops_training_data.py",
        # GCP's own: what the step I/O installs, the drift job's entry point
        f"code/churn/{CODE_DIGEST}/mlops_io_requirements.txt",
        f"code/churn/{CODE_DIGEST}/mlops_gcp_drift.py",
        "pipelines/churn-dev-churn/pipeline.json",
        "pipelines/churn-dev-drift/pipeline.json",
    } == objects
    sources = {
        i["name"].rsplit("/", 1)[-1]: i["source"].get("path")
        for i in inputs(gcp_plan, "gcp:storage/bucketObject:BucketObject")
        if "source" in i
    }
    # the kit steps run with the GCP step I/O, never the local one
    assert sources["mlops_io.py"] == "providers/gcp/step_io.py"
    assert sources["mlops_gcp_drift.py"] == "providers/gcp/drift_job.py"


def test_endpoint_private_with_request_logging(gcp_plan):
    endpoint = one(gcp_plan, "gcp:vertex/aiEndpoint:AiEndpoint")
    assert endpoint["name"].isdigit() and len(endpoint["name"]) <= 10
    assert endpoint["privateServiceConnectConfig"] == {
        "enablePrivateServiceConnect": True,
        "projectAllowlists": ["my-ml-project"],
    }
    assert not endpoint.get("dedicatedEndpointEnabled")
    logging = endpoint["predictRequestResponseLoggingConfig"]
    assert logging["enabled"] is True
    assert logging["samplingRate"] == pytest.approx(0.2)
    assert (
        logging["bigqueryDestination"]["outputUri"]
        == "bq://my-ml-project.churn_dev_serving_logs.request_response_logging"
    )


def test_model_deployed_with_replica_bounds_and_cpu_target(gcp_plan):
    dynamic = [r.inputs for r in gcp_plan.by_type(DYNAMIC)]
    deployed = next(d for d in dynamic if "cpu_target" in d)
    assert (deployed["min_replicas"], deployed["max_replicas"], deployed["cpu_target"]) == (1, 4, 70)
    assert deployed["machine_type"] == "e2-standard-2"
    # keyed on the endpoint resource's id (an Output: the mocks answer its full path), not on a
    # string rebuilt from the fixed endpoint name
    endpoint_name = one(gcp_plan, "gcp:vertex/aiEndpoint:AiEndpoint")["name"]
    assert deployed["endpoint"] == f"projects/my-ml-project/locations/europe-west4/endpoints/{endpoint_name}"
    assert "endpoint_id" not in deployed
    assert (deployed["model_id"], deployed["version"]) == ("churn-dev-churn", "1")
    approval = next(d for d in dynamic if "mode" in d)
    assert approval == {**approval, "model_id": "churn-dev-churn", "version": "1", "mode": "manual"}
    assert gcp_plan.outputs["serving"] == (
        "model version 1 of projects/my-ml-project/locations/europe-west4/models/churn-dev-churn"
    )
    assert gcp_plan.outputs["endpoint"] == deployed["endpoint"]


def test_drift_monitor_schedule_and_threshold(gcp_plan):
    sched = schedule(gcp_plan, "monitor")
    assert sched["cron"] == "0 * * * *"
    job = sched["createPipelineJobRequest"]["pipelineJob"]
    spec = json.loads(job["pipelineSpec"])
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["drift_threshold"]["defaultValue"] == pytest.approx(0.2)
    assert params["min_samples"]["defaultValue"] == 100
    assert params["window_seconds"]["defaultValue"] == 3600  # hourly schedule: the last hour of requests
    (executor,) = spec["deploymentSpec"]["executors"].values()
    io = json.loads({e["name"]: e["value"] for e in executor["container"]["env"]}["MLOPS_IO"])
    assert io["capture"] == "my-ml-project.churn_dev_serving_logs.request_response_logging"
    metrics = {m["name"]: m for m in inputs(gcp_plan, "gcp:logging/metric:Metric")}
    assert metrics["churn-dev-drifted-features"]["filter"] == (
        'logName="projects/my-ml-project/logs/mlops-drift" AND resource.type="global" AND '
        'jsonPayload.mlops_platform="churn-dev" AND jsonPayload.kind="feature" AND jsonPayload.drifted=true AND '
        '(jsonPayload.feature="tenure_months" OR jsonPayload.feature="monthly_charges" OR '
        'jsonPayload.feature="total_charges" OR jsonPayload.feature="support_calls" OR '
        'jsonPayload.feature="contract_type" OR jsonPayload.feature="payment_method" OR '
        'jsonPayload.feature="paperless_billing" OR jsonPayload.feature="avg_monthly_spend" OR '
        'jsonPayload.feature="support_calls_per_year")'
    )
    assert metrics["churn-dev-drifted-features"]["labelExtractors"] == {"feature": "EXTRACT(jsonPayload.feature)"}
    assert metrics["churn-dev-drift-checks"]["filter"] == (
        'logName="projects/my-ml-project/logs/mlops-drift" AND resource.type="global" AND '
        'jsonPayload.mlops_platform="churn-dev" AND jsonPayload.kind="check"'
    )
    for metric in metrics.values():  # the entries live in the CMEK log bucket only
        assert metric["bucketName"] == "projects/my-ml-project/locations/europe-west4/buckets/churn-dev-mlops-logs"


def policies(result) -> dict[str, dict]:
    return {p["displayName"]: p for p in inputs(result, "gcp:monitoring/alertPolicy:AlertPolicy")}


def test_alert_and_retrain_path(gcp_plan):
    policy = policies(gcp_plan)["churn-dev feature drift over 0.2"]
    condition = policy["conditions"][0]["conditionThreshold"]
    assert condition["filter"] == (
        'metric.type="logging.googleapis.com/user/churn-dev-drifted-features" AND resource.type="global"'
    )
    assert (condition["comparison"], condition["thresholdValue"]) == ("COMPARISON_GT", 0)
    channels = {c["type"]: c for c in inputs(gcp_plan, "gcp:monitoring/notificationChannel:NotificationChannel")}
    assert channels["email"]["labels"] == {"email_address": "ml-oncall@example.com"}
    assert channels["pubsub"]["labels"] == {"topic": "projects/my-ml-project/topics/churn-dev-drift-alerts"}
    assert len(policy["notificationChannels"]) == 2
    assert gcp_plan.outputs["alert_topic"].startswith("projects/my-ml-project/notificationChannels/")

    trigger = one(gcp_plan, "gcp:eventarc/trigger:Trigger")
    workflow_id = gcp_plan.outputs["retrain_target"]
    assert trigger["destination"] == {"workflow": workflow_id}
    assert trigger["transport"]["pubsub"]["topic"] == "projects/my-ml-project/topics/churn-dev-drift-alerts"
    assert trigger["matchingCriterias"] == [
        {"attribute": "type", "value": "google.cloud.pubsub.topic.v1.messagePublished"}
    ]
    assert trigger["serviceAccount"] == "churn-dev-retrain@my-ml-project.iam.gserviceaccount.com"

    workflow = one(gcp_plan, "gcp:workflows/workflow:Workflow")
    assert workflow["serviceAccount"].endswith("churn-dev-retrain@my-ml-project.iam.gserviceaccount.com")
    steps = {k: v for step in yaml.safe_load(workflow["sourceContents"])["main"]["steps"] for k, v in step.items()}
    assert steps["read_template"]["try"]["call"] == "googleapis.storage.v1.objects.get"
    assert steps["read_template"]["try"]["args"] == {
        "bucket": "my-ml-project-churn-dev-mlops",
        "object": "pipelines%2Fchurn-dev-churn%2Fpipeline.json",
        "alt": "media",
    }
    assert steps["read_template"]["retry"] == "${http.default_retry}"  # a GET: its transient errors retried
    create = steps["create_pipeline_job"]["try"]["args"]
    assert create["query"] == {"pipelineJobId": "${job_id}"}  # named after the incident
    assert create["url"] == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-ml-project/locations/europe-west4/pipelineJobs"
    )
    assert create["body"]["pipelineSpec"] == "${spec}"
    assert create["body"]["serviceAccount"] == "churn-dev-ml@my-ml-project.iam.gserviceaccount.com"
    assert (
        create["body"]["runtimeConfig"]["parameterValues"]
        == schedule(gcp_plan, "schedule")["createPipelineJobRequest"]["pipelineJob"]["runtimeConfig"]["parameterValues"]
    )
    act_as = one(gcp_plan, "gcp:serviceaccount/iAMMember:IAMMember")
    assert act_as["role"] == "roles/iam.serviceAccountUser"
    assert act_as["serviceAccountId"].endswith("churn-dev-ml@my-ml-project.iam.gserviceaccount.com")


def test_a_failed_retraining_execution_emails_a_person(gcp_plan):
    """Audit 4 finding 2: a FAILED execution of <prefix>-retrain ends the episode's retraining (the drift
    incident stays open and notifies on OPENED only): a policy on the workflow's failed executions
    e-mails the drift alert's e-mail channel (not the Pub/Sub channel, which would start the workflow)."""
    policy = policies(gcp_plan)["churn-dev retraining workflow failed"]
    (condition,) = [c["conditionThreshold"] for c in policy["conditions"]]
    assert condition == {
        "filter": (
            'metric.type="workflows.googleapis.com/finished_execution_count" AND '
            'resource.type="workflows.googleapis.com/Workflow" AND '
            'resource.label.workflow_id="churn-dev-retrain" AND metric.label.status="FAILED"'
        ),
        "comparison": "COMPARISON_GT",
        "thresholdValue": 0,
        "duration": "0s",
        "aggregations": [
            {"alignmentPeriod": "300s", "perSeriesAligner": "ALIGN_SUM", "crossSeriesReducer": "REDUCE_SUM"}
        ],
        "trigger": {"count": 1},
        "evaluationMissingData": "EVALUATION_MISSING_DATA_INACTIVE",
    }
    assert policy["combiner"] == "OR"
    assert policy["alertStrategy"] == {"notificationPrompts": ["OPENED"], "autoClose": "1800s"}
    # only the e-mail channel (ml-oncall@example.com), which the stack publishes as alert_topic
    (email,) = [
        c
        for c in gcp_plan.by_type("gcp:monitoring/notificationChannel:NotificationChannel")
        if c.inputs["type"] == "email"
    ]
    assert email.inputs["labels"] == {"email_address": "ml-oncall@example.com"}
    assert policy["notificationChannels"] == [gcp_plan.outputs["alert_topic"]]
    assert (
        policies(gcp_plan)["churn-dev feature drift over 0.2"]["notificationChannels"][0]
        == gcp_plan.outputs["alert_topic"]
    )
    # the filter names the workflow the plan declares
    assert one(gcp_plan, "gcp:workflows/workflow:Workflow")["name"] == "churn-dev-retrain"


@pytest.fixture(scope="module")
def minimal_plan(tmp_path_factory):
    def change(config):
        p = config["mlops:platform"]
        p["endpoint"]["model_version"] = None
        p["endpoint"]["data_capture_percent"] = 1
        p["pipeline"]["schedule"] = None
        p["monitor"]["retrain_on_drift"] = False
        p["registry"]["approval"] = "auto"
        p["network"] = {"public_access": True}
        p["feature_store"]["feature_groups"][0]["online"] = False

    path = write_stack(tmp_path_factory.mktemp("stack"), "gcp-min", change)
    return plan(load_stack_file(path))


def test_nothing_served_without_a_model_version(minimal_plan):
    # no approval check, no deployment: the only dynamic resource is the ML Metadata store
    assert [sorted(r.inputs) for r in minimal_plan.by_type(DYNAMIC)] == [["__provider", "kms_key", "project", "region"]]
    assert minimal_plan.outputs["endpoint"] is None
    assert minimal_plan.outputs["serving"] == NOT_SERVING
    endpoint = one(minimal_plan, "gcp:vertex/aiEndpoint:AiEndpoint")
    assert "privateServiceConnectConfig" not in endpoint  # public_access: true
    assert endpoint["predictRequestResponseLoggingConfig"]["samplingRate"] == pytest.approx(0.01)


def test_optional_parts_are_left_out(minimal_plan):
    assert minimal_plan.outputs["training_schedule"] is None
    assert minimal_plan.outputs["retrain_target"] is None
    assert minimal_plan.outputs["approval"] == "auto"
    # nothing served -> nothing monitored: no drift schedule, no alert (as on the other clouds)
    assert inputs(minimal_plan, "gcp:colab/schedule:Schedule") == []
    assert minimal_plan.outputs["monitor"] is None
    assert minimal_plan.outputs["drift_alarm"] == []
    assert minimal_plan.outputs["alert_topic"].startswith("projects/my-ml-project/notificationChannels/")
    for absent in (
        "gcp:logging/metric:Metric",
        "gcp:monitoring/alertPolicy:AlertPolicy",
        "gcp:eventarc/trigger:Trigger",
        "gcp:workflows/workflow:Workflow",
        "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore",
        "gcp:vertex/aiFeatureOnlineStoreFeatureview:AiFeatureOnlineStoreFeatureview",
    ):
        assert minimal_plan.by_type(absent) == []
    # the e-mail channel is what notifies alert_email; nothing publishes to Pub/Sub without retraining
    channels = {c["type"] for c in inputs(minimal_plan, "gcp:monitoring/notificationChannel:NotificationChannel")}
    assert channels == {"email"}
    assert minimal_plan.by_type("gcp:pubsub/topic:Topic") == []
    assert minimal_plan.by_type("gcp:pubsub/topicIAMMember:TopicIAMMember") == []
    assert not [r for r in minimal_plan.resources if r.name.endswith("-retrain-pubsub")]


def test_served_without_retraining_alerts_by_email_only(tmp_path):
    """retrain_on_drift: false -> the alert policy notifies only the e-mail channel; no topic."""

    def change(config):
        config["mlops:platform"]["monitor"]["retrain_on_drift"] = False

    result = plan(load_stack_file(write_stack(tmp_path, "gcp-noretrain", change)))
    email = result.one("gcp:monitoring/notificationChannel:NotificationChannel")
    assert email.inputs["type"] == "email"
    for policy in policies(result).values():
        assert policy["notificationChannels"] == [result.outputs["alert_topic"]]
    for absent in (
        "gcp:pubsub/topic:Topic",
        "gcp:pubsub/topicIAMMember:TopicIAMMember",
        "gcp:eventarc/trigger:Trigger",
        "gcp:workflows/workflow:Workflow",
    ):
        assert result.by_type(absent) == [], absent
    assert result.outputs["retrain_target"] is None
    assert result.outputs["drift_alarm"]  # the alert itself is still there


def test_one_incident_starts_one_retraining(gcp_plan):
    """Notify only when the incident opens, and the workflow also ignores anything but `open`."""
    policy = policies(gcp_plan)["churn-dev feature drift over 0.2"]
    assert policy["alertStrategy"] == {"notificationPrompts": ["OPENED"], "autoClose": "7200s"}

    workflow = yaml.safe_load(one(gcp_plan, "gcp:workflows/workflow:Workflow")["sourceContents"])["main"]
    assert workflow["params"] == ["event"]
    names = [next(iter(step)) for step in workflow["steps"]]
    assert names.index("read_incident") < names.index("only_when_opened") < names.index("create_pipeline_job")
    steps = {k: v for step in workflow["steps"] for k, v in step.items()}
    assert steps["read_incident"]["assign"] == [
        {"notification": "${json.decode(base64.decode(event.data.message.data))}"},
        {"state": '${map.get(notification, ["incident", "state"])}'},
        {"incident": '${text.substring(default(map.get(notification, ["incident", "incident_id"]), "none"), 0, 256)}'},
        {"slept": False},
        {"started": 0},
    ]
    assert steps["label_incident"]["assign"] == [
        {
            "incident_label": (
                '${text.substring(text.replace_all_regex(text.to_lower(incident), "[^a-z0-9_-]", "-"), 0, 63)}'
            )
        },
    ]
    assert steps["only_when_opened"]["switch"] == [{"condition": '${state != "open"}', "next": "ignored"}]
    assert "return" in steps["ignored"]
    # a job-creating run goes on watching the episode, and `over` returns before `ignored`: it never
    # falls through to it
    assert steps["started_one"]["next"] == "wait_in_flight"
    assert names.index("over") < names.index("ignored") and "return" in steps["over"]


def test_mlops_plan_notes_the_per_project_exclusion_limit(gcp_plan, capsys):
    """Audit finding 9: each platform adds one _Default-sink exclusion; Cloud Logging caps a project at
    10 (read from the installed client, the vendor's own text). `mlops plan` says so, without refusing."""
    from google.cloud.logging_v2.services.config_service_v2 import ConfigServiceV2Client

    from providers.gcp import GcpProvider

    assert "You can have up to 10 exclusions in a resource." in " ".join(
        ConfigServiceV2Client.create_exclusion.__doc__.split()
    )
    resources = gcp_plan.to_json()["resources"]
    GcpProvider().check_plan(resources)
    notes = [line for line in capsys.readouterr().err.splitlines() if "exclusion" in line]
    assert notes == [
        "mlops: note: churn-dev-foundation-log-exclusion adds the exclusion churn-dev-mlops-drift to the "
        "project's _Default sink; Cloud Logging allows at most 10 exclusions per project, so `pulumi up` fails "
        "if my-ml-project already has 10 (Logging API projects.exclusions.list counts them)"
    ]
