"""`mlops diff` on real offline plans of the example AWS stack and edited copies of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.cli import main
from infra.config import SECRET_PLACEHOLDER, load_stack_file
from infra.diff import MISSING, diff_plans, ml_changes, render_markdown
from infra.plan import plan
from providers import registry

from .conftest import ROOT, clone, edited, plan_json

FIXTURES = Path(__file__).parent / "fixtures"
SNAPSHOTS = Path(__file__).parent / "snapshots"
REGENERATE = os.environ.get("MLOPS_UPDATE_SNAPSHOTS") == "1"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["diff", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def texts(base, head) -> list[str]:
    return [m.text for m in diff_plans(base, head).ml]


# --- ML level -------------------------------------------------------------------------------------


def test_ml_level_lines_read_from_the_platform(plans):
    lines = texts(plans["base"], plans["ml"])
    for expected in [
        "endpoint max replicas 4 -> 8",
        "drift threshold 0.2 -> 0.1",
        "model version 1 -> 2",
        "feature group customer_profile: + feature churn_score (float)",
        "feature group account_flags: - feature plan_tier (string)",
        "feature group account_flags: feature late_payments type changed int -> float",
        "training schedule 0 3 * * * -> 0 4 * * *",
        "training instance size medium -> large",
        "quality gate threshold 0.75 -> 0.8",
        "approval mode manual -> auto",
        "endpoint instance size small -> medium",
        "data capture % 20 -> 50",
        "alert email ml-oncall@example.com -> ml-team@example.com",
        "drift check schedule 0 * * * * -> 0 */2 * * *",
    ]:
        assert expected in lines, f"{expected!r} not in {lines}"
    assert len(lines) == 14  # nothing else, nothing twice


def test_start_and_stop_serving(plans):
    assert texts(plans["unserved"], plans["base"]) == ["start serving model version 1"]
    assert texts(plans["base"], plans["unserved"]) == ["stop serving (model version 1 -> none)"]


def test_cloud_change_is_an_ml_line(plans):
    head = clone(plans["base"])
    head["cloud"] = "gcp"
    assert "cloud aws -> gcp" in texts(plans["base"], head)


def test_unknown_platform_key_falls_back_to_its_path(plans):
    head = clone(plans["base"])
    head["platform"]["endpoint"]["warm_pool_size"] = 3
    head["platform"]["serving_mesh"] = {"enabled": True}
    changes = {m.path: m for m in ml_changes(plans["base"], head)}
    assert changes["endpoint.warm_pool_size"].text == "endpoint.warm_pool_size (absent) -> 3"
    assert changes["serving_mesh"].known is False
    assert changes["serving_mesh"].text == 'serving_mesh (absent) -> {"enabled": true}'


def test_no_change_says_so(plans, write, capsys):
    a = write("a.json", plans["base"])
    code, out, _ = run(capsys, a, a, "--fail-on-danger")
    assert code == 0
    assert "No changes." in out
    assert "**0 to create, 0 to update, 0 to delete, 0 dangerous**" in out


# --- resources and danger -----------------------------------------------------------------------


def test_resource_updates_carry_input_paths(plans):
    diff = diff_plans(plans["base"], plans["ml"])
    by_name = {r.name: r for r in diff.resources}
    target = by_name["churn-dev-endpoint-scaling-target"]
    # The head also changes the endpoint's size: on AWS a new size is a new endpoint (its name
    # carries the size), so the scaling target moves to it and is replaced.
    assert target.op == "replace"
    assert [(c.path, c.old, c.new) for c in target.changes] == [
        ("maxCapacity", 4, 8),
        (
            "resourceId",
            "endpoint/churn-dev-endpoint-small/variant/primary",
            "endpoint/churn-dev-endpoint-medium/variant/primary",
        ),
    ]


def test_new_feature_replaces_the_feature_group(plans):
    diff = diff_plans(plans["base"], plans["ml"])
    group = next(r for r in diff.resources if r.type == "aws:sagemaker/featureGroup:FeatureGroup")
    assert group.op == "replace" and group.dangerous
    assert "`featureDefinitions`" in group.reasons[0]


def test_renamed_feature_group_is_a_dangerous_delete(plans):
    diff = diff_plans(plans["base"], plans["renamed"])
    ops = {(r.op, r.name) for r in diff.resources if r.type == "aws:sagemaker/featureGroup:FeatureGroup"}
    assert ops == {
        ("delete", "churn-dev-feature-store-account_flags"),
        ("create", "churn-dev-feature-store-account_flags_v2"),
    }
    deleted = diff.dangerous[0]
    assert deleted.op == "delete" and deleted.protect
    assert any("feature group" in r for r in deleted.reasons)
    assert any("renamed to `churn-dev-feature-store-account_flags_v2`" in n for n in deleted.notes)
    assert diff.resources[0] is deleted  # dangerous first


def test_deleted_bucket_is_dangerous(plans, write, capsys):
    head = clone(plans["base"])
    bucket = next(r for r in head["resources"] if r["type"] == "aws:s3/bucket:Bucket")
    head["resources"].remove(bucket)
    code, out, err = run(capsys, write("base.json", plans["base"]), write("head.json", head), "--fail-on-danger")
    assert code == 3
    danger = out.split("#### ⚠️ dangerous changes", 1)[1].split("####", 1)[0]
    assert f"**delete** `aws:s3/bucket:Bucket` **{bucket['name']}**" in danger
    assert "protected" in danger
    assert "1 dangerous" in out and "1 dangerous change(s)" in err


def test_every_protected_resource_type_is_in_the_data_bearing_table(plans):
    protected = {r["type"] for r in plans["base"]["resources"] if r["protect"]}
    assert protected and protected <= set(registry.data_bearing())


# --- secrets --------------------------------------------------------------------------------------


def test_secrets_are_never_printed(plans, write, capsys, tmp_path):
    document = edited(lambda p: None)
    document["config"]["mlops:webhook"] = {"secure": "AAABAHcipherTEXTnotToBeShown"}
    head = plan_json(document, tmp_path / "secure")
    base = clone(plans["base"])
    key = next(r for r in base["resources"] if r["type"] == "aws:kms/key:Key")
    key["inputs"]["description"] = "visible-before-hunter2"
    head_key = next(r for r in head["resources"] if r["urn"] == key["urn"])
    head_key["inputs"]["description"] = SECRET_PLACEHOLDER
    head_key["inputs"]["password"] = "hunter3-new-password"
    key["inputs"]["password"] = "hunter3-old-password"
    head["resources"].append(
        {
            "urn": "urn:pulumi:aws-dev::mlops::x:y:Z::extra",
            "type": "x:y:Z",
            "name": "extra",
            "parent": None,
            "inputs": {"token": "tok-123", "nested": {"a": SECRET_PLACEHOLDER}},
            "custom": True,
            "protect": False,
        }
    )
    a, b = write("base.json", base), write("head.json", head)
    for fmt in ("markdown", "json"):
        code, out, _ = run(capsys, a, b, "--format", fmt)
        assert code == 0
        for leaked in ("AAABAH", "hunter2", "hunter3", "tok-123"):
            assert leaked not in out, (fmt, leaked)
    code, out, _ = run(capsys, a, b)
    assert "`description`: changed (secret)" in out
    assert "`password`: changed (secret)" in out


# --- formats and exit codes -------------------------------------------------------------------


def test_json_format_has_the_same_content(plans, write, capsys):
    code, out, _ = run(capsys, write("a.json", plans["base"]), write("b.json", plans["renamed"]), "--format", "json")
    data = json.loads(out)
    assert code == 0  # dangerous, but --fail-on-danger not given
    assert data["summary"] == {
        "create": 1,
        # What names the feature groups exactly: the execution role's policy, the Feature Store VPC
        # endpoint's policy, the step I/O configuration and the pipeline (which reads that object).
        "update": 4,
        "replace": 0,
        "delete": 1,
        "dangerous": 1,
        "ml_changes": 2,
        "notable": 0,
    }
    assert data["dangerous"][0]["op"] == "delete"
    assert sorted(r["type"] for r in data["resources"] if r["op"] == "update") == [
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:s3/bucketObjectv2:BucketObjectv2",
        "aws:sagemaker/pipeline:Pipeline",
    ]
    assert {m["path"] for m in data["ml_changes"]} == {
        "feature_store.feature_groups[account_flags]",
        "feature_store.feature_groups[account_flags_v2]",
    }


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ('{"stack": "x", "resources": {}}', '"resources" must be a list'),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_input_exits_2_with_one_line(plans, write, capsys, tmp_path, content, problem):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, write("ok.json", plans["base"]), bad)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(bad) in err and problem in err and "Traceback" not in err


def test_safe_change_exits_0_with_fail_on_danger(plans, write, capsys):
    head = clone(plans["base"])
    target = next(r for r in head["resources"] if r["type"] == "aws:appautoscaling/target:Target")
    target["inputs"]["maxCapacity"] = 6
    code, out, _ = run(capsys, write("a.json", plans["base"]), write("b.json", head), "--fail-on-danger")
    assert code == 0 and "0 dangerous" in out


def test_subprocess_python_m_infra_cli_diff():
    base, head = FIXTURES / "aws-dev.base.json", FIXTURES / "aws-dev.head.json"
    proc = subprocess.run(
        [sys.executable, "-m", "infra.cli", "diff", str(base), str(head), "--fail-on-danger"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith("<!-- mlops-diff:aws-dev -->\n")


# --- snapshot -------------------------------------------------------------------------------------


def test_markdown_snapshot(plans):
    """Rendering of a fixed pair of real plans; MLOPS_UPDATE_SNAPSHOTS=1 re-plans and rewrites both."""
    base_file, head_file = FIXTURES / "aws-dev.base.json", FIXTURES / "aws-dev.head.json"
    snapshot = SNAPSHOTS / "aws-dev.md"
    if REGENERATE:
        head = clone(plans["ml"])
        bucket = next(r for r in head["resources"] if r["type"] == "aws:s3/bucket:Bucket")
        head["resources"].remove(bucket)
        base_file.write_text(json.dumps(plans["base"], indent=1, sort_keys=True) + "\n", encoding="utf-8")
        head_file.write_text(json.dumps(head, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    base = json.loads(base_file.read_text(encoding="utf-8"))
    head = json.loads(head_file.read_text(encoding="utf-8"))
    rendered = render_markdown(diff_plans(base, head))
    if REGENERATE:
        snapshot.write_text(rendered, encoding="utf-8")
    assert rendered == snapshot.read_text(encoding="utf-8")
    # Stable: same input, same text; the marker a workflow looks for comes first.
    assert render_markdown(diff_plans(base, head)) == rendered
    assert rendered.startswith("<!-- mlops-diff:aws-dev -->")
    assert rendered.index("⚠️ dangerous changes") < rendered.index("Platform changes") < rendered.index("<details>")


# --- other clouds ---------------------------------------------------------------------------------

OTHER_CLOUDS = [c for c in registry.implemented() if c != "aws"]


@pytest.fixture(scope="module", params=OTHER_CLOUDS)
def other_plan(request):
    stack = f"{request.param}-dev"
    return json.loads(json.dumps(plan(load_stack_file(ROOT / f"Pulumi.{stack}.yaml", stack)).to_json()))


def test_moving_clouds_reads_as_cloud_change(plans, other_plan):
    diff = diff_plans(plans["example"], other_plan)
    lines = [m.text for m in diff.ml]
    assert f"cloud aws -> {other_plan['cloud']}" in lines
    assert not any(m.path.startswith(("endpoint", "monitor", "pipeline", "feature_store")) for m in diff.ml)
    assert diff.summary["delete"] == len(plans["example"]["resources"])
    markdown = render_markdown(diff)
    assert f"Different stacks: deploying `{other_plan['stack']}` leaves `aws-dev` as it is" in markdown
    # Deleting the AWS side loses its data: flagged even across clouds.
    assert {r.type for r in diff.dangerous} >= {
        "aws:s3/bucket:Bucket",
        "aws:sagemaker/featureGroup:FeatureGroup",
    }


def test_other_cloud_protected_types_are_data_bearing(other_plan):
    protected = {r["type"] for r in other_plan["resources"] if r["protect"]}
    assert protected and protected <= set(registry.data_bearing()), protected - set(registry.data_bearing())


def test_a_new_stack_is_one_ml_line(plans):
    empty = {"stack": "aws-dev", "cloud": None, "resources": [], "outputs": {}, "platform": {}}
    diff = diff_plans(empty, plans["base"])
    assert [m.text for m in diff.ml] == ["new stack: aws eu-west-1, platform churn-dev"]
    assert diff.summary["create"] == len(plans["base"]["resources"]) and not diff.dangerous
    assert "### mlops diff: `aws-dev` (aws)" in render_markdown(diff)
    assert [m.text for m in diff_plans(plans["base"], empty).ml] == ["stack removed: aws eu-west-1, platform churn-dev"]


def test_changes_to_ignored_properties_are_not_changes(tmp_path):
    """A feature group's description is set once (ignore_changes): editing it is no danger."""
    import yaml

    from infra.config import load_stack_file
    from infra.diff import diff_plans
    from infra.plan import plan

    root = Path(__file__).resolve().parents[2]
    document = yaml.safe_load((root / "Pulumi.aws-dev.yaml").read_text())
    base = plan(load_stack_file(root / "Pulumi.aws-dev.yaml")).to_json()
    document["config"]["mlops:platform"]["feature_store"]["feature_groups"][0]["description"] = "new words"
    edited = tmp_path / "Pulumi.aws-dev.yaml"
    edited.write_text(yaml.safe_dump(document))
    head = plan(load_stack_file(edited)).to_json()
    result = diff_plans(base, head)
    assert not [r for r in result.resources if r.type == "aws:sagemaker/featureGroup:FeatureGroup"]
    assert not result.dangerous


