"""GCP's own rules: each broken one is a SpecError naming the key, before anything is declared."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from infra.config import resolve
from providers.gcp import translate as t
from providers.spec import SpecError
from tests.gcp.conftest import ROOT, stack_config, write_stack


def _resolve(change=lambda c: None):
    config = copy.deepcopy(stack_config())
    change(config)
    return resolve("gcp-test", config.get)


def _platform(config):
    return config["mlops:platform"]


def _extra_group(config, **fields):
    """Add a group the churn pipeline does not read (the groups it reads keep its contract) and
    return it: the naming rules below are exercised on it, at index 1."""
    group = {
        "name": "usage",
        "entity": "customer_id",
        "event_time": "event_time",
        "online": True,
        "features": [{"name": "data_gb", "type": "float"}],
        **fields,
    }
    _platform(config)["feature_store"]["feature_groups"].append(group)
    return group


def test_example_stack_translates():
    _, deployment = _resolve()
    s = deployment.settings
    assert s.region == "europe-west4" and s.project == "my-ml-project"
    assert s.service_account_id == "churn-dev-ml"
    assert s.online_store_name == "churn_dev_online"
    assert s.serving_machine == "e2-standard-2" and s.serving_accelerator is None
    assert s.step_limits == ("4", "16G") and s.step_accelerator is None  # pipeline.instance: medium
    assert s.sampling_rate == pytest.approx(0.2)
    assert s.endpoint_id.isdigit() and len(s.endpoint_id) <= 10
    assert s.bq_schemas["customer_profile"][1] == {
        "name": "event_time",
        "type": "TIMESTAMP",
        "mode": "REQUIRED",
    }


@pytest.mark.parametrize("region", ["europe-west4-a", "EU", "europe_west4", ""])
def test_region_format(region):
    with pytest.raises(SpecError) as err:
        _resolve(lambda c: c.update({"gcp:region": region}))
    assert err.value.key == "gcp:region"


def test_project_is_required_and_checked():
    with pytest.raises(SpecError) as err:
        _resolve(lambda c: c.pop("gcp:project"))
    assert err.value.key == "gcp:project" and "required" in err.value.rule
    with pytest.raises(SpecError) as err:
        _resolve(lambda c: c.update({"gcp:project": "Bad_Project"}))
    assert err.value.key == "gcp:project"


def test_service_account_id_length():
    def long_name(c):
        _platform(c).update({"name": "a-twenty-char-name-x", "environment": "staging"})

    with pytest.raises(SpecError) as err:
        _resolve(long_name)
    assert err.value.key == "mlops:platform.name"
    assert "6 to 30" in err.value.rule
    with pytest.raises(SpecError, match="6 to 30"):
        t.check_service_account_id("ab-ml", "mlops:platform.name")


def test_online_store_and_view_names():
    with pytest.raises(SpecError) as err:
        t.check_online_store_name("a" * 61, "mlops:platform.name")
    assert err.value.key == "mlops:platform.name" and "60" in err.value.rule
    with pytest.raises(SpecError):
        t.check_online_store_name("1starts_with_digit", "mlops:platform.name")
    assert t.check_online_store_name("a" * 60, "k") == "a" * 60

    def long_group(c):
        _extra_group(c, name="g" * 61)

    with pytest.raises(SpecError) as err:
        _resolve(long_group)
    assert err.value.key == "mlops:platform.feature_store.feature_groups[1].name"


def test_feature_group_ids_are_prefixed_per_environment():
    _, dev = _resolve()
    _, staging = _resolve(lambda c: _platform(c).update({"environment": "staging"}))
    assert dev.settings.feature_group_ids == {"customer_profile": "churn_dev_customer_profile"}
    assert staging.settings.feature_group_ids == {"customer_profile": "churn_staging_customer_profile"}


def test_feature_group_id_length_and_charset(monkeypatch):
    # Vertex allows 128 of [a-z0-9_] for a feature group id (not the 60 of online stores / views)
    def long_group(c):
        _extra_group(c, name="g" * 63, online=False)

    _, deployment = _resolve(long_group)
    assert deployment.settings.feature_group_ids["g" * 63] == "churn_dev_" + "g" * 63  # 73 characters
    with pytest.raises(SpecError) as err:
        t.check_feature_group_id("a" * 129, "mlops:platform.feature_store.feature_groups[0].name")
    assert "128" in err.value.rule and "129 characters" in err.value.rule
    assert t.check_feature_group_id("a" * 128, "k") == "a" * 128
    with pytest.raises(SpecError, match="naming rule"):
        t.check_feature_group_id("churn_dev_Bad-Group", "k")
    with pytest.raises(SpecError, match="naming rule"):
        t.check_feature_group_id("1churn_dev_group", "k")
    # The portable limits (name, environment, 63-char groups) keep real ids under 128; the check
    # still names the group's key when it fires:
    monkeypatch.setattr(t, "FEATURE_GROUP_ID_MAX", 72)
    with pytest.raises(SpecError) as err:
        _resolve(long_group)
    assert err.value.key == "mlops:platform.feature_store.feature_groups[1].name"
    assert "73 characters" in err.value.rule


def test_offline_only_group_needs_no_online_store():
    def offline(c):
        _platform(c)["feature_store"]["feature_groups"][0]["online"] = False
        _extra_group(c, name="g" * 61, online=False)  # too long for an online view, fine offline

    _, deployment = _resolve(offline)
    assert deployment.settings.online_store_name is None
    assert deployment.settings.feature_views == {}


def test_gpu_maps_to_t4_where_offered():
    _, deployment = _resolve(lambda c: _platform(c)["endpoint"].update({"instance": "gpu"}))
    assert deployment.settings.serving_accelerator == ("NVIDIA_TESLA_T4", 1)
    assert deployment.settings.serving_machine == "n1-highmem-4"


# The portable sizes (CONTEXT.md, issue 11 item 6), written here: vCPUs, memory GB (+-10 %, or at
# least for gpu), GPU. Each GCP size must give that shape for serving AND for the pipeline steps.
PORTABLE = {"small": (2, 8, None), "medium": (4, 16, None), "large": (8, 32, None), "gpu": (4, 16, "T4")}
# Vertex AI's prediction machine list ("Configure compute resources for prediction",
# https://cloud.google.com/vertex-ai/docs/predictions/configure-compute): vCPUs, memory GB.
VERTEX_PREDICTION_MACHINES = {
    "e2-standard-2": (2, 8),
    "e2-standard-4": (4, 16),
    "e2-standard-8": (8, 32),
    "n1-highmem-4": (4, 26),
}


@pytest.mark.parametrize("size", ["small", "medium", "large", "gpu"])
def test_every_size_has_the_portable_shape_for_training_and_serving(size):
    _, deployment = _resolve(
        lambda c: (
            _platform(c)["endpoint"].update({"instance": size}),
            _platform(c)["pipeline"].update({"instance": size}),
        )
    )
    s = deployment.settings
    vcpus, memory, gpu = PORTABLE[size]
    machine, machine_vcpus, machine_memory, accelerator = s.serving_size
    assert s.training_size == s.serving_size
    assert (
        (machine_vcpus, machine_memory)
        == VERTEX_PREDICTION_MACHINES[machine]
        == VERTEX_PREDICTION_MACHINES[s.serving_machine]
    )
    assert machine_vcpus == vcpus
    assert machine_memory >= memory if gpu else abs(machine_memory - memory) <= 0.1 * memory
    assert s.step_limits == (str(vcpus), f"{machine_memory}G")  # what a step asks Vertex AI Pipelines for
    expected_gpu = ("NVIDIA_TESLA_T4", 1) if gpu else None
    assert s.serving_accelerator == s.step_accelerator == accelerator == expected_gpu


@pytest.mark.parametrize("section", ["endpoint", "pipeline"])
def test_gpu_in_a_region_without_t4(section):
    def change(c):
        c["gcp:region"] = "europe-north1"
        _platform(c)[section]["instance"] = "gpu"

    with pytest.raises(SpecError) as err:
        _resolve(change)
    assert err.value.key == f"mlops:platform.{section}.instance"
    assert "NVIDIA_TESLA_T4" in err.value.rule


def test_feature_types_map_to_bigquery():
    assert t.BQ_TYPES == {
        "int": "INTEGER",
        "float": "FLOAT",
        "string": "STRING",
        "bool": "BOOLEAN",
        "timestamp": "TIMESTAMP",
    }


def test_cli_names_the_key_and_exits_2(tmp_path):
    path = write_stack(tmp_path, "gcp-bad", lambda c: c.update({"gcp:region": "europe-west4-a"}))
    proc = subprocess.run(
        [sys.executable, "-m", "infra.cli", "validate", "--config-file", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "gcp:region" in proc.stderr


def test_region_is_checked_against_the_aiplatform_sdk_list():
    from google.cloud.aiplatform.constants.base import SUPPORTED_REGIONS

    from providers.gcp.translate import check_region

    regions = set(SUPPORTED_REGIONS) - {"global"}  # the kit's buckets and stores need a region
    assert {r for r in regions if check_region(r)} == regions
    for region in ("mars-central1", "europe-west99", "global"):
        with pytest.raises(SpecError) as err:
            _resolve(lambda c, r=region: c.update({"gcp:region": r}))
        assert err.value.key == "gcp:region"
        assert "Vertex AI is not offered" in err.value.rule or "must be a GCP region" in err.value.rule


def test_no_other_column_may_be_called_feature_timestamp():
    """The view exposes event_time as feature_timestamp: a feature or entity of that name would clash."""

    def feature(c):
        _extra_group(c, features=[{"name": "feature_timestamp", "type": "float"}])

    with pytest.raises(SpecError) as err:
        _resolve(feature)
    assert err.value.key == "mlops:platform.feature_store.feature_groups[1].features[0].name"

    def entity(c):
        _extra_group(c, entity="feature_timestamp")

    with pytest.raises(SpecError) as err:
        _resolve(entity)
    assert err.value.key == "mlops:platform.feature_store.feature_groups[1].entity"

    def event_time(c):  # the event time itself may have the name: the view then adds nothing
        _extra_group(c, event_time="feature_timestamp")

    assert _resolve(event_time)[1].settings.source_views == {
        "customer_profile": "customer_profile_vertex_source",
        "usage": "usage_vertex_source",
    }


def test_a_group_named_like_another_groups_view_is_refused():
    def clash(c):
        groups = _platform(c)["feature_store"]["feature_groups"]
        groups.append({**groups[0], "name": "customer_profile_vertex_source"})

    with pytest.raises(SpecError) as err:
        _resolve(clash)
    assert err.value.key == "mlops:platform.feature_store.feature_groups[1].name"


# --- registry.approvers: who may write approval records --------------------------------------------


def _approvers(members):
    return lambda config: _platform(config)["registry"].__setitem__("approvers", members)


def test_approvers_and_the_approvals_bucket():
    members = ["group:ml-reviewers@example.com", "user:ana@example.com", "domain:example.com"]
    _, deployment = _resolve(_approvers(members))
    s = deployment.settings
    assert s.approvers == tuple(members)
    assert s.approvals_bucket == "my-ml-project-churn-dev-gate"
    from providers.gcp.dynamic import approvals_bucket  # day two derives the same name

    assert approvals_bucket("my-ml-project", "churn-dev") == s.approvals_bucket
    assert _resolve()[1].settings.approvers == ()  # none by default


@pytest.mark.parametrize(
    ("member", "rule"),
    [
        ("ml-reviewers@example.com", "is not an IAM principal"),
        ("group:ml-reviewers", "is not an IAM principal"),
        ("Group:ml-reviewers@example.com", "is not an IAM principal"),
        ("user: ana@example.com", "is not an IAM principal"),
        ("allUsers", "would let anyone approve"),
        ("allAuthenticatedUsers", "would let anyone approve"),
        ("serviceAccount:churn-dev-ml@my-ml-project.iam.gserviceaccount.com", "runs pipelines as"),
        ("serviceAccount:churn-dev-retrain@my-ml-project.iam.gserviceaccount.com", "runs pipelines as"),
    ],
)
def test_a_malformed_or_forbidden_approver_is_refused(member, rule):
    with pytest.raises(SpecError, match=rule) as err:
        _resolve(_approvers(["user:ana@example.com", member]))
    assert err.value.key == "mlops:platform.registry.approvers[1]"


def test_an_approver_listed_twice_is_refused():
    with pytest.raises(SpecError, match="listed twice") as err:
        _resolve(_approvers(["user:ana@example.com", "user:ana@example.com"]))
    assert err.value.key == "mlops:platform.registry.approvers[1]"


def test_cli_refuses_a_malformed_approver_with_exit_2(tmp_path):
    path = write_stack(tmp_path, "gcp-bad-approver", _approvers(["reviewers@example.com"]))
    proc = subprocess.run(
        [sys.executable, "-m", "infra.cli", "validate", "--config-file", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "mlops:platform.registry.approvers[0]" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_drift_window_the_retraining_workflow_cannot_sleep_exits_2(tmp_path, command):
    """A drift check once a year (its longest interval is 366 days: 31622400 s) with retrain_on_drift:
    Workflows' sys.sleep takes at most 31536000 s. Both commands refuse it in one line, exit 2."""

    def yearly(config):
        config["mlops:platform"]["monitor"]["schedule"] = "0 0 1 1 *"
        config["mlops:platform"]["monitor"]["retrain_on_drift"] = True

    path = write_stack(tmp_path, "gcp-yearly", yearly)
    proc = subprocess.run(
        [sys.executable, "-m", "infra.cli", command, "--config-file", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if "monitor.schedule" in x]
    assert "31622400" in line and "31536000" in line


def test_a_yearly_drift_check_without_retraining_is_accepted():
    def yearly(config):
        config["mlops:platform"]["monitor"]["schedule"] = "0 0 1 1 *"
        config["mlops:platform"]["monitor"]["retrain_on_drift"] = False

    _, deployment = _resolve(yearly)
    assert deployment.settings.drift_window_seconds == 31_622_400
