"""The step I/O of a SageMaker run, shipped as `mlops_io.py` in the AWS code bundle.

The AWS counterpart of `pipelines/kit/io_local.py`: the same four functions, which the kit's steps
(`mlops_store_features.py`, `mlops_training_data.py`, `mlops_drift.py`) call inside SageMaker
containers. It needs only what the step image and the bundle's requirements give it: boto3,
pandas, pyarrow, and the kit's own `mlops_schema` / `mlops_serve` next to it. Configured by
`$MLOPS_IO` (JSON, written by `providers/aws/pipeline_definition.py` and `model_monitor.py`)::

    {"kind": "aws", "region": "eu-west-1",
     "groups": {"<group>": {"name": "<feature group name>", "online": false,
                            "offline": "s3://<bucket>/feature-store/<account>/sagemaker/<region>/offline-store/<name>-<time>/data"}},
     "receipts": "s3://<bucket>/feature-store-receipts",
     "capture": "s3://<bucket>/data-capture/<endpoint>/<variant>",
     "metrics": {"namespace": "mlops/<prefix>", "endpoint": "<endpoint>"}}

- `write_features(group, frame)`: `PutRecord` (featurestore-runtime) per row; an offline-only group
  writes with `TargetStores=["OfflineStore"]`. Feature Store buffers the records and writes them to
  the offline store's S3 prefix "within 15 minutes" ("Amazon SageMaker Feature Store offline store
  data format", https://docs.aws.amazon.com/sagemaker/latest/dg/feature-store-offline.html), so a
  receipt (the written (entity, event time) keys) goes to `receipts/<group>/`.
- `read_features(group)`: waits until every receipt's records are in the offline store, then reads
  every Parquet file under the group's resolved offline prefix (Glue table format); where an
  (entity, event time) pair was written more than once, the last write wins (the latest
  `api_invocation_time`, then `write_time`: the columns Feature Store adds to every offline
  record); a last write that is a deletion (`is_deleted`) removes the pair.
- `read_captured(since, until)`: the endpoint's data-capture files of the hours in the window, and of
  the hour before it and the hour its end falls in (`<capture>/yyyy/mm/dd/hh/*.jsonl`,
  "Capture data from real-time endpoint",
  https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html, which
  does not say whether `hh` is the records' hour or the file's: capture buffers before it writes),
  each line's `captureData.endpointInput` decoded (CSV, JSON or BASE64) by the kit's serving code into
  the request columns; records serving would refuse are left out; the window is the line's
  `eventMetadata.inferenceTime` in [since, until). Each line is read on its own; one that cannot be
  read (not UTF-8, not JSON, a body that is not UTF-8 text, no `inferenceTime`) is skipped and
  counted for the window it belongs to, never the end of the check.
- `publish_drift(result)`: `cloudwatch:PutMetricData` in the namespace the alarms watch:
  `drift_checks` = 1, `captured_requests` and `unreadable_requests` for every check (the heartbeat:
  a check that stops running is missing data, which the heartbeat alarm treats as breaching), and
  `feature_drift` per request column (dimension `Feature`) when the window was judged (not when it
  was skipped).
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

UTC = timezone.utc  # noqa: UP017 (datetime.UTC is Python 3.11+; the xgboost 1.7-1 image runs 3.9)

KIND = "aws"
OFFLINE_COLUMNS = ("api_invocation_time", "write_time", "is_deleted")
"""What Feature Store adds to every record of the offline store (the offline store data format page)."""
LANDING_TIMEOUT_SECONDS = 30 * 60
"""Feature Store writes to the offline store within 15 minutes; twice that before giving up."""
POLL_SECONDS = 30
CLOCK_SKEW = timedelta(minutes=5)
"""A receipt's records count as landed when written at most this long before the receipt's start."""
PUT_WORKERS = 8
METRIC_BATCH = 1000
"""PutMetricData takes at most 1,000 metrics per call (CloudWatch API Reference, PutMetricData)."""
DRIFT_METRIC, HEARTBEAT_METRIC, REQUESTS_METRIC = "feature_drift", "drift_checks", "captured_requests"
UNREADABLE_METRIC = "unreadable_requests"
_unreadable = [0]
"""Capture lines the last `read_captured` could not read (published with the check's metrics)."""
ENDPOINT_DIMENSION, FEATURE_DIMENSION = "Endpoint", "Feature"


class NotLanded(TimeoutError):
    """Records written to the feature store are not in its offline store after the timeout."""


# ---- configuration and clients ---------------------------------------------------------------
def config() -> dict[str, Any]:
    """`$MLOPS_IO`, or the JSON file it names (`{"kind": "aws", "file": PATH}`: what a step whose
    configuration is longer than an environment value may hold gets)."""
    raw = json.loads(os.environ.get("MLOPS_IO") or "{}")
    if raw.get("kind") == KIND and "file" in raw:
        with open(raw["file"], encoding="utf-8") as handle:
            raw = {**json.load(handle), "kind": KIND}
    if raw.get("kind") != KIND:
        raise RuntimeError(f"this is the AWS step I/O; $MLOPS_IO asks for {raw.get('kind')!r}")
    return raw


def client(service: str) -> Any:
    """A boto3 client in the configured region, retrying throttles (tests replace this)."""
    import boto3
    from botocore.config import Config

    retries = Config(retries={"mode": "standard", "max_attempts": 10})
    return boto3.client(service, region_name=config().get("region"), config=retries)


def _contract() -> dict[str, Any]:
    from mlops_schema import load_contract

    return load_contract()


def _split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key.rstrip("/")


def _objects(s3: Any, uri: str, suffix: str = "") -> Iterator[str]:
    """Keys under an s3:// prefix (every page), ending in `suffix`."""
    bucket, prefix = _split(uri)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else "")
    for page in pages:
        for item in page.get("Contents") or []:
            if item["Key"].endswith(suffix):
                yield item["Key"]


