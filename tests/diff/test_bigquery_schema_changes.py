"""Every kind of BigQuery schema change, and whether `mlops diff` calls it a replace (issue 16).

The expected column is the provider's rule, written out here: pulumi-gcp wraps
terraform-provider-google, whose `resourceBigQueryTableSchemaIsChangeable` forces a new table when
a column is dropped, renamed or retyped, when a REQUIRED column is added, and, through
`bigQueryTableModeIsForceNew`, on any change of mode except REQUIRED -> NULLABLE (an omitted mode
is NULLABLE). BigQuery "Modifying table schemas" (https://cloud.google.com/bigquery/docs/managing-table-schemas)
says the same from the API's side. A replaced table loses its rows: the diff must say so.
"""

from __future__ import annotations

import json

import pytest

from infra.diff import diff_plans

BEFORE = [
    {"name": "customer_id", "type": "STRING", "mode": "REQUIRED"},
    {"name": "tenure_months", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "plan", "type": "STRING"},  # mode omitted: NULLABLE
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
]


def _with(name: str, **changes: str | None) -> list[dict[str, str]]:
    out = []
    for column in BEFORE:
        column = dict(column)
        if column["name"] == name:
            for key, value in changes.items():
                if value is None:
                    column.pop(key, None)
                else:
                    column[key] = value
        out.append(column)
    return out


def _plan(schema: list[dict[str, str]]) -> dict:
    table = {
        "urn": "urn:pulumi:s::mlops::gcp:bigquery/table:Table::features",
        "type": "gcp:bigquery/table:Table",
        "name": "features",
        "parent": None,
        "custom": True,
        "protect": False,
        "inputs": {"tableId": "customer_profile", "schema": json.dumps(schema)},
    }
    return {"stack": "s", "cloud": "gcp", "resources": [table], "outputs": {}, "platform": {}}


CASES = [
    # (what, schema after, replaces)
    ("NULLABLE column tightened to REQUIRED", _with("tenure_months", mode="REQUIRED"), True),
    ("omitted mode (NULLABLE) tightened to REQUIRED", _with("plan", mode="REQUIRED"), True),
    ("REQUIRED relaxed to NULLABLE", _with("customer_id", mode="NULLABLE"), False),
    ("REQUIRED relaxed by omitting the mode", _with("customer_id", mode=None), False),
    ("NULLABLE spelled out where it was omitted", _with("plan", mode="NULLABLE"), False),
    ("lower-case mode, same mode", _with("tenure_months", mode="nullable"), False),
    ("REPEATED made NULLABLE", _with("tags", mode="NULLABLE"), True),
    ("NULLABLE made REPEATED", _with("tenure_months", mode="REPEATED"), True),
    ("REQUIRED made REPEATED", _with("customer_id", mode="REPEATED"), True),
    ("type changed", _with("tenure_months", type="FLOAT"), True),
    ("column dropped", BEFORE[:-1], True),
    ("NULLABLE column added", [*BEFORE, {"name": "region", "type": "STRING", "mode": "NULLABLE"}], False),
    ("column added, mode omitted", [*BEFORE, {"name": "region", "type": "STRING"}], False),
    ("REPEATED column added", [*BEFORE, {"name": "flags", "type": "STRING", "mode": "REPEATED"}], False),
    ("REQUIRED column added", [*BEFORE, {"name": "region", "type": "STRING", "mode": "REQUIRED"}], True),
    ("description added", _with("plan", description="the plan the customer is on"), False),
]


@pytest.mark.parametrize(("after", "replaces"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_schema_change_is_a_replace_exactly_when_the_provider_replaces(after, replaces):
    result = diff_plans(_plan(BEFORE), _plan(after))
    (table,) = result.resources
    assert table.op == ("replace" if replaces else "update")
    assert table.changes
    assert {c.replaces for c in table.changes} == {replaces}, [c.path for c in table.changes]
    # a replaced table loses its rows: the feature table is data-bearing, so the diff says so
    assert bool(table.dangerous) is replaces
