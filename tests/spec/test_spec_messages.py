"""The exact line a user reads for each kind of refusal of `mlops:platform` and `mlops:cloud`
(issue 16: `scripts/mutation.py --only spec` showed the messages themselves were never checked,
only a fragment of each)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from providers.spec import SpecError, parse_cloud, parse_platform

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "Pulumi.aws-dev.yaml").read_text())["config"]["mlops:platform"]


def _with(section: str, key: str, value) -> dict:
    data = copy.deepcopy(BASE)
    if value is None:
        del data[section][key]
    else:
        data[section][key] = value
    return data


@pytest.mark.parametrize(
    ("raw", "key", "rule"),
    [
        ("churn", "mlops:platform", "must be a mapping (the platform description), see the README"),
        (
            _with("monitor", "alert_emial", "x@example.com"),
            "mlops:platform.monitor.alert_emial",
            "unknown key (check the spelling against the config reference)",
        ),
        (_with("monitor", "alert_email", None), "mlops:platform.monitor.alert_email", "is required"),
        (
            # a validator's own ValueError: pydantic's "Value error, " prefix is not shown
            _with("monitor", "alert_email", "oncall"),
            "mlops:platform.monitor.alert_email",
            "must be an e-mail address, got 'oncall'",
        ),
        (
            {
                **copy.deepcopy(BASE),
                "pipeline": {**BASE["pipeline"], "quality_gate": {"metric": "ROC-AUC", "threshold": 0.7}},
            },
            "mlops:platform.pipeline.quality_gate.metric",
            "must be 1-63 characters of lowercase letters, digits and underscores, starting with a letter, "
            "got 'ROC-AUC'",
        ),
        (
            _with("monitor", "schedule", "0 3 * *"),
            "mlops:platform.monitor.schedule",
            "must be a five-field cron expression in UTC (minute hour day month weekday), got '0 3 * *'",
        ),
    ],
    ids=["not-a-mapping", "unknown-key", "missing", "validator", "identifier", "cron"],
)
def test_platform_refusals_are_this_exact_line(raw, key, rule):
    with pytest.raises(SpecError) as info:
        parse_platform(raw)
    assert (info.value.key, info.value.rule) == (key, rule)


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        (None, "is required: one of aws, gcp, azure"),
        ("oracle", "unknown cloud 'oracle'; must be one of aws, gcp, azure"),
    ],
)
def test_cloud_refusals_are_this_exact_line(raw, rule):
    with pytest.raises(SpecError) as info:
        parse_cloud(raw)
    assert (info.value.key, info.value.rule) == ("mlops:cloud", rule)