def _group(group: str) -> dict[str, Any]:
    groups = config().get("groups") or {}
    if group not in groups:
        raise KeyError(f"$MLOPS_IO names no feature group {group!r} (it names {', '.join(groups) or 'none'})")
    return groups[group]


# ---- feature store: write ----------------------------------------------------------------------
def as_feature_value(value: Any, kind: str) -> str:
    """A typed value as Feature Store's `ValueAsString`: ints and floats as numbers, bools as 1/0
    (an Integral feature), timestamps as `yyyy-MM-ddTHH:mm:ssZ` / `...ss.SSSZ` in UTC (the formats
    SageMaker accepts for a String event time: botocore's CreateFeatureGroup EventTimeFeatureName)."""
    if kind == "timestamp":
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        if stamp.microsecond or stamp.nanosecond:
            return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
        return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "bool":
        return "1" if bool(value) else "0"
    if kind == "int":
        return str(int(value))
    if kind == "float":
        return repr(float(value))
    return str(value)


def records(frame: pd.DataFrame, columns: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    """Each row as a PutRecord `Record` of the named, typed columns (a missing value is left out)."""
    out = []
    for row in frame[[c["name"] for c in columns]].itertuples(index=False, name=None):
        out.append(
            [
                {"FeatureName": c["name"], "ValueAsString": as_feature_value(v, c["type"])}
                for c, v in zip(columns, row)  # noqa: B905 (strict= is 3.10+)
                if not pd.isna(v)
            ]
        )
    return out


def write_features(group: str, frame: pd.DataFrame) -> str:
    from mlops_schema import feature_columns

    contract, settings = _contract(), _group(group)
    columns = feature_columns(contract, group)
    started = datetime.now(UTC)
    batch = records(frame, columns)
    store = client("sagemaker-featurestore-runtime")
    targets = {} if settings.get("online") else {"TargetStores": ["OfflineStore"]}

    def put(record: list[dict[str, str]]) -> None:
        store.put_record(FeatureGroupName=settings["name"], Record=record, **targets)

    with ThreadPoolExecutor(max_workers=PUT_WORKERS) as pool:
        list(pool.map(put, batch))
    keys = [
        [str(e), as_feature_value(t, "timestamp")]
        for e, t in zip(frame[columns[0]["name"]], frame[columns[1]["name"]])  # noqa: B905 (strict= is 3.10+)
    ]
    receipt = {"group": group, "feature_group": settings["name"], "started": started.isoformat(), "keys": keys}
    bucket, prefix = _split(config()["receipts"])
    key = f"{prefix}/{group}/{started.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.json"
    client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(receipt).encode(), ContentType="application/json")
    return f"feature group {settings['name']}: {len(batch)} records (offline store {settings['offline']})"


# ---- feature store: read -----------------------------------------------------------------------
def offline_rows(group: str) -> pd.DataFrame:
    """Every record of the group's offline store, as written (Parquet under the resolved prefix)."""
    import pyarrow.parquet as pq

    s3 = client("s3")
    offline = _group(group)["offline"]
    bucket, _ = _split(offline)
    frames = []
    for key in _objects(s3, offline, ".parquet"):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        frames.append(pq.read_table(io.BytesIO(body)).to_pandas())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _keys(frame: pd.DataFrame, entity: str, event_time: str) -> set[tuple[str, pd.Timestamp]]:
    if frame.empty:
        return set()
    times = pd.to_datetime(frame[event_time], utc=True, format="ISO8601")
    return set(zip(frame[entity].astype(str), times))  # noqa: B905 (strict= is 3.10+)


