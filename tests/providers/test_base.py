"""The provider contract (providers/base.py) with a fake cloud: no cloud SDK, no stack planned.

The real clouds go through the same code in the plan and contract tests; this file checks the
contract's own rules in milliseconds (the tests `scripts/mutation.py --only base` runs per mutant):
names, the order and arguments of the seven components, the published keys, the provider keys.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from pipelines import get_pipeline
from providers.base import (
    CAPABILITIES,
    NOT_SERVING,
    OUTPUT_KEYS,
    STACK_OUTPUT_KEYS,
    Capability,
    ComponentClasses,
    Deployment,
    Limitation,
    Provider,
    Target,
    asset,
    component_name,
    serving_sentence,
)
from providers.spec import SpecError, parse_platform

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = yaml.safe_load((ROOT / "Pulumi.aws-dev.yaml").read_text(encoding="utf-8"))["config"]["mlops:platform"]


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


@pytest.fixture
def mocks() -> None:
    pulumi.runtime.set_mocks(_Mocks(), project="mlops", stack="fake", preview=False)


def _deployment(model_version: int | None = 1, protect_data: bool = True) -> Deployment[str]:
    raw = copy.deepcopy(PLATFORM)
    raw["endpoint"]["model_version"] = model_version
    raw["protect_data"] = protect_data
    return Deployment(
        stack="fake-dev",
        cloud="fake",
        platform=parse_platform(raw),
        pipeline=get_pipeline("churn"),
        cloud_config={"region": "mars-1", "account": "42"},
        region="mars-1",
        settings="settings",
    )


# --- names and sentences ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capability", "name"),
    [
        ("Foundation", "churn-dev-foundation"),
        ("FeatureStore", "churn-dev-feature-store"),
        ("ModelRegistry", "churn-dev-model-registry"),
        ("TrainingPipeline", "churn-dev-training-pipeline"),
        ("Endpoint", "churn-dev-endpoint"),
        ("ModelMonitor", "churn-dev-model-monitor"),
        ("RetrainingTrigger", "churn-dev-retraining-trigger"),
    ],
)
def test_a_component_is_named_prefix_dash_capability_in_kebab_case(capability, name):
    assert component_name("churn-dev", capability) == name


def test_the_serving_sentences():
    assert serving_sentence(3, "arn:registry") == "model version 3 of arn:registry"
    assert NOT_SERVING == ("nothing served: endpoint.model_version is null (set it to an approved registry version)")


def test_an_asset_is_a_file_for_a_path_and_text_for_a_string(tmp_path):
    file = tmp_path / "run.sh"
    on_disk = asset(file)
    assert isinstance(on_disk, pulumi.FileAsset) and on_disk.path == str(file)
    text = asset("echo hi")
    assert isinstance(text, pulumi.StringAsset) and text.text == "echo hi"


def test_the_contract_keys():
    assert CAPABILITIES == (
        "Foundation",
        "FeatureStore",
        "ModelRegistry",
        "TrainingPipeline",
        "Endpoint",
        "ModelMonitor",
        "RetrainingTrigger",
    )
    assert STACK_OUTPUT_KEYS == (
        "cloud",
        "region",
        "platform",
        "storage_uri",
        "encryption_key",
        "execution_identity",
        "feature_groups",
        "model_registry",
        "approval",
        "training_pipeline",
        "training_schedule",
        "endpoint",
        "serving",
        "monitor",
        "drift_alarm",
        "alert_topic",
        "retrain_target",
    )


def test_serving_is_decided_by_the_model_version_alone():
    assert _deployment(model_version=4).model_version == 4
    assert _deployment(model_version=4).serves_model is True
    assert _deployment(model_version=None).model_version is None
    assert _deployment(model_version=None).serves_model is False


def test_a_limitation_refuses_unless_it_says_note():
    assert Limitation("endpoint.shadow", "not offered").severity == "refuse"


# --- a fake cloud -------------------------------------------------------------------------------------

CALLS: list[tuple[str, str, tuple[Any, ...]]] = []


DEPLOYMENTS: list[Any] = []


def _component(capability: str, published: dict[str, Any] | None = None) -> type[Capability]:
    """A fake capability; `published={"skip": True}` makes it publish nothing."""
    keys = OUTPUT_KEYS[capability]

    class Fake(Capability):
        cloud = "fake"

        def __init__(self, name: str, deployment: Deployment[Any], *collaborators: Any) -> None:
            super().__init__(name)
            CALLS.append((capability, name, collaborators))
            DEPLOYMENTS.append(deployment)
            self.out = f"{capability}.out"
            if published == {"skip": True}:
                return
            self.publish(**(published if published is not None else {key: f"{capability}.{key}" for key in keys}))

    Fake.capability = capability
    Fake.__name__ = capability
    return Fake


class FakeProvider(Provider[str]):
    cloud = "fake"
    config_keys = {"region": "fake:region", "account": "fake:account"}
    optional_config_keys = {"zone": "fake:zone"}
    region_key = "fake:region"

    def __init__(self, **published: dict[str, Any]) -> None:
        self.published = published

    def translate(self, target: Target) -> str:
        return "settings"

    def components(self) -> ComponentClasses:
        fields = ("foundation", "feature_store", "model_registry", "training_pipeline", "endpoint")
        fields += ("model_monitor", "retraining_trigger")
        return ComponentClasses(
            *(_component(c, self.published.get(c)) for c, _ in zip(CAPABILITIES, fields, strict=True))
        )


def test_the_seven_components_are_declared_in_order_each_given_what_came_before(mocks):
    CALLS.clear()
    DEPLOYMENTS.clear()
    deployment = _deployment()
    components = FakeProvider().build(deployment)
    assert len(DEPLOYMENTS) == 7 and all(d is deployment for d in DEPLOYMENTS)
    assert CALLS == [
        ("Foundation", "churn-dev-foundation", ()),
        ("FeatureStore", "churn-dev-feature-store", ("Foundation.out",)),
        ("ModelRegistry", "churn-dev-model-registry", ("Foundation.out",)),
        (
            "TrainingPipeline",
            "churn-dev-training-pipeline",
            ("Foundation.out", "FeatureStore.out", "ModelRegistry.out"),
        ),
        ("Endpoint", "churn-dev-endpoint", ("Foundation.out", "ModelRegistry.out", "TrainingPipeline.out")),
        ("ModelMonitor", "churn-dev-model-monitor", ("Foundation.out", "Endpoint.out", "TrainingPipeline.out")),
        (
            "RetrainingTrigger",
            "churn-dev-retraining-trigger",
            ("Foundation.out", "ModelMonitor.out", "TrainingPipeline.out"),
        ),
    ]
    assert [type(c).__name__ for c in components.all()] == [
        "Foundation",
        "FeatureStore",
        "ModelRegistry",
        "TrainingPipeline",
        "Endpoint",
        "ModelMonitor",
        "RetrainingTrigger",
    ]
    assert [c.out for c in components.all()] == [
        "Foundation.out",
        "FeatureStore.out",
        "ModelRegistry.out",
        "TrainingPipeline.out",
        "Endpoint.out",
        "ModelMonitor.out",
        "RetrainingTrigger.out",
    ]


def test_deploy_returns_every_stack_output(mocks):
    outputs = FakeProvider().deploy(_deployment())
    assert outputs == {
        "cloud": "fake",
        "region": "mars-1",
        "platform": "churn-dev",
        "storage_uri": "Foundation.storage_uri",
        "encryption_key": "Foundation.encryption_key",
        "execution_identity": "Foundation.execution_identity",
        "feature_groups": "FeatureStore.feature_groups",
        "model_registry": "ModelRegistry.model_registry",
        "approval": "ModelRegistry.approval",
        "training_pipeline": "TrainingPipeline.training_pipeline",
        "training_schedule": "TrainingPipeline.training_schedule",
        "endpoint": "Endpoint.endpoint",
        "serving": "Endpoint.serving",
        "monitor": "ModelMonitor.monitor",
        "drift_alarm": "RetrainingTrigger.drift_alarm",
        "alert_topic": "RetrainingTrigger.alert_topic",
        "retrain_target": "RetrainingTrigger.retrain_target",
    }


def test_a_component_that_publishes_nothing_is_a_bug_named_in_one_line(mocks):
    with pytest.raises(TypeError) as raised:
        FakeProvider(ModelMonitor={"skip": True}).deploy(_deployment())
    assert str(raised.value) == "provider fake did not publish ['monitor']"


@pulumi.runtime.test
def test_a_component_takes_the_options_it_is_given(mocks):
    Foundation = _component("Foundation")

    class Parented(Capability):
        cloud, capability = "fake", "Endpoint"

    parent = Foundation("churn-dev-foundation", _deployment())
    child = Parented("churn-dev-endpoint", pulumi.ResourceOptions(parent=parent))

    def check(urn: str) -> None:
        # the parent's type comes before the component's own: the options were passed on
        assert urn.split("::")[2].endswith("mlops:fake:Foundation$mlops:fake:Endpoint")

    return child.urn.apply(check)


def test_a_component_publishing_other_keys_is_a_bug_named_in_one_line(mocks):
    wrong = {"endpoint": "e", "served": "s"}
    with pytest.raises(TypeError) as raised:
        FakeProvider(Endpoint=wrong).build(_deployment())
    assert str(raised.value) == "Endpoint must publish exactly ['endpoint', 'serving'], got ['endpoint', 'served']"


@pulumi.runtime.test
def test_a_component_is_typed_mlops_cloud_capability(mocks):
    components = FakeProvider().build(_deployment())
    assert components.model_monitor.published == {"monitor": "ModelMonitor.monitor"}

    def check(urn: str) -> None:
        # urn:pulumi:<stack>::<project>::<parent types>$<type>::<name> (the root stack, if any, is the parent)
        _, _, types, name = urn.split("::")
        assert (types.rsplit("$", 1)[-1], name) == ("mlops:fake:Endpoint", "churn-dev-endpoint")

    return components.endpoint.urn.apply(check)


def test_child_options_are_parented_and_data_bearing_ones_protected(mocks):
    components = FakeProvider().build(_deployment(protect_data=False))
    foundation = components.foundation
    child = foundation.child(delete_before_replace=True)
    assert child.parent is foundation and child.delete_before_replace is True and child.protect is None
    data = foundation.protected(_deployment(protect_data=True), retain_on_delete=True)
    assert data.parent is foundation and data.protect is True and data.retain_on_delete is True
    assert foundation.protected(_deployment(protect_data=False)).protect is False


# --- provider keys ------------------------------------------------------------------------------------


def test_provider_keys_are_read_by_logical_name():
    config = {"fake:region": "mars-1", "fake:account": "42", "fake:zone": "b"}
    assert FakeProvider().read_config(config.get) == {"region": "mars-1", "account": "42", "zone": "b"}
    # An optional key that is absent or empty is left out.
    for zone in (None, ""):
        values = FakeProvider().read_config({**config, "fake:zone": zone}.get)
        assert values == {"region": "mars-1", "account": "42"}


@pytest.mark.parametrize("missing", [None, ""])
def test_a_missing_provider_key_is_named(missing):
    config = {"fake:region": "mars-1", "fake:account": missing}
    with pytest.raises(SpecError) as raised:
        FakeProvider().read_config(config.get)
    assert (raised.value.key, raised.value.rule) == ("fake:account", "is required when mlops:cloud is fake")


def test_the_region_is_the_value_of_the_region_key():
    assert FakeProvider().region({"account": "42", "region": "mars-1"}) == "mars-1"


def test_by_default_nothing_is_limited_or_refused():
    provider = FakeProvider()
    assert provider.limitations(_deployment().platform) == []
    assert provider.check_plan([{"type": "t", "name": "n", "inputs": {}}]) == []
