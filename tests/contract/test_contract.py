"""One suite, every registered cloud, every example pipeline: the same platform description plans
to the same platform.

The examples are the stack files at the project root (`Pulumi.<cloud>-<name>.yaml`): one stack per
cloud for each example pipeline (churn: `<cloud>-dev`, fraud: `<cloud>-fraud`).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from infra.config import load_stack_file, stack_files
from infra.plan import plan
from pipelines import get_pipeline
from providers import registry
from providers.base import CAPABILITIES, STACK_OUTPUT_KEYS

ROOT = Path(__file__).resolve().parents[2]
CLOUDS = registry.implemented()


def _examples() -> dict[str, tuple[str, str]]:
    """Example stack -> (cloud, pipeline), for every stack file at the root on an implemented cloud."""
    found = {}
    for name, path in stack_files(ROOT).items():
        config = load_stack_file(path, name).config
        if config.get("mlops:cloud") in CLOUDS:
            found[name] = (config["mlops:cloud"], config["mlops:platform"]["pipeline"]["name"])
    return found


EXAMPLES = _examples()

EXPECTED_KEYS = {
    "feature_groups",  # {group: {"entity", "event_time", "online", "features": [names in order]}}
    "feature_types",  # {group: {feature: the type the cloud declares}}
    "replicas",  # (min, max)
    "cpu_target",  # int percent
    "data_capture_percent",
    "training_schedule",  # five-field cron as in the description
    "monitor_schedule",
    "drift_threshold",
    "quality_gate",  # (metric, threshold)
    "approval",  # "manual" | "auto"
    "retrain_on_drift",  # bool: a retrain path is declared
    "alert_email",
    "served_version",  # int or None
}


PICKLE_AFTER_PLAN: dict[str, bool] = {}
"""Per example stack: whether planning it left pickle._Pickler as it was (see the last test)."""


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def planned(request):
    """(cloud, plan) of one example stack; `request.param` is the stack."""
    import pickle

    cloud, _ = EXAMPLES[request.param]
    before = (pickle._Pickler._batch_setitems, pickle._Pickler.save_dict)
    result = plan(load_stack_file(ROOT / f"Pulumi.{request.param}.yaml"))
    PICKLE_AFTER_PLAN[request.param] = (pickle._Pickler._batch_setitems, pickle._Pickler.save_dict) == before
    return cloud, result


def test_every_cloud_in_the_contract_is_registered():
    assert set(registry.clouds()) == {"aws", "gcp", "azure"}
    assert "aws" in CLOUDS


def test_every_example_pipeline_has_an_example_stack_on_every_cloud():
    assert sorted(EXAMPLES.items()) == [
        ("aws-dev", ("aws", "churn")),
        ("aws-fraud", ("aws", "fraud")),
        ("azure-dev", ("azure", "churn")),
        ("azure-fraud", ("azure", "fraud")),
        ("gcp-dev", ("gcp", "churn")),
        ("gcp-fraud", ("gcp", "fraud")),
    ]


def test_seven_components_typed_per_cloud(planned):
    cloud, result = planned
    components = {r.type for r in result.resources if not r.custom}
    assert {f"mlops:{cloud}:{c}" for c in CAPABILITIES} <= components


def test_every_resource_sits_under_a_component(planned):
    cloud, result = planned
    orphans = [
        r.urn for r in result.resources if r.custom and r.parent is None and not r.type.startswith("pulumi:providers:")
    ]
    assert orphans == []


def test_same_stack_output_keys(planned):
    _, result = planned
    assert set(result.outputs) == set(STACK_OUTPUT_KEYS)
    assert result.outputs["cloud"] == result.cloud


# What a full resource id looks like on each cloud (see the output contract in providers/base.py).
# (encryption_key is left out: Azure services take a Key Vault key URI, not an ARM id.)
ID_SHAPES = {
    "aws": re.compile(r"^arn:aws:[a-z0-9-]+:[a-z0-9-]*:\d{12}:"),
    "gcp": re.compile(r"^(projects/[^/]+/|//[a-z.]+googleapis\.com/|gs://)"),
    "azure": re.compile(r"^/subscriptions/[0-9a-f-]{36}/resourceGroups/"),
}
ID_OUTPUTS = ("model_registry", "training_schedule", "endpoint", "monitor", "alert_topic", "retrain_target")


def test_outputs_mean_the_same_on_every_cloud(planned):
    cloud, result = planned
    out = result.outputs
    shape = ID_SHAPES[cloud]
    for key in ID_OUTPUTS:
        assert out[key] is None or shape.match(out[key]), f"{key} is not a full {cloud} id: {out[key]!r}"
    assert out["endpoint"] is not None and out["monitor"] is not None  # the example serves version 1
    assert isinstance(out["drift_alarm"], list) and out["drift_alarm"]
    assert all(shape.match(alarm) for alarm in out["drift_alarm"])
    assert out["approval"] in ("manual", "auto")
    assert out["serving"].startswith("model version 1 of ")
    assert re.match(r"^(s3|gs|abfss)://", out["storage_uri"])
    for group in out["feature_groups"].values():
        assert set(group) == {"id", "offline", "online"}
        assert shape.match(group["id"]), group["id"]
        assert isinstance(group["online"], bool)


# The cloud type each portable feature type must become, written out here (not imported from the
# providers) so the suite checks the providers' mappings instead of repeating them.
CLOUD_TYPES = {
    "aws": {"int": "Integral", "float": "Fractional", "string": "String", "bool": "Integral", "timestamp": "String"},
    "gcp": {"int": "INTEGER", "float": "FLOAT", "string": "STRING", "bool": "BOOLEAN", "timestamp": "TIMESTAMP"},
    "azure": {"int": "long", "float": "double", "string": "string", "bool": "boolean", "timestamp": "datetime"},
}


@pytest.mark.parametrize("cloud", CLOUDS)
def test_feature_types_map_the_same_way(cloud, tmp_path):
    """Every portable type, declared on every cloud: one group holding one feature of each type."""
    import yaml

    document = yaml.safe_load((ROOT / f"Pulumi.{cloud}-dev.yaml").read_text())
    document["config"]["mlops:platform"]["feature_store"]["feature_groups"].append(
        {
            "name": "all_types",
            "entity": "id",
            "event_time": "ts",
            "online": False,
            "features": [{"name": f"f_{t}", "type": t} for t in CLOUD_TYPES[cloud]],
        }
    )
    path = tmp_path / f"Pulumi.{cloud}-types.yaml"
    path.write_text(yaml.safe_dump(document))
    extractor = importlib.import_module(f"tests.contract.extractors.{cloud}")
    got = extractor.extract(plan(load_stack_file(path)))["feature_types"]["all_types"]
    assert got == {f"f_{portable}": native for portable, native in CLOUD_TYPES[cloud].items()}


def same_runs(got: str | None, expected: str | None) -> bool:
    """Two five-field crons fire at the same times (`0 0-23/6 * * *` is `0 */6 * * *`), per croniter."""
    from datetime import datetime

    from croniter import croniter

    if got is None or expected is None:
        return got == expected
    start = datetime(2024, 1, 1)
    a, b = croniter(got, start), croniter(expected, start)
    return [a.get_next(datetime) for _ in range(200)] == [b.get_next(datetime) for _ in range(200)]


def test_same_settings_on_every_cloud(planned):
    cloud, result = planned
    extractor = importlib.import_module(f"tests.contract.extractors.{cloud}")
    got = extractor.extract(result)
    assert set(got) == EXPECTED_KEYS
    platform = load_stack_file(ROOT / f"Pulumi.{result.stack}.yaml").config["mlops:platform"]
    groups = platform["feature_store"]["feature_groups"]
    assert got["feature_groups"] == {
        g["name"]: {
            "entity": g["entity"],
            "event_time": g["event_time"],
            "online": g["online"],
            "features": [f["name"] for f in g["features"]],
        }
        for g in groups
    }
    endpoint, monitor, pipeline = platform["endpoint"], platform["monitor"], platform["pipeline"]
    assert got["replicas"] == (endpoint["min_replicas"], endpoint["max_replicas"])
    assert got["cpu_target"] == endpoint["target_cpu_percent"]
    assert got["data_capture_percent"] == endpoint["data_capture_percent"]
    assert got["served_version"] == endpoint["model_version"]
    assert same_runs(got["training_schedule"], pipeline["schedule"])
    assert got["quality_gate"] == (pipeline["quality_gate"]["metric"], pipeline["quality_gate"]["threshold"])
    assert same_runs(got["monitor_schedule"], monitor["schedule"])
    assert got["drift_threshold"] == pytest.approx(monitor["drift_threshold"])
    assert got["retrain_on_drift"] is monitor["retrain_on_drift"]
    assert got["alert_email"] == monitor["alert_email"]
    assert got["approval"] == platform["registry"]["approval"]


def test_the_plan_declares_every_feature_the_pipeline_reads(planned):
    """The feature groups the plan declares hold the pipeline's data contract: group, keys, features."""
    cloud, result = planned
    got = importlib.import_module(f"tests.contract.extractors.{cloud}").extract(result)
    contract = get_pipeline(result.platform["pipeline"]["name"]).contract
    for read in contract.reads:
        group = got["feature_groups"][read.group]
        assert (group["entity"], group["event_time"]) == (contract.entity, contract.event_time)
        assert {f.name for f in read.features} <= set(group["features"])
        assert {f.name: got["feature_types"][read.group][f.name] for f in read.features} == {
            f.name: CLOUD_TYPES[cloud][f.type] for f in read.features
        }


