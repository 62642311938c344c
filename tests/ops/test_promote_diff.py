"""`mlops diff` names where a promoted version came from (the tag `mlops model promote` writes)."""

from __future__ import annotations

import copy

from infra.diff import ml_changes


def plan(model_version, tags):
    return {
        "stack": "aws-prod",
        "cloud": "aws",
        "resources": [],
        "outputs": {"region": "eu-west-1"},
        "platform": {
            "name": "churn",
            "environment": "prod",
            "tags": tags,
            "endpoint": {"model_version": model_version},
        },
    }


def lines(base, head):
    return [c.text for c in ml_changes(base, head)]


def test_promoted_version_says_where_it_came_from():
    base = plan(6, {"team": "ml"})
    head = plan(7, {"team": "ml", "promoted_model": "v7-from-aws-dev"})
    assert lines(base, head) == [
        "model version 6 -> 7 (promoted from aws-dev)",
        "tag promoted_model: set to v7-from-aws-dev",
    ]


def test_first_promotion_starts_serving():
    assert lines(plan(None, {}), plan(3, {"promoted_model": "v3-from-aws-staging"})) == [
        "start serving model version 3 (promoted from aws-staging)",
        "tag promoted_model: set to v3-from-aws-staging",
    ]


def test_a_version_set_by_hand_after_a_promotion_is_not_called_promoted():
    base = plan(7, {"promoted_model": "v7-from-aws-dev"})
    head = copy.deepcopy(base)
    head["platform"]["endpoint"]["model_version"] = 8
    assert lines(base, head) == ["model version 7 -> 8"]


def test_a_tag_that_is_not_a_promotion_is_ignored():
    base = plan(1, {"promoted_model": "whatever"})
    head = plan(2, {"promoted_model": "whatever"})
    assert lines(base, head) == ["model version 1 -> 2"]


def test_the_rewritten_stack_file_plans_and_diffs(tmp_path):
    """The file `mlops model promote` writes is a valid stack; planned and diffed against the one
    before, the reviewer reads the promotion line (the real program under Pulumi mocks)."""
    from infra.config import load_stack_file
    from infra.diff import diff_plans
    from infra.plan import plan as offline_plan
    from infra.promote import set_model_version
    from tests.ops.conftest import example

    before = tmp_path / "before" / "Pulumi.aws-dev.yaml"
    after = tmp_path / "after" / "Pulumi.aws-dev.yaml"
    for path in (before, after):
        path.parent.mkdir()
    before.write_text(example("aws"))
    after.write_text(set_model_version(example("aws"), 2, "promoted from aws-staging version 5", "v2-from-aws-staging"))
    base = offline_plan(load_stack_file(before)).to_json()
    head = offline_plan(load_stack_file(after)).to_json()
    diff = diff_plans(base, head)
    assert [c.text for c in diff.ml] == [
        "model version 1 -> 2 (promoted from aws-staging)",
        "tag promoted_model: set to v2-from-aws-staging",
    ]
    assert diff.dangerous == []
