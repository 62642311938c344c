"""providers/gcp/vendor_rules.py: every request the kit makes to Google, held against Google's model.

1. The validator on synthetic input: what Google refuses is refused, a valid request passes.
2. The class tests: every plan (the example stack and stacks with every option on), every request
   the dynamic providers and the register step send at run time (recorded by the fake Vertex
   server, sent by the real aiplatform clients). None may break a rule: what `mlops plan` refuses
   (vendor-kind) and the kit's own promises (kit-kind: CMEK, pinned images, one runtime).
3. Issue 9 item 1: the framework version the served model is loaded with is the one it is trained with.
4. IAM: every permission and predefined role against a catalogue written here with its source.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from providers.gcp import vendor_rules as vr
from tests.gcp.conftest import STACKS, plan_of

ROOT = Path(__file__).resolve().parents[2]
P = "projects/my-ml-project/locations/europe-west4"
KEY = f"{P}/keyRings/churn-dev-mlops/cryptoKeys/churn-dev-cmek"
SKLEARN_15 = "europe-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"


def rules(violations) -> list[tuple[str, str]]:
    return sorted((v.resource, v.field) for v in violations)


# --- 1. synthetic input --------------------------------------------------------------------------

VALID_ENDPOINT = {
    "parent": P,
    "endpointId": "1966262384",
    "endpoint": {
        "displayName": "churn-dev-endpoint",
        "labels": {"mlops-platform": "churn", "team": "ml-platform"},
        "encryptionSpec": {"kmsKeyName": KEY},
        "privateServiceConnectConfig": {"enablePrivateServiceConnect": True, "projectAllowlist": ["my-ml-project"]},
        "predictRequestResponseLoggingConfig": {
            "enabled": True,
            "samplingRate": 0.2,
            "bigqueryDestination": {"outputUri": "bq://my-ml-project.churn_dev_serving_logs.request_response_logging"},
        },
    },
}
VALID_DEPLOY = {
    "endpoint": f"{P}/endpoints/1966262384",
    "deployedModel": {
        "model": f"{P}/models/churn-dev-churn@1",
        "displayName": "churn-dev-churn-v1",
        "serviceAccount": "churn-dev-serve@my-ml-project.iam.gserviceaccount.com",
        "dedicatedResources": {
            "machineSpec": {
                "machineType": "n1-standard-8",
                "acceleratorType": "NVIDIA_TESLA_T4",
                "acceleratorCount": 1,
            },
            "minReplicaCount": 1,
            "maxReplicaCount": 4,
            "autoscalingMetricSpecs": [
                {"metricName": "aiplatform.googleapis.com/prediction/online/cpu/utilization", "target": 70}
            ],
        },
    },
    "trafficSplit": {"0": 100},
}
VALID_UPLOAD = {
    "parent": P,
    "modelId": "churn-dev-churn",
    "model": {
        "displayName": "churn-dev-churn",
        "artifactUri": "gs://b/pipeline-root/run/train/model",
        "containerSpec": {"imageUri": SKLEARN_15, "predictRoute": "/predict", "healthRoute": "/health"},
        "labels": {"approval": "pending"},
        "encryptionSpec": {"kmsKeyName": KEY},
    },
}
VALID_FEATURE_GROUP = {
    "parent": P,
    "featureGroupId": "churn_dev_customer_profile",
    "featureGroup": {
        "bigQuery": {
            "bigQuerySource": {"inputUri": "bq://my-ml-project.churn_dev_features.customer_profile"},
            "entityIdColumns": ["customer_id"],
        },
        "labels": {"mlops-platform": "churn"},
    },
}


@pytest.mark.parametrize(
    ("message", "body"),
    [
        ("CreateEndpointRequest", VALID_ENDPOINT),
        ("DeployModelRequest", VALID_DEPLOY),
        ("UploadModelRequest", VALID_UPLOAD),
        ("CreateFeatureGroupRequest", VALID_FEATURE_GROUP),
    ],
)
def test_a_valid_request_passes(message, body):
    assert vr.check_request(message, body) == []


def test_an_unknown_field_is_refused_with_its_path():
    body = copy.deepcopy(VALID_ENDPOINT)
    body["endpoint"]["privateServiceConnectConfig"]["projectAllowlists"] = ["my-ml-project"]  # pulumi's spelling
    body["endpoint"]["trafficSplitt"] = {}
    assert rules(vr.check_request("CreateEndpointRequest", body)) == [
        ("CreateEndpointRequest", "endpoint.privateServiceConnectConfig.projectAllowlists"),
        ("CreateEndpointRequest", "endpoint.trafficSplitt"),
    ]


def test_a_bad_enum_name_is_refused_and_the_number_the_rest_client_sends_is_not():
    body = copy.deepcopy(VALID_DEPLOY)
    body["deployedModel"]["dedicatedResources"]["machineSpec"]["acceleratorType"] = "NVIDIA_TESLA_T5"
    found = vr.check_request("DeployModelRequest", body)
    assert rules(found) == [("DeployModelRequest", "deployedModel.dedicatedResources.machineSpec.acceleratorType")]
    assert "NVIDIA_TESLA_T4" in found[0].rule  # names the values the enum has
    body["deployedModel"]["dedicatedResources"]["machineSpec"]["acceleratorType"] = 5  # T4, as REST sends it
    assert vr.check_request("DeployModelRequest", body) == []


def test_a_wrong_scalar_type_is_refused():
    body = copy.deepcopy(VALID_DEPLOY)
    body["deployedModel"]["dedicatedResources"]["minReplicaCount"] = 1.5
    assert rules(vr.check_request("DeployModelRequest", body)) == [
        ("DeployModelRequest", "deployedModel.dedicatedResources.minReplicaCount")
    ]


@pytest.mark.parametrize(
    ("message", "field", "body_key", "limit"),
    [
        ("CreateFeatureGroupRequest", "feature_group_id", "featureGroupId", 128),
        ("CreateFeatureOnlineStoreRequest", "feature_online_store_id", "featureOnlineStoreId", 60),
        ("CreateFeatureViewRequest", "feature_view_id", "featureViewId", 60),
        ("CreateFeatureRequest", "feature_id", "featureId", 128),
        ("UploadModelRequest", "model_id", "modelId", 63),
    ],
)
def test_an_over_long_id_is_refused_at_the_limit_the_proto_states(message, field, body_key, limit):
    # The limit is written here literally; the validator reads it from the installed proto's comment.
    assert vr.doc_id_rule(message, field)[0] == limit
    assert vr._check_id("a" * limit, message, field, "r", body_key) == []
    assert rules(vr._check_id("a" * (limit + 1), message, field, "r", body_key)) == [("r", body_key)]
    assert rules(vr._check_id("9abc", message, field, "r", body_key)) == [("r", body_key)]  # digit first
    assert rules(vr._check_id("ab.c", message, field, "r", body_key)) == [("r", body_key)]


def test_numeric_endpoint_ids_up_to_ten_digits_although_the_proto_comment_says_nine():
    # The stale comment this rule overrides: when Google corrects it, drop ENDPOINT_ID_API.
    doc = vr.field_docs("google.cloud.aiplatform.v1.CreateEndpointRequest")["endpoint_id"]
    assert "up to 9 characters" in doc
    assert vr.check_endpoint_id("1966262384", "r") == []  # 10 digits: the API accepts it
    assert rules(vr.check_endpoint_id("19662623841", "r")) == [("r", "endpoint_id")]
    assert rules(vr.check_endpoint_id("0966262384", "r")) == [("r", "endpoint_id")]
    assert vr.check_endpoint_id("churn-dev", "r") == []
    assert rules(vr.check_endpoint_id("churn-dev-", "r")) == [("r", "endpoint_id")]
    assert rules(vr.check_endpoint_id("c" * 64, "r")) == [("r", "endpoint_id")]


def test_labels_display_names_required_and_output_only_fields():
    body = copy.deepcopy(VALID_ENDPOINT)
    body["endpoint"]["labels"] = {"Team": "ml", "1st": "x", "ok": "v" * 65}
    body["endpoint"]["displayName"] = "d" * 129
    body["endpoint"]["deployedModels"] = [{"id": "1"}]  # output only
    found = rules(vr.check_request("CreateEndpointRequest", body))
    assert found == [
        ("CreateEndpointRequest", "endpoint.deployedModels"),
        ("CreateEndpointRequest", "endpoint.displayName"),
        ("CreateEndpointRequest", "endpoint.labels[1st]"),
        ("CreateEndpointRequest", "endpoint.labels[Team]"),
        ("CreateEndpointRequest", "endpoint.labels[Team]"),  # uppercase, and not a lowercase letter first
        ("CreateEndpointRequest", "endpoint.labels[ok]"),
    ]
    del body["endpoint"]["displayName"]
    assert ("CreateEndpointRequest", "endpoint.displayName") in rules(vr.check_request("CreateEndpointRequest", body))


def test_a_key_in_another_region_and_a_missing_key_are_refused():
    body = copy.deepcopy(VALID_UPLOAD)
    body["model"]["encryptionSpec"] = {"kmsKeyName": KEY.replace("europe-west4", "us-central1")}
    assert rules(vr.check_request("UploadModelRequest", body)) == [("UploadModelRequest", "model.encryptionSpec")]
    del body["model"]["encryptionSpec"]
    (missing,) = vr.check_request("UploadModelRequest", body)
    assert (missing.field, missing.kind) == ("model.encryptionSpec", "kit")


def test_deploy_rules_the_schema_cannot_hold():
    body = copy.deepcopy(VALID_DEPLOY)
    resources = body["deployedModel"]["dedicatedResources"]
    resources["minReplicaCount"], resources["maxReplicaCount"] = 3, 2
    resources["autoscalingMetricSpecs"][0] |= {"metricName": "cpu", "target": 0}
    body["trafficSplit"] = {"0": 90}
    path = "deployedModel.dedicatedResources"
    assert rules(vr.check_request("DeployModelRequest", body)) == [
        ("DeployModelRequest", f"{path}.autoscalingMetricSpecs[0].metricName"),
        ("DeployModelRequest", f"{path}.autoscalingMetricSpecs[0].target"),
        ("DeployModelRequest", f"{path}.maxReplicaCount"),
        ("DeployModelRequest", "trafficSplit"),
    ]


def test_online_store_autoscaling_bounds_the_proto_states():
    body = {
        "parent": P,
        "featureOnlineStoreId": "churn_dev_online",
        "featureOnlineStore": {
            "bigtable": {"autoScaling": {"minNodeCount": 1, "maxNodeCount": 10, "cpuUtilizationTarget": 80}},
            "encryptionSpec": {"kmsKeyName": KEY},
        },
    }
    assert vr.check_request("CreateFeatureOnlineStoreRequest", body) == []
    body["featureOnlineStore"]["bigtable"]["autoScaling"] = {
        "minNodeCount": 1,
        "maxNodeCount": 11,
        "cpuUtilizationTarget": 85,
    }
    path = "featureOnlineStore.bigtable.autoScaling"
    assert rules(vr.check_request("CreateFeatureOnlineStoreRequest", body)) == [
        ("CreateFeatureOnlineStoreRequest", f"{path}.cpuUtilizationTarget"),
        ("CreateFeatureOnlineStoreRequest", f"{path}.maxNodeCount"),
    ]


def test_mutate_masks_only_the_fields_the_api_lets_change():
    body = {
        "endpoint": f"{P}/endpoints/1",
        "deployedModel": {"id": "1"},
        "updateMask": "dedicatedResources.minReplicaCount",
    }
    assert vr.check_request("MutateDeployedModelRequest", body) == []
    body["updateMask"] = "dedicatedResources.machineSpec"
    assert rules(vr.check_request("MutateDeployedModelRequest", body)) == [("MutateDeployedModelRequest", "updateMask")]


def test_version_aliases_follow_the_proto_pattern():
    body = {"name": f"{P}/models/m@1", "versionAliases": ["approved", "-approved"]}
    assert vr.check_request("MergeVersionAliasesRequest", body) == []
    body["versionAliases"] = ["Approved_1"]
    assert rules(vr.check_request("MergeVersionAliasesRequest", body)) == [
        ("MergeVersionAliasesRequest", "versionAliases[0]")
    ]


def test_a_rest_call_is_mapped_to_its_request_by_the_clients_own_routes():
    assert vr.rest_request("POST", f"/v1/{P}/endpoints/1:deployModel", {"trafficSplit": {}})[0] == "DeployModelRequest"
    message, body = vr.rest_request("PATCH", f"/v1/{P}/models/m@1", {"labels": {"a": "b"}}, "updateMask=labels")
    assert (message, body) == (
        "UpdateModelRequest",
        {"model": {"labels": {"a": "b"}, "name": f"{P}/models/m@1"}, "updateMask": "labels"},
    )
    assert vr.rest_request("POST", f"https://x/v1/{P}/pipelineJobs", {})[0] == "CreatePipelineJobRequest"


@pytest.fixture(scope="module")
def compiled_training_spec():
    from pipelines import get_pipeline
    from providers.gcp import pipeline_definition as pd

    return pd.compile_spec(
        pd.build_training_pipeline(
            get_pipeline("churn"), display_name="churn-dev-churn", gate_metric="roc_auc", gate_threshold=0.75
        )
    )


def test_pipeline_parameters_are_held_to_the_compiled_spec_as_the_aiplatform_sdk_holds_them(compiled_training_spec):
    from google.cloud.aiplatform.utils.pipeline_utils import PipelineRuntimeConfigBuilder

    values = {
        "code_uri": "gs://b/code/churn",
        "project": "my-ml-project",
        "location": "europe-west4",
        "model_id": "churn-dev-churn",
        "serving_image": SKLEARN_15,
        "kms_key": KEY,
        "baseline_root": "gs://b/baselines/churn-dev-churn",
    }
    job = {"pipelineSpec": compiled_training_spec, "runtimeConfig": {"gcsOutputDirectory": "gs://b/root"}}
    job["runtimeConfig"]["parameterValues"] = values
    assert vr.check_pipeline_job(job, "r", "job") == []
    PipelineRuntimeConfigBuilder.from_job_spec_json(job).build()  # the SDK agrees

    job["runtimeConfig"]["parameterValues"] = values | {"aproval": "auto"}
    assert rules(vr.check_pipeline_job(job, "r", "job")) == [("r", "job.runtimeConfig.parameterValues[aproval]")]
    with pytest.raises(ValueError, match="aproval is not found"):
        PipelineRuntimeConfigBuilder.from_job_spec_json(job).build()  # and so does the SDK

    # issue 9 item 10: the approval mode is compiled in; a run started by hand cannot pass one
    job["runtimeConfig"]["parameterValues"] = values | {"approval": "auto"}
    assert rules(vr.check_pipeline_job(job, "r", "job")) == [("r", "job.runtimeConfig.parameterValues[approval]")]
    with pytest.raises(ValueError, match="approval is not found"):
        PipelineRuntimeConfigBuilder.from_job_spec_json(job).build()

    job["runtimeConfig"]["parameterValues"] = {k: v for k, v in values.items() if k != "model_id"}
    assert rules(vr.check_pipeline_job(job, "r", "job")) == [("r", "job.runtimeConfig.parameterValues")]


def test_a_serving_image_must_be_a_prebuilt_container_of_the_trained_framework_version():
    table = vr.prebuilt_serving_containers()
    assert table[SKLEARN_15] == ("sklearn", "cpu", "1.5")  # read from the SDK's table
    assert vr.check_training_matches_serving(SKLEARN_15, "scikit-learn==1.5.*\n", "r", "f") == []
    assert vr.check_training_matches_serving(SKLEARN_15, "scikit-learn==1.5.2\nnumpy<2\n", "r", "f") == []
    for wrong in ("scikit-learn>=1.5,<2", "scikit-learn==1.6.1", "scikit-learn", "pandas"):
        assert rules(vr.check_training_matches_serving(SKLEARN_15, wrong, "r", "f")) == [("r", "f")], wrong
    assert rules(vr.check_serving_image("python:3.11-slim", "r", "f")) == [("r", "f")]
    # the documented :latest tag resolved to a digest of the same repository is the same image
    by_digest = SKLEARN_15.replace(":latest", "@sha256:" + "0" * 64)
    assert vr.prebuilt_entry(by_digest) == ("sklearn", "cpu", "1.5")
    assert vr.check_training_matches_serving(by_digest, "scikit-learn==1.5.2\n", "r", "f") == []
    assert rules(vr.check_serving_image(by_digest.replace("1-5", "9-9"), "r", "f")) == [("r", "f")]


def test_images_must_be_google_hosted_and_pinned():
    digest = "@sha256:" + "ab" * 32
    for good in (SKLEARN_15.replace(":latest", digest), "gcr.io/ml-pipeline/x:2.17.0", "us-docker.pkg.dev/p/r/i:v1"):
        assert vr.check_image_pinned(good, "r", "f") == [], good
    for bad in (SKLEARN_15, "python:3.11-slim", "docker.io/library/python@sha256:" + "ab" * 32, "gcr.io/p/i"):
        found = vr.check_image_pinned(bad, "r", "f")
        assert found and {v.kind for v in found} == {"kit"}, bad


def test_pulumi_inputs_are_held_to_the_installed_args_classes():
    endpoint = {
        "type": "gcp:vertex/aiEndpoint:AiEndpoint",
        "name": "ep",
        "inputs": {
            "location": "europe-west4",
            "displayName": "x",
            "encryptionSpecs": {"kmsKeyName": KEY},  # misspelt
            "privateServiceConnectConfig": {"enablePrivateServiceConnect": True, "projectAllowlist": ["p"]},
        },
    }
    assert rules(vr.check_pulumi_inputs(endpoint)) == [
        ("ep", "encryptionSpecs"),
        ("ep", "privateServiceConnectConfig.projectAllowlist"),  # pulumi_gcp spells it projectAllowlists
    ]
    del endpoint["inputs"]["location"]
    assert ("ep", "location") in rules(vr.check_pulumi_inputs(endpoint))  # a required argument


def _group_plan(schema: list[dict]) -> list[dict]:
    return [
        {
            "type": "gcp:bigquery/table:Table",
            "name": "t",
            "inputs": {"project": "p1-proj", "datasetId": "d", "tableId": "t", "schema": json.dumps(schema)},
        },
        {
            "type": "gcp:vertex/aiFeatureGroup:AiFeatureGroup",
            "name": "g",
            "inputs": {
                "project": "p1-proj",
                "region": "europe-west4",
                "name": "g",
                "bigQuery": {"bigQuerySource": {"inputUri": "bq://p1-proj.d.t"}, "entityIdColumns": ["id"]},
            },
        },
    ]


def test_a_feature_group_source_needs_a_feature_timestamp_column():
    ok = [{"name": "id", "type": "STRING"}, {"name": "feature_timestamp", "type": "TIMESTAMP"}]
    assert vr.check_feature_sources(_group_plan(ok)) == []
    wrong = [{"name": "id", "type": "STRING"}, {"name": "event_time", "type": "TIMESTAMP"}]
    assert rules(vr.check_feature_sources(_group_plan(wrong))) == [("g", "bigQuery.bigQuerySource.inputUri")]
    no_entity = [{"name": "key", "type": "STRING"}, {"name": "feature_timestamp", "type": "TIMESTAMP"}]
    assert rules(vr.check_feature_sources(_group_plan(no_entity))) == [("g", "bigQuery.entityIdColumns")]


def test_a_view_of_the_table_is_read_with_the_columns_it_selects():
    table = [{"name": "id", "type": "STRING"}, {"name": "event_time", "type": "TIMESTAMP"}]
    plan = _group_plan(table)
    plan.append(
        {
            "type": "gcp:bigquery/table:Table",
            "name": "v",
            "inputs": {
                "project": "p1-proj",
                "datasetId": "d",
                "tableId": "v",
                "view": {"query": "SELECT *, `event_time` AS feature_timestamp FROM `p1-proj.d.t`"},
            },
        }
    )
    plan[1]["inputs"]["bigQuery"]["bigQuerySource"]["inputUri"] = "bq://p1-proj.d.v"
    assert vr.check_feature_sources(plan) == []
    plan[2]["inputs"]["view"]["query"] = "SELECT *, `id` AS feature_timestamp FROM `p1-proj.d.t`"  # a STRING
    assert rules(vr.check_feature_sources(plan)) == [("g", "bigQuery.bigQuerySource.inputUri")]


def test_iam_custom_roles_are_well_formed():
    role = {
        "type": "gcp:projects/iAMCustomRole:IAMCustomRole",
        "name": "role",
        "inputs": {"roleId": "churn-dev", "title": "t", "stage": "GA", "permissions": ["aiplatform.models"]},
    }
    assert rules(vr.check_iam([role])) == [("role", "permissions"), ("role", "roleId")]


# --- 2. the class tests over plans ---------------------------------------------------------------


def test_the_every_option_stacks_have_every_option(tmp_path_factory):
    """The stacks below really exercise what they claim to (else the class tests prove less)."""
    private = plan_of("every-option-private", tmp_path_factory)
    public = plan_of("every-option-public", tmp_path_factory)
    types = lambda res: [r["type"] for r in res]  # noqa: E731
    for res in (private, public):
        assert types(res).count("gcp:vertex/aiFeatureGroup:AiFeatureGroup") == 3
        assert types(res).count("gcp:vertex/aiFeatureOnlineStoreFeatureview:AiFeatureOnlineStoreFeatureview") == 2
        assert types(res).count("gcp:colab/schedule:Schedule") == 2  # training + drift
        deploy = next(r for r in res if r["type"] == vr.DYNAMIC and "machine_type" in r["inputs"])
        assert deploy["inputs"]["accelerator_type"] == "NVIDIA_TESLA_T4"
    assert "gcp:workflows/workflow:Workflow" in types(private) and "gcp:workflows/workflow:Workflow" not in types(
        public
    )
    endpoint = lambda res: next(r for r in res if r["type"] == "gcp:vertex/aiEndpoint:AiEndpoint")["inputs"]  # noqa: E731
    assert endpoint(private)["privateServiceConnectConfig"]["enablePrivateServiceConnect"] is True
    assert "privateServiceConnectConfig" not in endpoint(public)


ALL_STACKS = list(STACKS)


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_pulumi_input_is_an_argument_of_the_installed_pulumi_gcp(stack, tmp_path_factory):
    assert [str(v) for v in vr.check_plan_inputs(plan_of(stack, tmp_path_factory))] == []


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_vertex_request_of_the_plan_is_valid(stack, tmp_path_factory):
    """Endpoint, feature groups/features/online store/views, schedules' pipeline jobs (spec and
    parameters), DeployModel and the approval's requests, and the retraining workflow's job."""
    resources = plan_of(stack, tmp_path_factory)
    requests = [m for r in resources for m, _ in vr.vertex_requests(r)]
    assert {"CreateEndpointRequest", "CreateFeatureGroupRequest", "CreateScheduleRequest", "DeployModelRequest"} <= set(
        requests
    )
    assert [str(v) for v in vr.check_plan_requests(resources)] == []


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_feature_group_source_has_what_vertex_reads(stack, tmp_path_factory):
    """Issue 9 item 2, the class: every feature group of every plan reads a source with its entity
    columns and a TIMESTAMP feature_timestamp (FeatureGroup.big_query), and every feature's column."""
    resources = plan_of(stack, tmp_path_factory)
    groups = [r for r in resources if r["type"] == "gcp:vertex/aiFeatureGroup:AiFeatureGroup"]
    assert len(groups) == (1 if stack == "gcp-dev" else 3)
    assert [str(v) for v in vr.check_feature_sources(resources)] == []


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_a_private_endpoint_is_reachable_from_the_kits_vpc(stack, tmp_path_factory):
    """Issue 9 item 4, the class: an endpoint behind Private Service Connect that serves a model has a
    consumer: a forwarding rule in the kit's VPC, at an internal address of a subnet of that VPC in the
    endpoint's region, targeting the service attachment Vertex created for that endpoint's deployment,
    in a project the endpoint allowlists. A public endpoint has none."""
    resources = plan_of(stack, tmp_path_factory)

    def of(typ):
        return [r["inputs"] for r in resources if r["type"] == typ]

    (endpoint,) = of("gcp:vertex/aiEndpoint:AiEndpoint")
    rules_ = of("gcp:compute/forwardingRule:ForwardingRule")
    if stack == "every-option-public":
        assert "privateServiceConnectConfig" not in endpoint and rules_ == []
        return
    psc = endpoint["privateServiceConnectConfig"]
    assert psc["enablePrivateServiceConnect"] is True
    (deployed,) = [r for r in resources if r["type"] == vr.DYNAMIC and "machine_type" in r["inputs"]]
    (rule,) = rules_
    (address,) = of("gcp:compute/address:Address")
    (subnet,) = of("gcp:compute/subnetwork:Subnetwork")
    (network,) = of("gcp:compute/network:Network")
    network_id = f"projects/{network['project']}/global/networks/{network['name']}"
    assert rule["network"] == subnet["network"] == network_id
    assert rule["ipAddress"] == f"projects/{address['project']}/regions/{address['region']}/addresses/{address['name']}"
    assert address["addressType"] == "INTERNAL"
    assert (
        address["subnetwork"] == f"projects/{subnet['project']}/regions/{subnet['region']}/subnetworks/{subnet['name']}"
    )
    assert rule["region"] == subnet["region"] == endpoint["region"] == "europe-west4"
    assert rule["loadBalancingScheme"] == ""
    # the attachment the DeployedModel reads back from the endpoint it deployed to (a fake one offline)
    assert rule["target"].startswith("projects/offline-tenant-project/regions/europe-west4/serviceAttachments/")
    assert rule["project"] in psc["projectAllowlists"]
    assert deployed["inputs"]["endpoint"].endswith(f"/endpoints/{endpoint['name']}")
    # request-response logging works on PSC endpoints (Choose an endpoint type): it stays on
    assert endpoint["predictRequestResponseLoggingConfig"]["enabled"] is True
    assert [str(v) for v in vr.check_network(resources)] == []