def _receipts(group: str) -> list[tuple[str, dict[str, Any]]]:
    s3 = client("s3")
    base = f"{config()['receipts'].rstrip('/')}/{group}"
    bucket, _ = _split(base)
    return [
        (key, json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) for key in _objects(s3, base, ".json")
    ]


def await_landed(group: str) -> None:
    """Wait until every receipt of `group` has all its records in the offline store, then drop the
    receipts (a later read need not wait for them again)."""
    contract = _contract()
    entity, event_time = contract["entity"], contract["event_time"]
    settings = config()
    timeout = float(settings.get("landing_timeout_seconds", LANDING_TIMEOUT_SECONDS))
    poll = float(settings.get("poll_seconds", POLL_SECONDS))
    deadline = time.monotonic() + timeout
    pending = _receipts(group)
    while pending:
        rows = offline_rows(group)
        still: list[tuple[str, dict[str, Any]]] = []
        for key, receipt in pending:
            since = datetime.fromisoformat(receipt["started"]) - CLOCK_SKEW
            landed = rows
            if not rows.empty and "api_invocation_time" in rows:
                landed = rows[pd.to_datetime(rows["api_invocation_time"], utc=True) >= since]
            wanted = {(str(e), pd.Timestamp(t)) for e, t in receipt["keys"]}
            missing = wanted - _keys(landed, entity, event_time)
            if missing:
                still.append((key, {**receipt, "missing": len(missing)}))
            else:
                bucket, _ = _split(settings["receipts"])
                client("s3").delete_object(Bucket=bucket, Key=key)
        pending = still
        if not pending:
            return
        if time.monotonic() >= deadline:
            counts = ", ".join(f"{r['missing']} of {len(r['keys'])} written at {r['started']}" for _, r in pending)
            raise NotLanded(
                f"feature group {_group(group)['name']}: records not in the offline store after {timeout:.0f} s "
                f"({counts}); Feature Store writes them within 15 minutes, so look at its ingestion (the "
                "execution role's S3 and KMS rights on the offline store)"
            )
        time.sleep(poll)


def read_features(group: str) -> pd.DataFrame:
    from mlops_schema import coerce, feature_columns

    contract = _contract()
    columns = feature_columns(contract, group)
    await_landed(group)
    rows = offline_rows(group)
    if rows.empty:
        return pd.DataFrame({c["name"]: pd.Series(dtype=object) for c in columns})
    order = [c for c in ("api_invocation_time", "write_time") if c in rows]
    for name in order:
        rows[name] = pd.to_datetime(rows[name], utc=True)
    typed = coerce(rows, columns, where=f"offline store of {group!r}")
    for name in (*order, "is_deleted"):
        if name in rows:
            typed[name] = rows[name]
    keys = [contract["entity"], contract["event_time"]]
    latest = typed.sort_values(order, kind="stable") if order else typed
    latest = latest.drop_duplicates(keys, keep="last")
    if "is_deleted" in latest:
        latest = latest[~latest["is_deleted"].astype(str).str.lower().isin({"true", "1"})]
    return latest[[c["name"] for c in columns]].reset_index(drop=True)


# ---- data capture ------------------------------------------------------------------------------
def _hours(since: datetime, until: datetime) -> Iterable[datetime]:
    """The capture folders a window reads: the hour before `since` to the hour `until` falls in. A
    record may sit in the folder of the hour its file was written; the `inferenceTime` filter keeps
    the extra folders' other records out."""
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    while hour <= until:
        yield hour
        hour += timedelta(hours=1)


def capture_body(endpoint_input: dict[str, Any]) -> tuple[str, str]:
    """(content type, text) of a captured `endpointInput`: its `data` in `encoding` CSV, JSON or
    BASE64 (the base64 of the request's bytes, for a content type not declared as CSV or JSON)."""
    data = endpoint_input.get("data") or ""
    if str(endpoint_input.get("encoding", "")).upper() == "BASE64":
        data = base64.b64decode(data).decode("utf-8")
    return str(endpoint_input.get("observedContentType") or "application/json"), data


def inference_time(entry: dict[str, Any]) -> datetime:
    """A data-capture record's `eventMetadata.inferenceTime` (`...Z`, optionally with milliseconds)."""
    return datetime.fromisoformat(entry["eventMetadata"]["inferenceTime"].replace("Z", "+00:00"))


