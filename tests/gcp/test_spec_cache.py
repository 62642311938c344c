"""The GCP compiled specs come from the plan-time cache only while nothing they depend on changed,
and a cached spec is exactly what kfp builds."""

from __future__ import annotations

import inspect

import pytest

from pipelines import get_pipeline
from providers.gcp import pipeline_definition as pd

OPTIONS = {
    "display_name": "churn-dev-churn",
    "gate_metric": "roc_auc",
    "gate_threshold": 0.75,
    "approval": "manual",
    "step_limits": ("4", "16G"),
    "accelerator": None,
    "io_config": {"kind": "gcp", "project": "p"},
}
# each option of the training builder, changed: every one must be part of the key
CHANGED = {
    "display_name": "churn-prod-churn",
    "gate_metric": "accuracy",
    "gate_threshold": 0.8,
    "approval": "auto",
    "step_limits": ("8", "32G"),
    "accelerator": ("NVIDIA_TESLA_T4", 1),
    "io_config": {"kind": "gcp", "project": "q"},
}


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MLOPS_NO_CACHE", raising=False)
    return tmp_path / "cache"


def fresh(monkeypatch, build):
    monkeypatch.setenv("MLOPS_NO_CACHE", "1")
    try:
        return build()
    finally:
        monkeypatch.delenv("MLOPS_NO_CACHE")


def test_every_option_of_the_training_builder_is_tested_here():
    params = set(inspect.signature(pd.build_training_pipeline).parameters) - {"pipeline", "image"}
    assert params == set(OPTIONS) == set(CHANGED)


def test_a_hit_is_the_spec_kfp_builds_and_does_not_compile(store, monkeypatch):
    churn = get_pipeline("churn")
    first = pd.training_spec_json(churn, **OPTIONS)
    assert first == fresh(monkeypatch, lambda: pd.training_spec_json(churn, **OPTIONS))

    def no_compile(_func):
        raise AssertionError("compiled although nothing changed")

    monkeypatch.setattr(pd, "compile_spec", no_compile)
    assert pd.training_spec_json(churn, **OPTIONS) == first


@pytest.mark.parametrize("option", sorted(CHANGED))
def test_a_changed_option_is_a_miss(store, monkeypatch, option):
    churn = get_pipeline("churn")
    pd.training_spec_json(churn, **OPTIONS)
    options = {**OPTIONS, option: CHANGED[option]}
    got = pd.training_spec_json(churn, **options)
    assert got == fresh(monkeypatch, lambda: pd.training_spec_json(churn, **options))
    assert got != pd.training_spec_json(churn, **OPTIONS)


def test_another_pipeline_is_a_miss(store, monkeypatch):
    churn, fraud = get_pipeline("churn"), get_pipeline("fraud")
    pd.training_spec_json(churn, **OPTIONS)
    options = {**OPTIONS, "gate_metric": "average_precision"}
    got = pd.training_spec_json(fraud, **options)
    assert got == fresh(monkeypatch, lambda: pd.training_spec_json(fraud, **options))


def test_the_drift_spec_is_cached_by_every_argument(store, monkeypatch):
    args = ("churn-dev-drift", 0.2, 100, 3600)
    first = pd.drift_spec_json(*args, io_config={"kind": "gcp"})
    assert first == fresh(monkeypatch, lambda: pd.drift_spec_json(*args, io_config={"kind": "gcp"}))
    for changed in (
        ("churn-dev-drift", 0.3, 100, 3600),
        ("churn-dev-drift", 0.2, 50, 3600),
        ("churn-dev-drift", 0.2, 100, 7200),
    ):
        got = pd.drift_spec_json(*changed, io_config={"kind": "gcp"})
        assert got != first
        assert got == fresh(
            monkeypatch, lambda changed=changed: pd.drift_spec_json(*changed, io_config={"kind": "gcp"})
        )