def test_psc_forwarding_rules_and_logging_follow_the_documented_rules():
    attachment = "projects/t/regions/europe-west4/serviceAttachments/sa"
    rule = {"type": "gcp:compute/forwardingRule:ForwardingRule", "name": "fr", "inputs": {"region": "europe-west4"}}
    rule["inputs"] |= {"target": attachment, "loadBalancingScheme": ""}
    assert vr.check_network([rule]) == []
    rule["inputs"] |= {"loadBalancingScheme": "INTERNAL", "region": "us-central1"}
    assert rules(vr.check_network([rule])) == [("fr", "loadBalancingScheme"), ("fr", "target")]
    del rule["inputs"]["loadBalancingScheme"]  # pulumi_gcp's default is EXTERNAL
    assert ("fr", "loadBalancingScheme") in rules(vr.check_network([rule]))
    body = copy.deepcopy(VALID_ENDPOINT)
    del body["endpoint"]["privateServiceConnectConfig"]
    body["endpoint"]["network"] = "projects/123/global/networks/n"  # a VPC-peering private endpoint
    assert rules(vr.check_request("CreateEndpointRequest", body)) == [
        ("CreateEndpointRequest", "endpoint.predictRequestResponseLoggingConfig.enabled")
    ]


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_the_serving_image_serves_the_framework_version_training_installs(stack, tmp_path_factory):
    assert [str(v) for v in vr.check_serving_runtime(plan_of(stack, tmp_path_factory))] == []


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_image_is_pinned_google_hosted_and_one_runtime(stack, tmp_path_factory):
    """Issue 9 items 1 and 12, the class: every executor of every pipeline job (training, drift,
    retraining) and every registered model's image, in every plan."""
    resources = plan_of(stack, tmp_path_factory)
    jobs = vr._pipeline_jobs(resources)
    assert len(jobs) == (3 if stack != "every-option-public" else 2)  # schedules (+ the retraining workflow)
    assert [str(v) for v in vr.check_images(resources)] == []


