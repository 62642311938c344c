"""The plan-time cache of SageMaker pipeline definitions (issue 14): a definition whose inputs have
not changed is read from `.mlops/cache/` instead of rebuilt by the sagemaker SDK; any input that
changes it (every field of DefinitionSettings, the pipeline's files, the SDK's version, the builder's
code) is a miss."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from pipelines import get_pipeline
from providers import cache
from providers.aws import pipeline_definition as pd

ROOT = Path(__file__).resolve().parents[2]

ARGS = {
    "region": "eu-west-1",
    "role_arn": "arn:aws:iam::123456789012:role/churn-dev-sagemaker",
    "bucket": "churn-dev-data",
    "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555",
    "instance_type": "ml.m5.xlarge",
    "inference_instance_type": "ml.m5.large",
    "image_table": "sklearn",
    "image_version": "1.4-2-py312",
    "pipeline_name": "churn-dev-churn",
    "model_package_group": "churn-dev-models",
    "approval_status": "PendingManualApproval",
    "gate_metric": "roc_auc",
    "gate_threshold": 0.8,
    "code_prefix": "s3://churn-dev-data/code/churn/0123456789ab/",
    "volume_kms": True,
    "vpc": None,
    "io_config": "s3://churn-dev-data/config/0123456789ab/mlops_io.json",
    "engine": "kit",
    "model_ships": (),
    "processing_instance_type": None,
    "processing_volume_kms": None,
    "supported_instance_types": None,
}
"""Every field of DefinitionSettings, with a value (the test below holds the list to the dataclass)."""

CHANGED = {
    "region": "us-east-1",
    "role_arn": "arn:aws:iam::123456789012:role/other",
    "bucket": "other-data",
    "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/99999999-2222-3333-4444-555555555555",
    "instance_type": "ml.m5.2xlarge",
    "inference_instance_type": "ml.m5.xlarge",
    "image_table": "xgboost",  # with 1.7-1: a table and a version go together
    "image_version": "1.2-1",
    "pipeline_name": "churn-prod-churn",
    "model_package_group": "churn-prod-models",
    "approval_status": "Approved",
    "gate_metric": "accuracy",
    "gate_threshold": 0.9,
    "code_prefix": "s3://churn-dev-data/code/churn/ba9876543210/",
    "volume_kms": False,
    "vpc": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
    "io_config": "s3://churn-dev-data/config/ba9876543210/mlops_io.json",
    "engine": "builtin",
    "model_ships": ("xgboost",),
    "processing_instance_type": "ml.m5.2xlarge",
    "processing_volume_kms": False,
    "supported_instance_types": ("ml.m5.large", "ml.m5.xlarge"),
}
"""A different value of every field: each must change the key."""

FIELDS = [field.name for field in dataclasses.fields(pd.DefinitionSettings)]


def _settings(**overrides) -> pd.DefinitionSettings:
    return pd.DefinitionSettings(**{**ARGS, **overrides})


@pytest.fixture
def builds(monkeypatch, tmp_path):
    """Count the SDK builds (the cache's misses); the cache lives in a fresh directory."""
    monkeypatch.setenv("MLOPS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MLOPS_NO_CACHE", raising=False)
    calls: list[dict] = []
    real = pd._Builder.definition

    def counted(self):
        calls.append(self.settings)
        return real(self)

    monkeypatch.setattr(pd._Builder, "definition", counted)
    return calls


def test_every_setting_is_in_the_key():
    """The builder's inputs are the pipeline and the settings (the key holds both), and this test
    names every field of the settings, so a field added later without a changed value here fails."""
    assert list(inspect.signature(pd.build_definition).parameters) == ["pipeline", "settings"]
    assert [p for p in inspect.signature(pd._Builder).parameters] == ["pipeline", "settings"]
    assert sorted(FIELDS) == sorted(ARGS) == sorted(CHANGED)


def test_the_same_inputs_are_built_once(builds):
    churn = get_pipeline("churn")
    first = pd.build_definition(churn, _settings())
    again = pd.build_definition(churn, _settings())
    assert again == first and len(builds) == 1


@pytest.mark.parametrize("name", FIELDS)
def test_any_changed_setting_rebuilds(builds, name):
    churn = get_pipeline("churn")
    pd.build_definition(churn, _settings())
    overrides = {name: CHANGED[name], **({"image_version": "1.7-1"} if name == "image_table" else {})}
    pd.build_definition(churn, _settings(**overrides))
    assert len(builds) == 2, name
    assert builds[-1] == _settings(**overrides)  # the builder got the changed settings
    pd.build_definition(churn, _settings())
    assert len(builds) == 2  # the original is still a hit


def test_the_pipelines_files_the_sdk_version_and_the_builder_are_in_the_key(builds, monkeypatch):
    """The shared cache (providers/cache.py) is told the sagemaker distribution and the pipeline's
    folder (which may lie outside the kit), and holds the kit's own code in every key: a changed file
    in the pipeline or anywhere in the kit, or another SDK version, rebuilds."""
    churn = get_pipeline("churn")
    seen: list[tuple[list[str], list[Path]]] = []
    real_key = cache.key

    def recording(kind, inputs, distributions, sources):
        seen.append((sorted(distributions), sorted(Path(s) for s in sources)))
        return real_key(kind, inputs, distributions, sources)

    monkeypatch.setattr(cache, "key", recording)
    pd.build_definition(churn, _settings())
    assert seen[-1] == (["sagemaker"], [ROOT / "pipelines/churn"])
    real_digest = cache.source_digest
    for count, edited in enumerate((ROOT / "pipelines/churn", ROOT / "providers", ROOT / "pipelines"), start=2):
        monkeypatch.setattr(
            cache, "source_digest", lambda f, edited=edited: "edited" if Path(f) == edited else real_digest(f)
        )
        pd.build_definition(churn, _settings())
        assert len(builds) == count, edited
    monkeypatch.setattr(cache, "_version", lambda d: "999.0")
    pd.build_definition(churn, _settings())
    assert len(builds) == 5


def test_a_cache_that_cannot_be_written_only_costs_the_next_build(builds, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MLOPS_CACHE_DIR", str(blocker / "cache"))
    churn = get_pipeline("churn")
    assert pd.build_definition(churn, _settings()) == pd.build_definition(churn, _settings())
    assert len(builds) == 2
