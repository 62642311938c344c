"""What the kit's tools know about GCP without importing any Google SDK: plain data only.

Read through `providers.registry`: by `mlops diff`, `mlops stack new` and the extra check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

EXTRA = "gcp"
REQUIRED_MODULES = ("pulumi_gcp", "google.cloud.aiplatform", "kfp")
CONFIG_KEYS = {"project": "gcp:project", "region": "gcp:region"}
OPTIONAL_CONFIG_KEYS: dict[str, str] = {}
EXAMPLE_CONFIG = {"gcp:project": "my-ml-project", "gcp:region": "europe-west4"}
"""Valid stand-ins for the provider keys: `mlops stack new` checks the cloud's rules with them
while the real values are still to be filled in."""
REGION_KEY = "gcp:region"

DATA_BEARING: dict[str, str] = {
    "gcp:storage/bucket:Bucket": "bucket",
    "gcp:kms/keyRing:KeyRing": "key ring",
    "gcp:kms/cryptoKey:CryptoKey": "encryption key",
    "gcp:bigquery/dataset:Dataset": "BigQuery dataset",
    "gcp:bigquery/table:Table": "BigQuery table",
    "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore": "online feature store",
    "gcp:vertex/aiFeatureGroup:AiFeatureGroup": "feature group",
    "gcp:vertex/aiFeatureGroupFeature:AiFeatureGroupFeature": "feature",
    "gcp:vertex/aiFeatureOnlineStoreFeatureview:AiFeatureOnlineStoreFeatureview": "feature view",
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": "log bucket",
}

REPLACE_ON_CHANGE: dict[str, tuple[str, ...]] = {
    "gcp:storage/bucket:Bucket": ("name", "location", "project"),
    "gcp:kms/keyRing:KeyRing": ("name", "location", "project"),
    "gcp:kms/cryptoKey:CryptoKey": ("name", "keyRing", "purpose", "importOnly", "skipInitialVersionCreation"),
    "gcp:bigquery/dataset:Dataset": ("datasetId", "location", "project"),
    "gcp:bigquery/table:Table": ("tableId", "datasetId", "project"),
    "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore": ("name", "region", "project"),
    "gcp:vertex/aiFeatureGroup:AiFeatureGroup": ("name", "region", "project"),
    "gcp:vertex/aiFeatureGroupFeature:AiFeatureGroupFeature": ("name", "featureGroup", "region", "project"),
    "gcp:vertex/aiFeatureOnlineStoreFeatureview:AiFeatureOnlineStoreFeatureview": (
        "name",
        "featureOnlineStore",
        "region",
        "project",
    ),
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": ("bucketId", "location", "project"),
    # Not data-bearing: listed so the diff says "replace" where it is one.
    "gcp:serviceaccount/account:Account": ("accountId", "project"),
    "gcp:vertex/aiEndpoint:AiEndpoint": ("name", "location", "region", "project", "encryptionSpec"),
}


def _bigquery_mode(column: dict[str, Any]) -> str:
    return str(column.get("mode") or "NULLABLE").upper()


def _bigquery_schema_replaces(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """BigQuery changes a table's schema in place only by adding NULLABLE or REPEATED columns, or
    relaxing REQUIRED to NULLABLE; the provider replaces the table, and drops its rows, for anything
    else: a column dropped, its type changed, any other change of mode, a REQUIRED column added
    (terraform-provider-google, which pulumi-gcp wraps: `resourceBigQueryTableSchemaIsChangeable`
    and `bigQueryTableModeIsForceNew` in resource_bigquery_table.go; BigQuery "Modifying table
    schemas", https://cloud.google.com/bigquery/docs/managing-table-schemas)."""
    try:
        before = {c["name"]: c for c in json.loads(old.get("schema") or "[]")}
        after = {c["name"]: c for c in json.loads(new.get("schema") or "[]")}
    except (TypeError, ValueError):
        return []
    if any(_bigquery_mode(c) == "REQUIRED" for name, c in after.items() if name not in before):
        return ["schema"]
    for name, column in before.items():
        kept = after.get(name)
        if kept is None or kept.get("type") != column.get("type"):
            return ["schema"]
        was, now = _bigquery_mode(column), _bigquery_mode(kept)
        if was != now and (was, now) != ("REQUIRED", "NULLABLE"):
            return ["schema"]
    return []


# Replacements that depend on how a property changes, not only on whether it does: Pulumi type ->
# f(old inputs, new inputs) -> the top-level inputs whose change replaces the resource.
REPLACE_WHEN: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[str]]] = {
    "gcp:bigquery/table:Table": _bigquery_schema_replaces,
}