# --- the requests made at run time ---------------------------------------------------------------


@pytest.fixture()
def vertex():
    from tests.gcp.fake_vertex import FakeVertex

    fake = FakeVertex()
    fake.url = fake.start()
    yield fake
    fake.stop()


def recorded_violations(vertex) -> list[str]:
    assert vertex.requests, "nothing was sent"
    return [str(v) for r in vertex.requests for v in vr.check_rest_call(r.method, r.path, r.body, r.query)]


def test_every_request_the_dynamic_providers_send_is_valid(vertex, tmp_path_factory):
    """The props of the every-option plan (GPU, auto approval), through the real providers and the
    real aiplatform REST clients: check, deploy, read, scale (MutateDeployedModel), undeploy, and
    the reviewer's approve and revoke commands."""
    from providers.gcp.dynamic import ApprovalCheckProvider, DeployedModelProvider, main

    resources = plan_of("every-option-private", tmp_path_factory)
    dynamic = [r["inputs"] for r in resources if r["type"] == vr.DYNAMIC]
    deploy = next(i for i in dynamic if "machine_type" in i) | {"api_endpoint": vertex.url}
    approve = next(i for i in dynamic if "mode" in i) | {"api_endpoint": vertex.url}
    deploy.pop("__provider", None), approve.pop("__provider", None)
    model = f"{P}/models/{approve['model_id']}@{approve['version']}".replace("my-ml-project", approve["project"])
    vertex.models[model] = {"versionAliases": [], "labels": {"approval": "pending"}}
    from tests.gcp.fake_gcs import FakeGcs

    gcs = FakeGcs(buckets={approve["approvals_bucket"]: {}})  # where the approval records go
    approve["storage_endpoint"] = gcs.start()
    command = ["--project", approve["project"], "--region", approve["region"], "--model", approve["model_id"]]
    command += ["--platform", "churn-prod", "--version", approve["version"], "--api-endpoint", vertex.url]
    command += ["--storage-endpoint", gcs.url]

    main(["approve", *command])
    check = ApprovalCheckProvider().create(approve)
    provider = DeployedModelProvider()
    created = provider.create(deploy)
    provider.read(created.id, created.outs)
    provider.update(created.id, created.outs, deploy | {"max_replicas": 8.0, "cpu_target": 50.0})
    provider.delete(created.id, created.outs)
    ApprovalCheckProvider().delete(check.id, check.outs)
    main(["revoke", *command])
    gcs.stop()
    assert len(gcs.buckets[approve["approvals_bucket"]]) == 2  # the approval and the revocation

    sent = {r.path.rsplit(":", 1)[-1] for r in vertex.requests if r.method == "POST"}
    assert {"deployModel", "mutateDeployedModel", "undeployModel", "mergeVersionAliases"} <= sent
    assert recorded_violations(vertex) == []