@pytest.mark.parametrize("pipeline", ["churn", "fraud"])
def test_example_stacks_share_one_platform_description(pipeline):
    stacks = [name for name, (_, p) in EXAMPLES.items() if p == pipeline]
    assert len(stacks) == len(CLOUDS)
    descriptions = [load_stack_file(ROOT / f"Pulumi.{s}.yaml").config["mlops:platform"] for s in stacks]
    assert all(d == descriptions[0] for d in descriptions)


def _variant_stack(stack: str, tmp_path: Path, *, only_unserved: bool = False):
    """The example description with the other choice everywhere it matters (or, `only_unserved`,
    only `endpoint.model_version: null`)."""
    import yaml

    cloud, _ = EXAMPLES[stack]
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    platform = document["config"]["mlops:platform"]
    platform["endpoint"]["model_version"] = None
    if not only_unserved:
        platform["registry"]["approval"] = "auto"
        platform["pipeline"]["schedule"] = None
        platform["monitor"]["retrain_on_drift"] = False
    path = tmp_path / f"Pulumi.{cloud}-variant.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_stack_file(path)


SERVING_ONLY = {
    # (resource type, a part of its name): what exists only to serve a model, per cloud. The
    # endpoints themselves are not here where they can exist without a model (Vertex AI, Azure ML).
    "aws": [
        ("aws:sagemaker/model:Model", "-endpoint-"),
        ("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "-endpoint-"),
        ("aws:sagemaker/endpoint:Endpoint", "-endpoint-"),
        ("aws:appautoscaling/target:Target", "-endpoint-"),
        ("aws:appautoscaling/policy:Policy", "-endpoint-"),
        ("aws:scheduler/schedule:Schedule", "-model-monitor-"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "-retraining-trigger-drift"),
    ],
    "gcp": [
        ("pulumi-python:dynamic:Resource", "-endpoint-model-v"),
        ("gcp:colab/schedule:Schedule", "-model-monitor-"),
        ("gcp:monitoring/alertPolicy:AlertPolicy", "-retraining-trigger-drift"),
    ],
    "azure": [
        ("azure-native:machinelearningservices:OnlineDeployment", "-endpoint-"),
        ("azure-native:monitor:AutoscaleSetting", "-endpoint-"),
        ("pulumi-python:dynamic:Resource", "-endpoint-traffic"),
        ("azure-native:machinelearningservices:Schedule", "-model-monitor-"),
        ("azure-native:monitor:ScheduledQueryRule", "-retraining-trigger-drift"),
    ],
}


def _declared(result, type_: str, part: str) -> list[str]:
    return [r.name for r in result.resources if r.type == type_ and part in r.name]


def test_nothing_served_declares_nothing_that_needs_a_model_on_any_cloud(planned, tmp_path):
    """`Target.serves_model` decides it once: with `model_version: null` no model, deployment,
    autoscaling, monitor schedule or drift alarm is declared (the outputs alone would not show a
    deployment left behind). The serving example declares each, so the table cannot go stale."""
    cloud, served = planned
    unserved = plan(_variant_stack(served.stack, tmp_path, only_unserved=True))
    for type_, part in SERVING_ONLY[cloud]:
        assert _declared(served, type_, part), f"{served.stack} serves a model but declares no {type_} *{part}*"
        assert _declared(unserved, type_, part) == [], f"{served.stack} unserved still declares {type_}"


@pytest.mark.parametrize("stack", sorted(EXAMPLES))
def test_the_other_choices_mean_the_same_on_every_cloud(stack, tmp_path):
    from providers.base import NOT_SERVING

    cloud, _ = EXAMPLES[stack]
    result = plan(_variant_stack(stack, tmp_path))
    got = importlib.import_module(f"tests.contract.extractors.{cloud}").extract(result)
    assert got["approval"] == "auto"
    assert got["served_version"] is None
    assert got["training_schedule"] is None
    assert got["retrain_on_drift"] is False
    out = result.outputs
    assert out["approval"] == "auto"
    assert out["endpoint"] is None and out["serving"] == NOT_SERVING
    assert out["training_schedule"] is None
    assert out["retrain_target"] is None
    assert out["monitor"] is None and out["drift_alarm"] == []


def test_planning_leaves_pickle_as_it_found_it(planned):
    """Pulumi's dynamic providers patch pickle._Pickler on every serialisation; a plan undoes it, or
    each plan in a process nests another wrapper until pickling a model recurses too deep."""
    _, result = planned
    assert PICKLE_AFTER_PLAN[result.stack] is True
