"""The ML-level lines of `mlops diff` (infra/diff/ml.py) on small hand-written plans.

No stack is planned here: each case is two plan documents of a few keys, so these tests take
milliseconds and are the ones `scripts/mutation.py --only diff-ml` runs per mutant. Every expected
line is written out literally.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.diff import MISSING, ml_changes
from infra.diff.ml import show

PLATFORM: dict[str, Any] = {
    "name": "churn",
    "environment": "dev",
    "protect_data": True,
    "network": {"public_access": False},
    "tags": {"team": "ml"},
    "registry": {"approval": "manual"},
    "pipeline": {"name": "churn", "schedule": "0 3 * * *", "instance": "medium"},
    "endpoint": {"model_version": 1, "max_replicas": 4},
    "monitor": {"retrain_on_drift": True, "drift_threshold": 0.2},
    "feature_store": {
        "feature_groups": [
            {
                "name": "profile",
                "entity": "customer_id",
                "event_time": "event_time",
                "online": True,
                "features": [{"name": "tenure", "type": "int"}, {"name": "plan", "type": "string"}],
            }
        ]
    },
}


def _plan(platform: dict[str, Any] | None = PLATFORM, cloud: str = "aws", region: str | None = None) -> dict:
    plan: dict[str, Any] = {"stack": "dev", "cloud": cloud, "resources": [], "platform": copy.deepcopy(platform)}
    if region is not None:
        plan["outputs"] = {"region": region}
    return plan


def _edit(path: str, value: Any) -> dict[str, Any]:
    """A copy of PLATFORM with the dotted `path` set to `value` (MISSING deletes it)."""
    platform = copy.deepcopy(PLATFORM)
    *parents, last = path.split(".")
    node = platform
    for part in parents:
        node = node.setdefault(part, {})
    if value is MISSING:
        del node[last]
    else:
        node[last] = value
    return platform


def _lines(base: dict[str, Any], head: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(m.path, m.text, m.known) for m in ml_changes(base, head)]


def _group(**changes: Any) -> dict[str, Any]:
    platform = copy.deepcopy(PLATFORM)
    group = platform["feature_store"]["feature_groups"][0]
    for key, value in changes.items():
        if value is MISSING:
            del group[key]
        else:
            group[key] = value
    return platform


# --- how a value is shown -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (MISSING, "(absent)"),
        (None, "none"),
        (True, "true"),
        (False, "false"),
        ("0 3 * * *", "0 3 * * *"),
        (4, "4"),
        (0.25, "0.25"),
        ({"b": 1, "a": [True, None]}, '{"a": [true, null], "b": 1}'),
    ],
)
def test_a_value_is_shown_as_a_reviewer_reads_it(value, text):
    assert show(value) == text


# --- labelled platform keys -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "line"),
    [
        ("endpoint.max_replicas", 8, "endpoint max replicas 4 -> 8"),
        ("pipeline.instance", "large", "training instance size medium -> large"),
        ("pipeline.schedule", "0 4 * * *", "training schedule 0 3 * * * -> 0 4 * * *"),
        ("monitor.drift_threshold", 0.1, "drift threshold 0.2 -> 0.1"),
        ("tags.team", "risk", "tag team ml -> risk"),
        ("environment", "prod", "environment dev -> prod"),
        ("name", "churn2", "platform name (renames every physical resource) churn -> churn2"),
        # Set where it was absent, removed where it was set.
        ("endpoint.min_replicas", 2, "endpoint min replicas: set to 2"),
        ("tags.owner", "ana", "tag owner: set to ana"),
        ("monitor.drift_threshold", MISSING, "drift threshold: removed (was 0.2)"),
        ("endpoint.shadow", {"model_version": 2}, 'shadow: set to {"model_version": 2}'),
    ],
)
def test_a_labelled_key_reads_as_its_label(path, value, line):
    [(got_path, text, known)] = _lines(_plan(), _plan(_edit(path, value)))
    assert (got_path, text, known) == (path, line, True)


def test_the_old_and_new_values_are_kept_with_absent_as_none():
    [change] = ml_changes(_plan(), _plan(_edit("endpoint.min_replicas", 2)))
    assert (change.old, change.new, change.notable) == (None, 2, None)
    [change] = ml_changes(_plan(), _plan(_edit("endpoint.max_replicas", 8)))
    assert (change.old, change.new) == (4, 8)
    [change] = ml_changes(_plan(), _plan(_edit("monitor.drift_threshold", MISSING)))
    assert (change.old, change.new) == (0.2, None)


def test_an_unlabelled_key_falls_back_to_its_path_and_says_so():
    assert _lines(_plan(), _plan(_edit("endpoint.warm_pool", 3))) == [
        ("endpoint.warm_pool", "endpoint.warm_pool (absent) -> 3", False)
    ]
    assert _lines(_plan(), _plan(_edit("monitor.retrain_on_drift", "sometimes"))) == [
        ("monitor.retrain_on_drift", "retrain on drift true -> sometimes", True)
    ]


# --- serving and schedules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        (None, 1, "start serving model version 1"),
        (MISSING, 3, "start serving model version 3"),
        (1, None, "stop serving (model version 1 -> none)"),
        (2, MISSING, "stop serving (model version 2 -> none)"),
        (1, 2, "model version 1 -> 2"),
    ],
)
def test_serving_starts_stops_or_changes_version(old, new, line):
    base, head = _plan(_edit("endpoint.model_version", old)), _plan(_edit("endpoint.model_version", new))
    assert _lines(base, head) == [("endpoint.model_version", line, True)]


@pytest.mark.parametrize("new", [None, MISSING])
def test_a_training_schedule_removed_is_on_demand_only(new):
    assert _lines(_plan(), _plan(_edit("pipeline.schedule", new))) == [
        ("pipeline.schedule", "training schedule 0 3 * * * -> on demand only", True)
    ]


def test_a_promoted_version_says_where_it_came_from():
    head = _edit("endpoint.model_version", 7)
    head["tags"]["promoted_model"] = "v7-from-aws-dev"
    lines = dict((p, t) for p, t, _ in _lines(_plan(), _plan(head)))
    assert lines["endpoint.model_version"] == "model version 1 -> 7 (promoted from aws-dev)"
    # A tag naming another version is an older promotion: it does not explain this change.
    head["tags"]["promoted_model"] = "v6-from-aws-dev"
    lines = dict((p, t) for p, t, _ in _lines(_plan(), _plan(head)))
    assert lines["endpoint.model_version"] == "model version 1 -> 7"


# --- feature groups -------------------------------------------------------------------------------


def test_a_feature_group_added_lists_its_features():
    added = {
        "name": "flags",
        "entity": "customer_id",
        "event_time": "event_time",
        "features": [{"name": "autopay", "type": "bool"}, {"name": "score"}],
    }
    head = copy.deepcopy(PLATFORM)
    head["feature_store"]["feature_groups"].append(added)
    [change] = ml_changes(_plan(), _plan(head))
    assert (change.path, change.text, change.known) == (
        "feature_store.feature_groups[flags]",
        "+ feature group flags (autopay (bool), score)",
        True,
    )
    assert (change.old, change.new) == (None, added)


def test_a_feature_group_removed_says_its_data_is_deleted():
    head = copy.deepcopy(PLATFORM)
    head["feature_store"]["feature_groups"].append({"name": "flags", "entity": "e", "event_time": "t"})
    assert _lines(_plan(head), _plan()) == [
        ("feature_store.feature_groups[flags]", "- feature group flags (its data is deleted)", True)
    ]
    # Added without features: an empty list, not an error.
    assert _lines(_plan(), _plan(head)) == [("feature_store.feature_groups[flags]", "+ feature group flags ()", True)]


@pytest.mark.parametrize(
    ("key", "value", "line", "known"),
    [
        ("entity", "account_id", "feature group profile: entity customer_id -> account_id", True),
        ("event_time", "ts", "feature group profile: event time event_time -> ts", True),
        ("online", False, "feature group profile: online true -> false", True),
        ("description", "x", "feature group profile: description (absent) -> x", True),
        ("ttl_days", 30, "feature group profile: ttl days (absent) -> 30", False),
    ],
)
def test_a_feature_group_setting_reads_as_its_name(key, value, line, known):
    assert _lines(_plan(), _plan(_group(**{key: value}))) == [
        (f"feature_store.feature_groups[profile].{key}", line, known)
    ]


def test_features_added_removed_retyped_and_reordered():
    tenure, plan = {"name": "tenure", "type": "int"}, {"name": "plan", "type": "string"}
    churn = {"name": "churn_score", "type": "float"}
    prefix = "feature_store.feature_groups[profile].features"
    assert _lines(_plan(), _plan(_group(features=[tenure, plan, churn]))) == [
        (f"{prefix}[churn_score]", "feature group profile: + feature churn_score (float)", True)
    ]
    assert _lines(_plan(), _plan(_group(features=[tenure]))) == [
        (f"{prefix}[plan]", "feature group profile: - feature plan (string)", True)
    ]
    assert _lines(_plan(), _plan(_group(features=[{"name": "tenure", "type": "float"}, plan]))) == [
        (f"{prefix}[tenure].type", "feature group profile: feature tenure type changed int -> float", True)
    ]
    assert _lines(_plan(), _plan(_group(features=[{**tenure, "description": "months"}, plan]))) == [
        (f"{prefix}[tenure].description", "feature group profile: feature tenure description (absent) -> months", False)
    ]
    assert _lines(_plan(), _plan(_group(features=[plan, tenure]))) == [
        (f"{prefix}.(order)", "feature group profile: feature order tenure, plan -> plan, tenure", True)
    ]


def test_an_unlabelled_feature_group_key_falls_back():
    head = copy.deepcopy(PLATFORM)
    head["feature_store"]["feature_groups"].append({"name": "other", "entity": "e"})
    base = copy.deepcopy(head)
    base["feature_store"]["feature_groups"][1]["features"] = ["a"]
    assert _lines(_plan(base), _plan(head)) == [
        ("feature_store.feature_groups[other].features", 'feature group other: features ["a"] -> (absent)', False)
    ]


# --- changes a reviewer should look at twice --------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "old", "new", "notable"),
    [
        (
            "registry.approval",
            "manual",
            "auto",
            "no person approves new model versions any more: a version that passes the quality gate is approved",
        ),
        (
            "registry.approval",
            MISSING,
            "auto",
            "no person approves new model versions any more: a version that passes the quality gate is approved",
        ),
        ("registry.approval", "auto", "manual", None),
        ("protect_data", True, False, "data-bearing resources lose Pulumi protection: a later change can delete them"),
        ("protect_data", False, True, None),
        ("protect_data", True, MISSING, None),
        ("network.public_access", False, True, "workspaces and endpoints become reachable from the public internet"),
        ("network.public_access", True, False, None),
        ("monitor.retrain_on_drift", True, False, "drift no longer starts retraining"),
        ("monitor.retrain_on_drift", False, True, None),
        ("endpoint.max_replicas", 4, 0, None),
    ],
)
def test_less_oversight_protection_or_more_exposure_is_notable(path, old, new, notable):
    [change] = ml_changes(_plan(_edit(path, old)), _plan(_edit(path, new)))
    assert change.notable == notable


# --- whole stacks, cloud and region, secrets --------------------------------------------------------


def test_the_cloud_and_the_region_are_ml_lines():
    assert _lines(_plan(), _plan(cloud="gcp")) == [("cloud", "cloud aws -> gcp", True)]
    assert _lines(_plan(region="eu-west-1"), _plan(region="us-east-1")) == [
        ("region", "region eu-west-1 -> us-east-1", True)
    ]
    # A region only one side's outputs carry: set, not a change of some other key.
    assert _lines(_plan(), _plan(region="eu-west-1")) == [("region", "region: set to eu-west-1", True)]
    # Outputs without a region (or a null one) add no line.
    base, head = _plan(), _plan()
    base["outputs"], head["outputs"] = {"region": None}, {}
    assert _lines(base, head) == []


def test_a_new_or_removed_stack_is_one_line():
    [change] = ml_changes(_plan(None), _plan(region="europe-west4", cloud="gcp"))
    assert (change.path, change.text, change.old, change.new, change.known, change.notable) == (
        "",
        "new stack: gcp europe-west4, platform churn-dev",
        None,
        None,
        True,
        None,
    )
    assert _lines(_plan(), _plan(None)) == [("", "stack removed: aws, platform churn-dev", True)]
    assert _lines(_plan({}), _plan()) == [("", "new stack: aws, platform churn-dev", True)]
    assert _lines(_plan(None), _plan(None)) == []
    assert _lines({"cloud": "aws"}, {"cloud": "aws"}) == []


def test_a_secret_is_never_shown():
    base, head = _edit("tags.api_token", "abc123"), _edit("tags.api_token", "def456")
    [change] = ml_changes(_plan(base), _plan(head))
    assert (change.path, change.text, change.old, change.new, change.known) == (
        "tags.api_token",
        "tags.api_token: changed (secret)",
        "[secret]",
        "[secret]",
        True,
    )
    # A value Pulumi encrypts reaches the plan as the placeholder: under it, nothing is shown either.
    base, head = _edit("monitor.alert_email", "[secret]"), _edit("monitor.alert_email", "a@example.com")
    assert _lines(_plan(base), _plan(head)) == [("monitor.alert_email", "monitor.alert_email: changed (secret)", True)]


# --- found by mutation testing (scripts/mutation.py --only diff-ml) ----------------------------------


def test_a_secret_only_the_new_plan_holds_is_hidden_and_the_lines_after_it_stay():
    head = _edit("tags.api_token", "abc123")
    head["tags"]["zone"] = "b"
    assert _lines(_plan(), _plan(head)) == [
        ("tags.api_token", "tags.api_token: changed (secret)", True),
        ("tags.zone", "tag zone: set to b", True),
    ]


def test_a_platform_without_tags_has_no_promotion():
    base, head = _edit("tags", MISSING), _edit("tags", MISSING)
    head["endpoint"]["model_version"] = 2
    assert _lines(_plan(base), _plan(head)) == [("endpoint.model_version", "model version 1 -> 2", True)]