def _table(schema):
    return {
        "urn": "urn:pulumi:s::mlops::gcp:bigquery/table:Table::t",
        "type": "gcp:bigquery/table:Table",
        "name": "t",
        "parent": None,
        "custom": True,
        "protect": True,
        "inputs": {"tableId": "customer_profile", "schema": json.dumps(schema)},
    }


@pytest.mark.parametrize(
    ("after", "dangerous"),
    [
        ([{"name": "a", "type": "FLOAT"}, {"name": "b", "type": "STRING"}], False),  # a column added
        ([{"name": "a", "type": "STRING"}], True),  # a type changed
        ([], True),  # a column dropped
    ],
)
def test_bigquery_schema_changes_that_replace_the_table(after, dangerous):
    base = {
        "stack": "s",
        "cloud": "gcp",
        "resources": [_table([{"name": "a", "type": "FLOAT"}])],
        "outputs": {},
        "platform": {},
    }
    head = {**base, "resources": [_table(after)]}
    result = diff_plans(base, head)
    assert bool(result.dangerous) is dangerous
    assert result.resources[0].op == ("replace" if dangerous else "update")


# --- notable platform changes, protected replacements, list shifts ------------------------------


@pytest.mark.parametrize(
    ("path", "old", "new", "notable"),
    [
        (("registry", "approval"), "manual", "auto", "no person approves new model versions"),
        (("registry", "approval"), "auto", "manual", None),
        (("protect_data",), True, False, "lose Pulumi protection"),
        (("network", "public_access"), False, True, "public internet"),
        (("monitor", "retrain_on_drift"), True, False, "no longer starts retraining"),
    ],
)
def test_notable_platform_changes_are_flagged(plans, path, old, new, notable):
    base, head = clone(plans["base"]), clone(plans["base"])
    for doc, value in ((base, old), (head, new)):
        node = doc["platform"]
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    diff = diff_plans(base, head)
    [change] = diff.ml
    if notable is None:
        assert change.notable is None and diff.summary["notable"] == 0
    else:
        assert notable in change.notable and diff.summary["notable"] == 1
        assert f"**{change.text}** — ⚠️ {change.notable}" in render_markdown(diff)


