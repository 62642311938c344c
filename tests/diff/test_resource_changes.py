"""Resource-level changes of `mlops diff` (infra/diff/resources.py) on small hand-written plans.

No stack is planned: each plan holds the few resources a case needs, so these run in milliseconds
(the tests `scripts/mutation.py --only diff-resources` runs per mutant). The replace-causing inputs
and data-bearing labels come from the clouds' catalogs (`providers/<cloud>/catalog.py`); the ones
used here are written out: an S3 bucket's `bucket` replaces it, a SageMaker feature group's
`featureDefinitions` does, its `tags` do not; a KMS key and a bucket are data-bearing, an IAM role
is not.
"""

from __future__ import annotations

from typing import Any

from infra.diff import MISSING
from infra.diff.resources import resource_changes

BUCKET = "aws:s3/bucket:Bucket"
GROUP = "aws:sagemaker/featureGroup:FeatureGroup"
ROLE = "aws:iam/role:Role"


def _res(type_: str, name: str, /, stack: str = "dev", protect: bool = False, **inputs: Any) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:{stack}::mlops::{type_}::{name}",
        "type": type_,
        "name": name,
        "parent": None,
        "custom": True,
        "protect": protect,
        "inputs": inputs,
    }


def _plan(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resources": list(resources)}


def _summary(changes) -> list[tuple[str, str, bool, list[str]]]:
    return [(rc.op, rc.name, rc.dangerous, rc.reasons) for rc in changes]


def test_unchanged_resources_are_not_listed():
    plan = _plan(_res(BUCKET, "data", bucket="b"), _res(ROLE, "role", name="r"))
    assert resource_changes(plan, plan) == []


def test_the_stack_name_in_the_urn_is_ignored():
    base = _plan(_res(ROLE, "role", stack="dev", name="r"))
    head = _plan(_res(ROLE, "role", stack="prod", name="r"))
    assert resource_changes(base, head) == []
    # A URN that is not a Pulumi URN is matched as it is.
    odd = {**_res(ROLE, "role", name="r"), "urn": "role"}
    assert resource_changes(_plan(odd), _plan(odd)) == []
    assert [(rc.op, rc.urn) for rc in resource_changes(_plan(odd), _plan())] == [("delete", "role")]


def test_a_created_resource_is_not_dangerous():
    [rc] = resource_changes(_plan(), _plan(_res(BUCKET, "data", bucket="b")))
    assert (rc.op, rc.urn, rc.type, rc.name) == (
        "create",
        "urn:pulumi:dev::mlops::aws:s3/bucket:Bucket::data",
        BUCKET,
        "data",
    )
    assert (rc.dangerous, rc.reasons, rc.changes, rc.protect, rc.data_bearing) == (False, [], [], False, "bucket")


def test_a_deleted_data_bearing_resource_loses_its_data():
    [rc] = resource_changes(_plan(_res(BUCKET, "data", bucket="b")), _plan())
    assert (rc.op, rc.dangerous, rc.reasons, rc.protect) == (
        "delete",
        True,
        ["deletes a bucket: its data is lost"],
        False,
    )
    [rc] = resource_changes(_plan(_res(BUCKET, "data", protect=True, bucket="b")), _plan())
    assert (rc.protect, rc.reasons) == (
        True,
        [
            "deletes a bucket: its data is lost",
            "the resource is protected: `pulumi up` will refuse until it is unprotected",
        ],
    )
    # Not data-bearing, not protected: a delete, nothing to warn about.
    [rc] = resource_changes(_plan(_res(ROLE, "role", name="r")), _plan())
    assert (rc.op, rc.dangerous, rc.reasons, rc.data_bearing) == ("delete", False, [], None)


def test_an_input_that_cannot_change_in_place_replaces_and_loses_data():
    base = _plan(_res(GROUP, "profile", featureDefinitions=[{"n": "a"}], tags={"t": "1"}))
    head = _plan(_res(GROUP, "profile", featureDefinitions=[{"n": "b"}], tags={"t": "2"}))
    [rc] = resource_changes(base, head)
    assert rc.op == "replace" and rc.dangerous
    assert [(c.path, c.old, c.new, c.replaces, c.secret) for c in rc.changes] == [
        ("featureDefinitions[0].n", "a", "b", True, False),
        ("tags.t", "1", "2", False, False),
    ]
    assert rc.reasons == ["replaces a feature group (`featureDefinitions` cannot change in place): its data is lost"]


def test_several_replacing_inputs_are_named_in_order():
    base = _plan(_res(GROUP, "profile", roleArn="r1", description="d1", featureGroupName="g"))
    head = _plan(_res(GROUP, "profile", roleArn="r2", description="d2", featureGroupName="g"))
    [rc] = resource_changes(base, head)
    assert rc.reasons == [
        "replaces a feature group (`description`, `roleArn` cannot change in place): its data is lost"
    ]


def test_replacing_a_protected_resource_says_pulumi_up_refuses():
    base = _plan(_res(BUCKET, "data", protect=True, bucket="a"))
    head = _plan(_res(BUCKET, "data", protect=True, bucket="b"))
    [rc] = resource_changes(base, head)
    assert (rc.op, rc.protect, rc.reasons) == (
        "replace",
        True,
        [
            "replaces a bucket (`bucket` cannot change in place): its data is lost",
            "the resource is protected: `pulumi up` will refuse to replace it until it is unprotected "
            "(`pulumi state unprotect`)",
        ],
    )


def test_a_replaced_resource_that_holds_no_data_is_not_dangerous():
    base = _plan(_res("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "config", name="a"))
    head = _plan(_res("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "config", name="b"))
    [rc] = resource_changes(base, head)
    assert (rc.op, rc.dangerous, rc.reasons, rc.data_bearing) == ("replace", False, [], None)


def test_an_in_place_update_of_a_data_bearing_resource_is_not_dangerous():
    base = _plan(_res(BUCKET, "data", protect=True, bucket="b", tags={"a": "1"}))
    head = _plan(_res(BUCKET, "data", protect=True, bucket="b", tags={"a": "2"}))
    [rc] = resource_changes(base, head)
    assert (rc.op, rc.dangerous, rc.reasons, rc.protect) == ("update", False, [], True)
    assert [(c.path, c.old, c.new, c.replaces) for c in rc.changes] == [("tags.a", "1", "2", False)]


def test_protection_added_or_removed_is_a_change():
    base = _plan(_res(BUCKET, "data", protect=False, bucket="b"))
    head = _plan(_res(BUCKET, "data", protect=True, bucket="b"))
    [rc] = resource_changes(base, head)
    assert (rc.op, rc.protect) == ("update", True)
    assert [(c.path, c.old, c.new) for c in rc.changes] == [("(protect)", False, True)]
    [rc] = resource_changes(head, base)
    assert (rc.protect, [(c.path, c.old, c.new) for c in rc.changes]) == (True, [("(protect)", True, False)])


def test_ignored_properties_are_not_changes():
    base = _plan(_res(ROLE, "role", name="r", tags={"a": "1"}))
    head = _plan({**_res(ROLE, "role", name="r", tags={"a": "2"}), "ignore_changes": ["tags"]})
    assert resource_changes(base, head) == []
    head["resources"][0]["inputs"]["name"] = "s"
    [rc] = resource_changes(base, head)
    assert [(c.path, c.old, c.new) for c in rc.changes] == [("name", "r", "s")]


def test_inputs_absent_on_one_side_are_compared_with_nothing():
    base = {"resources": [{**_res(ROLE, "role"), "inputs": None}]}
    head = _plan(_res(ROLE, "role", name="r"))
    [rc] = resource_changes(base, head)
    assert [(c.path, c.old, c.new) for c in rc.changes] == [("name", MISSING, "r")]


def test_secret_values_are_never_shown():
    base = _plan(_res(ROLE, "role", password="[secret]", api_token="abc", settings={"token": "x", "n": 1}))
    head = _plan(_res(ROLE, "role", password="[secret]", api_token="def", settings={"token": "y", "n": 2}))
    [rc] = resource_changes(base, head)
    assert [(c.path, c.old, c.new, c.secret) for c in rc.changes] == [
        ("api_token", "[secret]", "[secret]", True),
        ("settings.n", 1, 2, False),
        ("settings.token", "[secret]", "[secret]", True),
    ]
    # A secret that appears: its old side stays absent, its new side is hidden.
    head = _plan(_res(ROLE, "role", password="[secret]", api_token="def", settings={"n": 1}, new_token="z"))
    changes = {c.path: (c.old, c.new) for c in resource_changes(base, head)[0].changes}
    assert changes["new_token"] == (MISSING, "[secret]")
    assert changes["settings.token"] == ("[secret]", MISSING)


def test_a_delete_and_a_create_of_one_type_look_like_a_rename():
    base = _plan(_res(GROUP, "flags", protect=True, featureGroupName="a"), _res(ROLE, "old-role", name="r"))
    head = _plan(_res(GROUP, "flags_v2", featureGroupName="b"), _res(BUCKET, "new-bucket", bucket="b"))
    changes = {rc.name: rc for rc in resource_changes(base, head)}
    assert changes["flags"].notes == [
        "looks renamed to `flags_v2`: a URN change is a delete + create "
        "(an alias would make it an update; aliases cannot be seen offline)"
    ]
    assert changes["flags_v2"].notes == ["looks like the new name of `flags` (deleted)"]
    # A delete with no create of its type, and a create with no delete: no note.
    assert changes["old-role"].notes == [] and changes["new-bucket"].notes == []


def test_two_renames_of_one_type_pair_in_order():
    base = _plan(_res(ROLE, "a", name="a"), _res(ROLE, "b", name="b"))
    head = _plan(_res(ROLE, "c", name="c"), _res(ROLE, "d", name="d"))
    notes = {rc.name: rc.notes for rc in resource_changes(base, head)}
    assert notes["a"][0].startswith("looks renamed to `c`:") and notes["b"][0].startswith("looks renamed to `d`:")
    assert notes["c"] == ["looks like the new name of `a` (deleted)"]
    assert notes["d"] == ["looks like the new name of `b` (deleted)"]


def test_dangerous_changes_come_first_then_by_operation_type_and_name():
    base = _plan(
        _res(ROLE, "gone-role", name="r"),
        _res(BUCKET, "gone-bucket", bucket="g"),
        _res(BUCKET, "moved", bucket="m1"),
        _res(ROLE, "edited", tags={"v": "1"}),
        _res("aws:kms/key:Key", "key", tags={"v": "1"}),
        _res("aws:iam/policy:Policy", "edited-policy", tags={"v": "1"}),
    )
    head = _plan(
        _res(BUCKET, "moved", bucket="m2"),
        _res(ROLE, "edited", tags={"v": "2"}),
        _res("aws:kms/key:Key", "key", tags={"v": "2"}),
        _res("aws:iam/policy:Policy", "edited-policy", tags={"v": "2"}),
        _res(ROLE, "new-role", name="n"),
        _res(ROLE, "another-role", name="n2"),
    )
    assert [(rc.op, rc.name, rc.dangerous) for rc in resource_changes(base, head)] == [
        ("delete", "gone-bucket", True),
        ("replace", "moved", True),
        ("delete", "gone-role", False),
        ("update", "edited-policy", False),
        ("update", "edited", False),
        ("update", "key", False),
        ("create", "another-role", False),
        ("create", "new-role", False),
    ]


# --- found by mutation testing (scripts/mutation.py --only diff-resources) ---------------------------

TABLE = "gcp:bigquery/table:Table"


def test_resources_of_different_types_with_one_name_are_not_confused():
    base = _plan(_res(BUCKET, "data", bucket="b"), _res(ROLE, "data", name="r"))
    head = _plan(_res(BUCKET, "data", bucket="b", tags={"a": "1"}), _res(ROLE, "data", name="r"))
    assert [(rc.op, rc.type, [c.path for c in rc.changes]) for rc in resource_changes(base, head)] == [
        ("update", BUCKET, ["tags"])
    ]
    # Two URNs that are not Pulumi's, ending alike, are two resources.
    odd = [{**_res(ROLE, name, name="r"), "urn": f"{name}::role"} for name in ("a", "b")]
    assert [rc.urn for rc in resource_changes(_plan(*odd), _plan())] == ["a::role", "b::role"]


def test_a_bigquery_table_is_replaced_for_its_catalog_inputs_too():
    base = _plan(_res(TABLE, "features", tableId="a", schema='[{"name": "x", "type": "STRING"}]'))
    head = _plan(_res(TABLE, "features", tableId="b", schema='[{"name": "x", "type": "STRING"}]'))
    [rc] = resource_changes(base, head)
    assert (rc.op, rc.reasons) == (
        "replace",
        ["replaces a BigQuery table (`tableId` cannot change in place): its data is lost"],
    )


def test_a_schema_given_to_a_table_that_had_none():
    base = _plan(_res(TABLE, "features", tableId="a"))
    required = _plan(
        _res(TABLE, "features", tableId="a", schema='[{"name": "x", "type": "STRING", "mode": "REQUIRED"}]')
    )
    nullable = _plan(_res(TABLE, "features", tableId="a", schema='[{"name": "x", "type": "STRING"}]'))
    assert [rc.op for rc in resource_changes(base, required)] == ["replace"]
    assert [rc.op for rc in resource_changes(base, nullable)] == ["update"]
    # Taken away: every column is dropped.
    assert [rc.op for rc in resource_changes(nullable, base)] == ["replace"]


def test_an_ignored_property_does_not_hide_the_changes_after_it():
    base = _plan(_res(ROLE, "role", assumeRolePolicy="a", tags={"t": "1"}))
    head = _plan({**_res(ROLE, "role", assumeRolePolicy="b", tags={"t": "2"}), "ignore_changes": ["assumeRolePolicy"]})
    [rc] = resource_changes(base, head)
    assert [(c.path, c.old, c.new) for c in rc.changes] == [("tags.t", "1", "2")]


def test_an_unchanged_resource_does_not_hide_the_ones_after_it():
    base = _plan(_res(BUCKET, "a-same", bucket="s"), _res(ROLE, "z-role", name="r", tags={"t": "1"}))
    head = _plan(_res(BUCKET, "a-same", bucket="s"), _res(ROLE, "z-role", name="r", tags={"t": "2"}))
    assert [(rc.op, rc.name) for rc in resource_changes(base, head)] == [("update", "z-role")]


def test_an_object_holding_a_secret_is_hidden_whole_when_it_appears_or_goes():
    base = _plan(_res(ROLE, "role", name="r"))
    head = _plan(_res(ROLE, "role", name="r", settings={"token": "abc", "n": 1}))
    [change] = resource_changes(base, head)[0].changes
    assert (change.path, change.old, change.new, change.secret) == ("settings", MISSING, "[secret]", True)
    [change] = resource_changes(head, base)[0].changes
    assert (change.path, change.old, change.new, change.secret) == ("settings", "[secret]", MISSING, True)