DIGEST_15 = SKLEARN_15.replace(":latest", "@sha256:" + "5" * 64)


@pytest.mark.parametrize("approval", ["manual", "auto"])
def test_every_request_the_register_step_sends_is_valid(vertex, approval, tmp_path):
    from providers.gcp import pipeline_definition as pd
    from providers.gcp import vertex_server

    class Model:
        uri = path = "gs://my-ml-project-churn-dev-mlops/pipeline-root/churn-dev-churn/run/train/model"

    class Baseline:
        path = str(tmp_path / "baseline")

    (tmp_path / "baseline").mkdir()
    (tmp_path / "baseline" / "baseline.csv").write_text("tenure_months\n3\n")
    baselines = tmp_path / "baselines"

    for _ in range(2):  # creates the model, then a second version
        pd._register_component().python_func(
            model=Model(),
            baseline=Baseline(),
            baseline_root=str(baselines),
            project="my-ml-project",
            location="europe-west4",
            model_id="churn-dev-churn",
            serving_image=DIGEST_15,
            kms_key=KEY,
            approval=approval,
            gate_metric="roc_auc",
            gate_value=0.81,
            serving_spec=json.dumps(vertex_server.container_spec()),
            api_endpoint=vertex.url,
        )
    assert [r.path for r in vertex.requests if r.path.endswith(":upload")]
    assert recorded_violations(vertex) == []