def test_replacing_a_protected_resource_says_pulumi_up_refuses(plans):
    head = clone(plans["base"])
    group = next(r for r in head["resources"] if r["type"] == "aws:sagemaker/featureGroup:FeatureGroup")
    assert group["protect"] is True
    group["inputs"]["featureGroupName"] = "churn-dev-renamed"
    [rc] = [r for r in diff_plans(plans["base"], head).resources if r.name == group["name"]]
    assert rc.op == "replace" and rc.dangerous
    assert any("`pulumi up` will refuse to replace it until it is unprotected" in r for r in rc.reasons)
    unprotected_base, unprotected_head = clone(plans["base"]), clone(head)
    for doc in (unprotected_base, unprotected_head):
        next(r for r in doc["resources"] if r["name"] == group["name"])["protect"] = False
    [rc] = [r for r in diff_plans(unprotected_base, unprotected_head).resources if r.name == group["name"]]
    assert not any("unprotected" in r for r in rc.reasons)


def test_an_item_inserted_in_a_list_is_one_change_not_a_shift():
    from infra.diff import walk_diff

    old = {"rules": [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d"}]}
    new = {"rules": [{"id": "a"}, {"id": "new"}, {"id": "b"}, {"id": "c"}, {"id": "d"}]}
    changes = walk_diff(old, new)
    assert [(p, o, n) for p, o, n in changes if o is not MISSING or n is not MISSING] == changes
    assert [(p, n) for p, _, n in changes] == [("rules[1]", {"id": "new"})]
    assert walk_diff(new, old) == [("rules[1]", {"id": "new"}, MISSING)]
    # An item changed in place is still compared leaf by leaf.
    assert walk_diff({"l": [{"id": "a", "v": 1}]}, {"l": [{"id": "a", "v": 2}]}) == [("l[0].v", 1, 2)]
