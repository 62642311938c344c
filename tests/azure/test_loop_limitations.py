"""What Azure cannot do with the loop's knobs, refused (exit 2) or said in one line, before any plan:
Azure ML's monitor reads a fixed window, an endpoint mirrors at most half its traffic."""

from __future__ import annotations

import copy
import inspect
from pathlib import Path

import pytest

from infra.config import load_stack_file
from providers.azure import AzureProvider
from providers.spec import parse_platform

ROOT = Path(__file__).resolve().parents[2]
BASE = load_stack_file(ROOT / "Pulumi.azure-dev.yaml").config["mlops:platform"]


def _limits(**changes) -> dict[str, tuple[str, str]]:
    platform = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        node = platform
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    found = AzureProvider().limitations(parse_platform(platform))
    return {x.key: (x.severity, x.message) for x in found if "online" not in x.key}


@pytest.mark.parametrize(
    ("schedule", "refused"),
    [
        ("0 * * * *", False),  # hourly
        ("*/20 * * * *", False),
        ("0 3 * * *", False),  # daily
        ("0 3 * * 1", False),  # weekly: one fixed interval too
        ("0 9 * * 1-5", True),  # weekdays: a 72 h gap over the weekend, 24 h otherwise
        ("0 8,17 * * *", True),  # 9 h then 15 h
    ],
)
def test_the_builtin_monitor_needs_a_fixed_interval(schedule, refused):
    got = _limits(**{"monitor.engine": "builtin", "monitor.schedule": schedule})
    key = "mlops:platform.monitor.schedule"
    if refused:
        assert got[key][0] == "refuse" and "fires at uneven intervals" in got[key][1]
    else:
        assert key not in got
    # the kit's own check takes any schedule (its window is from the previous fire time); only a
    # schedule slower than daily gets a note (below), never a refusal
    kit = _limits(**{"monitor.schedule": schedule}).get(key)
    assert kit is None or kit[0] == "note"


def test_a_weekly_kit_check_cannot_be_watched_for_absence_and_says_so():
    got = _limits(**{"monitor.schedule": "0 3 * * 1"})
    assert got["mlops:platform.monitor.schedule"][0] == "note"


@pytest.mark.parametrize(("percent", "refused"), [(1, False), (50, False), (51, True), (100, True)])
def test_an_endpoint_mirrors_at_most_half_its_traffic(percent, refused):
    got = _limits(**{"endpoint.shadow": {"model_version": 2, "sample_percent": percent}})
    key = "mlops:platform.endpoint.shadow.sample_percent"
    assert (key in got) is refused
    if refused:
        assert got[key][0] == "refuse"


def test_the_mirror_limit_is_the_one_azure_ai_ml_documents():
    """The rule's source: azure-ai-ml's REST model of the endpoint (its only statement of it)."""
    from azure.ai.ml._restclient.arm_ml_service.models import OnlineEndpointProperties

    assert "Traffic values need to sum to utmost 50" in " ".join(inspect.getdoc(OnlineEndpointProperties).split())