def test_the_served_model_is_loaded_with_the_framework_version_it_is_trained_with(tmp_path_factory):
    """Issue 9 item 1, the class (every plan): what the train step installs and the runtime the
    model is served on carry the same framework version. The steps pip-install the uploaded
    requirements.txt on the step image; the register step uploads the model with the serving image.
    Both images are the same prebuilt scikit-learn 1.4 image (by digest), and the requirements pin
    exactly scikit-learn 1.4.2 (PipelineDef.framework), written here literally."""
    for stack in ALL_STACKS:
        resources = plan_of(stack, tmp_path_factory)
        (training,) = [
            job
            for _, path, job in vr._pipeline_jobs(resources)
            if path.startswith("createPipeline") and "serving_image" in job["runtimeConfig"]["parameterValues"]
        ]
        serving = training["runtimeConfig"]["parameterValues"]["serving_image"]
        assert serving.startswith("europe-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-4@sha256:"), stack
        executors = training["pipelineSpec"]["deploymentSpec"]["executors"]
        train = executors["exec-churn-train"]["container"]
        assert train["image"] == serving, stack
        assert '-r "$code/requirements.txt"' in train["command"][2]
        requirements, _ = vr._requirements_text(resources, ROOT)
        pins = [line for line in requirements.splitlines() if line.startswith("scikit-learn")]
        assert pins == ["scikit-learn==1.4.2"], stack
        assert vr.prebuilt_entry(serving) == ("sklearn", "cpu", "1.4")


