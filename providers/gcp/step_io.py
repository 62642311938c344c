"""The step I/O of a run on Vertex AI Pipelines, shipped as `mlops_io.py` in the GCP code bundle.

The kit's steps (`mlops_store_features.py`, `mlops_training_data.py`, `mlops_drift.py`) call only
these four functions, so the step code is the one every cloud runs. Configured by `$MLOPS_IO`, the
JSON the GCP pipeline definition compiles onto each kit step (`providers/gcp/pipeline_definition.py`):

    {"kind": "gcp", "project": P, "location": R, "platform": "<name>-<env>",
     "features": {group: {"table": "P.D.T", "schema": [BigQuery fields], "entity": E,
                          "event_time": T}},
     "written_at": "mlops_written_at",
     "capture": "P.D.request_response_logging",
     "drift_log": "mlops-drift"}

- `write_features(group, frame)`: one BigQuery load job APPENDING the rows to the group's table
  (never its `<group>_vertex_source` view, which only Vertex AI Feature Store reads), each row
  stamped with the write time in `written_at`. `CREATE_NEVER`: the table is the one Pulumi declared
  (under the platform's key); a missing table fails the step instead of creating an unmanaged one.
- `read_features(group)`: every (entity, event time) the table holds, the LAST write of each
  (largest `written_at`): the same rows the view serves Feature Store.
- `read_captured(since, until)`: the requests the endpoint's request-response logging wrote to
  BigQuery (`logging_time` in [since, until)), each `request_payload` decoded from its JSON body
  `{"instances": [...]}` into exactly the request columns. A request whose records are not exactly
  the request columns was refused by the serving container (400), never scored, and is skipped.
- `publish_drift(result)`: the drift result as Cloud Logging entries in `logs/<drift_log>`, under
  the fixed monitored resource `global` (project_id): one entry per request column (`kind:
  "feature"`, its statistic's value and whether it drifted) and one per run (`kind: "check"`, also
  for a skipped window). The platform's log sink routes them to its CMEK log bucket; the log-based
  metrics the alert policies read count them (`providers/gcp/retraining_trigger.py`).

Needs google-cloud-bigquery and google-cloud-logging (pinned in `step_requirements.txt`, installed
by the step prologue), pandas, and the kit's `mlops_schema` (next to this file in the bundle). An
`http://` endpoint in `$MLOPS_IO` (`bigquery_endpoint`, `logging_endpoint`) is only ever a local
fake (tests): it gets anonymous credentials.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any

import pandas as pd

UTC = timezone.utc  # noqa: UP017 - runs in the step image, whose Python may predate datetime.UTC
KIND = "gcp"
WRITTEN_AT = "mlops_written_at"


def config() -> dict[str, Any]:
    raw = os.environ.get("MLOPS_IO") or ""
    if not raw:
        raise RuntimeError("$MLOPS_IO is not set: the GCP pipeline definition sets it on every kit step")
    found = json.loads(raw)
    if found.get("kind") != KIND:
        raise RuntimeError(f"this is the GCP step I/O; $MLOPS_IO asks for {found.get('kind')!r}")
    return found


def _contract() -> dict[str, Any]:
    from mlops_schema import load_contract

    return load_contract()


def _credentials(endpoint: str | None) -> dict[str, Any]:
    if endpoint and endpoint.startswith("http://"):
        from google.auth.credentials import AnonymousCredentials

        return {"credentials": AnonymousCredentials(), "client_options": {"api_endpoint": endpoint}}
    return {"client_options": {"api_endpoint": endpoint}} if endpoint else {}


def bigquery_client(conf: dict[str, Any]):
    from google.cloud import bigquery

    return bigquery.Client(
        project=conf["project"], location=conf["location"], **_credentials(conf.get("bigquery_endpoint"))
    )


def logging_client(conf: dict[str, Any]):
    from google.cloud import logging as cloud_logging

    return cloud_logging.Client(project=conf["project"], _use_grpc=False, **_credentials(conf.get("logging_endpoint")))


def _group(conf: dict[str, Any], group: str) -> dict[str, Any]:
    try:
        return conf["features"][group]
    except KeyError:
        known = ", ".join(sorted(conf.get("features", {}))) or "none"
        raise KeyError(f"$MLOPS_IO names no BigQuery table for feature group {group!r} (known: {known})") from None


# ---- the feature store -----------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    """A frame value as BigQuery's JSON load takes it (timestamps as RFC 3339 in UTC)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def write_features(group: str, frame: pd.DataFrame) -> str:
    """Append `frame` (entity, event time, the group's features, typed by the contract) to the
    group's BigQuery table in one load job; returns the table."""
    from google.cloud import bigquery

    conf = config()
    spec = _group(conf, group)
    written = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    columns = [field["name"] for field in spec["schema"]]
    missing = [c for c in frame.columns if c not in columns]
    if missing:
        raise KeyError(f"table {spec['table']} has no column {missing[0]!r} (its columns: {', '.join(columns)})")
    rows = [
        {**{k: _json_value(v) for k, v in record.items()}, WRITTEN_AT: written}
        for record in frame.to_dict(orient="records")
    ]
    job_config = bigquery.LoadJobConfig(
        schema=[bigquery.SchemaField.from_api_repr(field) for field in spec["schema"]],
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
        create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
        autodetect=False,
    )
    client = bigquery_client(conf)
    client.load_table_from_json(rows, spec["table"], job_config=job_config).result()
    return f"bq://{spec['table']}"