def decode_capture_line(line: str, loaded: dict[str, Any]) -> tuple[datetime, pd.DataFrame]:
    """(inference time, request rows) of one data-capture JSON line; `ServingError` when serving
    would have refused the request."""
    from mlops_serve import decode

    entry = json.loads(line)
    content_type, text = capture_body(entry["captureData"]["endpointInput"])
    return inference_time(entry), decode(loaded, text, content_type)


UNREADABLE = (ValueError, KeyError)
"""What a capture line the check cannot read raises: not JSON (`json.JSONDecodeError`), not UTF-8
(`UnicodeDecodeError`), bad base64 (`binascii.Error`), a bad time (all `ValueError`), a missing
field (`KeyError`). Anything else (a `TypeError` from the kit's own code) fails the check loudly."""


def read_captured(since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
    """The window's captured requests (module docstring). Each line is read on its own: its bytes
    decoded, its time parsed, and only a line inside the window has its body decoded; a line that
    cannot be read is counted (in `unreadable_requests`) when it belongs to this window: its time is
    inside it, or it has none and sits in one of the window's own hour folders (the neighbouring
    folders are read by the neighbouring windows too, which count their own)."""
    from mlops_serve import ServingError, decode

    contract = _contract()
    request = contract["request"]
    loaded = {"model": None, "schema": {"request": request, "task": contract.get("task", "classification")}}
    base = config()["capture"].rstrip("/")
    s3 = client("s3")
    bucket, _ = _split(base)
    until = until or datetime.now(UTC)
    if since is None:
        prefixes = [(base, True)]
    else:
        prefixes = [(f"{base}/{h:%Y/%m/%d/%H}", since <= h < until) for h in _hours(since, until)]
    frames, refused, unreadable = [], 0, 0
    for prefix, own in prefixes:
        for key in _objects(s3, prefix, ".jsonl"):
            for raw in s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines():
                if not raw.strip():
                    continue
                try:
                    entry = json.loads(raw.decode("utf-8"))
                    at = inference_time(entry)
                except UNREADABLE:
                    unreadable += own
                    continue
                if (since is not None and at < since) or at >= until:
                    continue
                try:
                    content_type, text = capture_body(entry["captureData"]["endpointInput"])
                    frames.append(decode(loaded, text, content_type))
                except ServingError:
                    refused += 1
                except UNREADABLE:
                    unreadable += 1
    if refused:
        print(f"mlops_io: {refused} captured request(s) off the request schema left out", file=sys.stderr)
    if unreadable:
        print(f"mlops_io: {unreadable} capture line(s) that could not be read skipped", file=sys.stderr)
    _unreadable[0] = unreadable
    names = [c["name"] for c in request]
    if not frames:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in names})
    return pd.concat(frames, ignore_index=True)[names]


# ---- drift metrics -----------------------------------------------------------------------------
def metric_data(result: dict[str, Any], endpoint: str, at: datetime) -> list[dict[str, Any]]:
    """The datums one drift result publishes (see the module docstring)."""
    where = [{"Name": ENDPOINT_DIMENSION, "Value": endpoint}]
    data = [
        {"MetricName": HEARTBEAT_METRIC, "Dimensions": where, "Timestamp": at, "Value": 1.0, "Unit": "Count"},
        {
            "MetricName": REQUESTS_METRIC,
            "Dimensions": where,
            "Timestamp": at,
            "Value": float(result.get("n_current") or 0),
            "Unit": "Count",
        },
        {
            "MetricName": UNREADABLE_METRIC,
            "Dimensions": where,
            "Timestamp": at,
            "Value": float(_unreadable[0]),
            "Unit": "Count",
        },
    ]
    if result.get("status") == "ok":
        for name, feature in result["features"].items():
            data.append(
                {
                    "MetricName": DRIFT_METRIC,
                    "Dimensions": [*where, {"Name": FEATURE_DIMENSION, "Value": name}],
                    "Timestamp": at,
                    "Value": float(feature["value"]),
                    "Unit": "None",
                }
            )
    return data


def publish_drift(result: dict[str, Any]) -> str:
    metrics = config()["metrics"]
    data = metric_data(result, metrics["endpoint"], datetime.now(UTC))
    cloudwatch = client("cloudwatch")
    for start in range(0, len(data), METRIC_BATCH):
        cloudwatch.put_metric_data(Namespace=metrics["namespace"], MetricData=data[start : start + METRIC_BATCH])
    return f"cloudwatch:{metrics['namespace']} ({len(data)} metrics)"