def test_a_framework_without_a_prebuilt_image_is_refused_naming_the_pipeline():
    from pipelines.spec import Framework
    from providers.gcp.translate import serving_image
    from providers.spec import SpecError

    assert serving_image("europe-west4", Framework("scikit-learn", "1.4.2")) == SKLEARN_15.replace("1-5", "1-4")
    assert serving_image("us-central1", Framework("xgboost", "2.1.3")).startswith("us-docker.pkg.dev/")
    with pytest.raises(SpecError) as err:
        serving_image("europe-west4", Framework("scikit-learn", "1.9.1"))
    assert err.value.key == "mlops:platform.pipeline.name"
    assert "1.6" in err.value.rule and "1.9" in err.value.rule


# --- 4. IAM: the catalogue, written here with its source -----------------------------------------

IAM_PERMISSIONS_SOURCE = (
    "Vertex AI access control, roles/aiplatform.user permissions "
    "(https://cloud.google.com/vertex-ai/docs/general/access-control); cross-checked against the IAM API dump "
    "gcp/roles/aiplatform.user.json of https://github.com/iann0036/iam-dataset; monitoring.timeSeries.list: "
    'gcp/roles/monitoring.viewer.json of the same dump; workflows.executions.create: "Workflows roles and '
    'permissions" (https://cloud.google.com/workflows/docs/access-control, "Trigger a workflow execution")'
)
IAM_PERMISSIONS = {
    "aiplatform.artifacts.create",
    "aiplatform.artifacts.delete",
    "aiplatform.artifacts.get",
    "aiplatform.artifacts.list",
    "aiplatform.artifacts.update",
    "aiplatform.contexts.addContextArtifactsAndExecutions",
    "aiplatform.contexts.addContextChildren",
    "aiplatform.contexts.create",
    "aiplatform.contexts.delete",
    "aiplatform.contexts.get",
    "aiplatform.contexts.list",
    "aiplatform.contexts.queryContextLineageSubgraph",
    "aiplatform.contexts.update",
    "aiplatform.endpoints.create",
    "aiplatform.endpoints.delete",
    "aiplatform.endpoints.deploy",
    "aiplatform.endpoints.explain",
    "aiplatform.endpoints.get",
    "aiplatform.endpoints.list",
    "aiplatform.endpoints.predict",
    "aiplatform.endpoints.undeploy",
    "aiplatform.endpoints.update",
    "aiplatform.executions.addExecutionEvents",
    "aiplatform.executions.create",
    "aiplatform.executions.delete",
    "aiplatform.executions.get",
    "aiplatform.executions.list",
    "aiplatform.executions.queryExecutionInputsAndOutputs",
    "aiplatform.executions.update",
    "aiplatform.metadataStores.create",
    "aiplatform.metadataStores.delete",
    "aiplatform.metadataStores.get",
    "aiplatform.metadataStores.list",
    "aiplatform.models.delete",
    "aiplatform.models.export",
    "aiplatform.models.get",
    "aiplatform.models.list",
    "aiplatform.models.update",
    "aiplatform.models.upload",
    "aiplatform.operations.list",
    "aiplatform.pipelineJobs.cancel",
    "aiplatform.pipelineJobs.create",
    "aiplatform.pipelineJobs.delete",
    "aiplatform.pipelineJobs.get",
    "aiplatform.pipelineJobs.list",
    "aiplatform.schedules.create",
    "aiplatform.schedules.delete",
    "aiplatform.schedules.get",
    "aiplatform.schedules.list",
    "aiplatform.schedules.update",
    "monitoring.timeSeries.list",
    "workflows.executions.create",
}
IAM_ROLES_SOURCE = (
    "IAM roles and permissions index, one page per service: https://cloud.google.com/iam/docs/roles-permissions/"
    "{bigquery,logging,storage,cloudkms,pubsub,eventarc,workflows,iam}; each role also present in "
    "gcp/roles/*.json of https://github.com/iann0036/iam-dataset"
)
IAM_ROLES = {
    "roles/bigquery.dataEditor",
    "roles/bigquery.dataViewer",
    "roles/bigquery.jobUser",
    "roles/cloudkms.cryptoKeyEncrypterDecrypter",
    "roles/eventarc.eventReceiver",
    "roles/iam.serviceAccountUser",
    "roles/logging.logWriter",
    "roles/pubsub.publisher",
    "roles/storage.objectAdmin",
    "roles/storage.objectViewer",
}


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_permission_and_predefined_role_is_in_googles_catalogue(stack, tmp_path_factory):
    resources = plan_of(stack, tmp_path_factory)
    permissions, roles = vr.iam_names(resources)
    assert permissions and roles
    assert vr.check_iam_catalogue(resources, IAM_PERMISSIONS, IAM_ROLES, IAM_PERMISSIONS_SOURCE) == []
    assert [str(v) for v in vr.check_iam(resources)] == []