def latest_rows_query(table: str, entity: str, event_time: str, columns: list[str]) -> str:
    """The last write of every (entity, event time) of `table`: what training reads, and what the
    feature group's view hands Vertex AI Feature Store."""
    selected = ", ".join(f"`{c}`" for c in columns)
    return (
        f"SELECT {selected} FROM (SELECT {selected}, ROW_NUMBER() OVER (PARTITION BY `{entity}`, `{event_time}` "
        f"ORDER BY `{WRITTEN_AT}` DESC) AS mlops_rank FROM `{table}`) WHERE mlops_rank = 1"
    )


def _text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def read_features(group: str) -> pd.DataFrame:
    """Every row the group's table holds, the last write winning per (entity, event time), typed
    by the contract."""
    from mlops_schema import coerce, feature_columns

    conf = config()
    spec = _group(conf, group)
    columns = feature_columns(_contract(), group)
    names = [c["name"] for c in columns]
    query = latest_rows_query(spec["table"], spec["entity"], spec["event_time"], names)
    rows = bigquery_client(conf).query_and_wait(query)
    records = [{name: _text(row[name]) for name in names} for row in rows]
    if not records:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in names})
    raw = pd.DataFrame(records, columns=names)
    return coerce(raw, columns, where=f"table {spec['table']}")


# ---- captured requests ------------------------------------------------------------------------------


def decode_payload(payload: str, names: list[str]) -> list[dict[str, Any]] | None:
    """The records of one logged request body, or None when serving refused it (not exactly the
    request columns in every record, or not a `{"instances": [...]}` body)."""
    try:
        body = json.loads(payload)
    except (TypeError, ValueError):
        return None
    instances = body.get("instances") if isinstance(body, dict) else None
    if not isinstance(instances, list) or not instances:
        return None
    wanted = set(names)
    if not all(isinstance(r, dict) and set(r) == wanted for r in instances):
        return None
    return [{name: record[name] for name in names} for record in instances]


def read_captured(since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
    """The request records the endpoint logged with `logging_time` in [since, until), as a frame of
    exactly the request columns (in contract order)."""
    from google.cloud import bigquery

    conf = config()
    names = [c["name"] for c in _contract()["request"]]
    where, params = [], []
    if since is not None:
        where.append("logging_time >= @since")
        params.append(bigquery.ScalarQueryParameter("since", "TIMESTAMP", _utc(since)))
    if until is not None:
        where.append("logging_time < @until")
        params.append(bigquery.ScalarQueryParameter("until", "TIMESTAMP", _utc(until)))
    query = f"SELECT request_payload FROM `{conf['capture']}`" + (f" WHERE {' AND '.join(where)}" if where else "")
    job_config = bigquery.QueryJobConfig(query_parameters=params)
    records: list[dict[str, Any]] = []
    for row in bigquery_client(conf).query_and_wait(query, job_config=job_config):
        payloads = row["request_payload"]
        for payload in payloads if isinstance(payloads, list) else [payloads]:
            decoded = decode_payload(payload, names)
            if decoded is not None:
                records.extend(decoded)
    return pd.DataFrame(records, columns=names)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# ---- drift results ----------------------------------------------------------------------------------


def drift_entries(result: dict[str, Any], platform: str) -> list[dict[str, Any]]:
    """The log entries' JSON payloads for one drift result: one per request column (when the window
    was judged) and one for the run."""
    window = result.get("window") or {}
    common = {"mlops_platform": platform, "threshold": result.get("threshold"), "window_until": window.get("until")}
    entries = [
        {
            **common,
            "kind": "feature",
            "feature": name,
            "statistic": feature["statistic"],
            "value": float(feature["value"]),
            "drifted": bool(feature["drifted"]),
        }
        for name, feature in (result.get("features") or {}).items()
    ]
    check = {
        **common,
        "kind": "check",
        "status": result.get("status"),
        "reason": result.get("reason", ""),
        "drifted": bool(result.get("drifted")),
        "max": result.get("max"),
        "n_current": result.get("n_current"),
        "n_baseline": result.get("n_baseline"),
        "min_samples": result.get("min_samples"),
        "window_since": window.get("since"),
        "features": {name: float(f["value"]) for name, f in (result.get("features") or {}).items()},
    }
    return [*entries, check]


def publish_drift(result: dict[str, Any]) -> str:
    """Write the result's entries in one `entries.write` call, under the fixed monitored resource
    `global`: every run is one series of the log-based metrics, whichever VM ran it."""
    from google.cloud.logging import Resource

    conf = config()
    resource = Resource(type="global", labels={"project_id": conf["project"]})
    logger = logging_client(conf).logger(conf["drift_log"])
    batch = logger.batch()
    for entry in drift_entries(result, conf["platform"]):
        severity = "WARNING" if entry.get("drifted") else "INFO"
        batch.log_struct(entry, resource=resource, severity=severity)
    batch.commit()
    return f"projects/{conf['project']}/logs/{conf['drift_log']}"