def test_a_misspelt_permission_or_role_is_refused(tmp_path_factory):
    """Issue 16's planted defect: a custom-role permission misspelt."""
    resources = copy.deepcopy(plan_of("gcp-dev", tmp_path_factory))
    role = next(r for r in resources if r["type"] == "gcp:projects/iAMCustomRole:IAMCustomRole")
    role["inputs"]["permissions"] = [*role["inputs"]["permissions"], "aiplatform.model.get"]
    grant = next(r for r in resources if r["inputs"].get("role") == "roles/logging.logWriter")
    grant["inputs"]["role"] = "roles/logging.logwriter"
    found = vr.check_iam_catalogue(resources, IAM_PERMISSIONS, IAM_ROLES, IAM_PERMISSIONS_SOURCE)
    assert [v.rule for v in found] == [
        "'aiplatform.model.get' is not a known IAM permission",
        "'roles/logging.logwriter' is not a known predefined role",
    ]


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_no_plan_breaks_a_rule_of_google_or_of_the_kit(stack, tmp_path_factory):
    """What `mlops plan` holds every GCP plan to (vendor-kind refuses with exit 2), plus the kit's own
    promises (kit-kind: none may exist)."""
    assert [f"{v.kind}: {v}" for v in vr.check_plan(plan_of(stack, tmp_path_factory))] == []


def test_mlops_plan_refuses_what_google_would_refuse_one_line_each(tmp_path_factory):
    """GcpProvider.check_plan is vendor_rules.check_plan: a planted violation is a line naming the
    resource, the field and the rule; a kit-kind one is not a user's error and is not returned."""
    from providers.gcp import GcpProvider

    resources = copy.deepcopy(plan_of("gcp-dev", tmp_path_factory))
    assert GcpProvider().check_plan(resources) == []
    endpoint = next(r for r in resources if r["type"] == "gcp:vertex/aiEndpoint:AiEndpoint")
    endpoint["inputs"]["name"] = "0123"  # a numeric endpoint id with a leading zero
    group = next(r for r in resources if r["type"] == "gcp:vertex/aiFeatureGroup:AiFeatureGroup")
    group["inputs"]["bigQuery"]["bigQuerySource"]["inputUri"] = "bq://my-ml-project.churn_dev_features.customer_profile"
    schedule = next(r for r in resources if r["name"] == "churn-dev-training-pipeline-schedule")
    job = schedule["inputs"]["createPipelineJobRequest"]["pipelineJob"]
    job["runtimeConfig"]["parameterValues"]["x"] = "1"
    lines = GcpProvider().check_plan(resources)
    assert sorted(line.split(": ", 2)[0] + ": " + line.split(": ", 2)[1] for line in lines) == [
        "churn-dev-endpoint-endpoint: endpointId",
        "churn-dev-feature-store-customer_profile: bigQuery.bigQuerySource.inputUri",
        "churn-dev-training-pipeline-schedule: schedule.createPipelineJobRequest.pipelineJob.runtimeConfig"
        ".parameterValues[x]",
    ]
    timestamp = next(line for line in lines if "bigQuerySource" in line)
    assert "feature_timestamp" in timestamp and "[proto v1.FeatureGroup.big_query" in timestamp
    # a kit-kind violation (an unpinned image) is a defect of the kit, not the user's: not returned
    job["runtimeConfig"]["parameterValues"].pop("x")
    job["pipelineSpec"] = job["pipelineSpec"].replace("@sha256:", "-unpinned@sha256:x")
    assert [v.kind for v in vr.check_plan(resources) if "unpinned" in v.rule or "not pinned" in v.rule] != []
    assert sorted(line.split(": ", 1)[0] for line in GcpProvider().check_plan(resources)) == [
        "churn-dev-endpoint-endpoint",
        "churn-dev-feature-store-customer_profile",
    ]


def test_mlops_plan_runs_the_check_and_exits_0_on_every_example(tmp_path):
    import subprocess
    import sys

    for stack in ("gcp-dev",):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "infra.cli",
                "plan",
                "--stack",
                stack,
                "--format",
                "json",
                "-o",
                str(tmp_path / "p.json"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
