"""The step I/O of a run on Azure ML, shipped as `mlops_io.py` in the Azure code bundle.

Runs INSIDE the step and drift jobs (and the gate step), next to the kit's scripts. Libraries: what
the kit's environment holds (providers/azure/wheelhouse.py): pandas, pyarrow, azure-storage-blob,
azure-identity. Configured by `$MLOPS_IO` (JSON, written by the Pulumi program):

    {"kind": "azure",
     "client_id": "<runtime identity client id>",
     "features": {"account_url": "https://<data account>.blob.core.windows.net", "container": "data",
                  "prefix": "features/"},
     "capture":  {"account_url": "https://<workspace account>.blob.core.windows.net", "container": "capture",
                  "prefix": "modelDataCollector/<endpoint>/<deployment>/model_inputs/"},
     "drift":    {"endpoint": "https://<data collection endpoint>", "rule": "<DCR immutable id>",
                  "stream": "Custom-MlopsDrift_CL", "monitor": "<monitor name>"}}

- `write_features(group, frame)`: one parquet part `<prefix><group>/part-<time_ns>-<8 hex>.parquet` on
  the data account: the source folder the group's `FeatureSetSpec.yaml` reads (providers/azure/
  feature_store.py `offline_uri`), written as the runtime identity (Storage Blob Data Contributor on
  the account).
- `read_features(group)`: every part of that folder, in write order (part names sort by time); where
  an (entity, event time) pair was written twice, the last write wins.
- `read_captured(since, until)`: the deployment's data collector `model_inputs` collection, written by
  the scoring script with Azure ML's `Collector` (providers/azure/job_scripts/mlops_azure_score.py):
  JSON lines `{"type": "azureml.inference.model_inputs", "time": ..., "data": [record, ...]}` under
  `{yyyy}/{MM}/{dd}/{HH}/` folders (Microsoft Learn "Collect production data from models deployed for
  real-time inferencing", Store collected data in Blob Storage), decoded into records of exactly the
  request columns.
- `publish_drift(result)`: one row per request column to the Logs Ingestion API (a data collection
  rule's stream into the custom table `MlopsDrift_CL`), which the drift alert queries.
- `write_baseline(folder, model_name, version)`: the Azure-only extra the gate step uses: the
  training baseline of a registered version as an MLTable folder the monitors read.
"""

from __future__ import annotations

import io
import json
import os
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd

UTC = timezone.utc  # datetime.UTC is Python 3.11+; the image may run 3.9
KIND = "azure"
CAPTURE_TYPE = "azureml.inference.model_inputs"
LOGS_API_VERSION = "2023-01-01"
LOGS_SCOPE = "https://monitor.azure.com//.default"
"""Logs Ingestion API: token audience and api-version (Microsoft Learn "Logs Ingestion API in Azure
Monitor", REST API call)."""
WRITE_ORDER = "_mlops_write_order"
MLTABLE = (
    "paths:\n"
    "  - file: ./baseline.csv\n"
    "transformations:\n"
    "  - read_delimited:\n"
    "      delimiter: ','\n"
    "      encoding: utf8\n"
    "      header: all_files_same_headers\n"
)
"""The baseline as an MLTable (Microsoft Learn "Working with tables in Azure Machine Learning"): what
Azure ML's own monitor takes as reference data (`type: mltable`)."""


def config() -> dict[str, Any]:
    raw = os.environ.get("MLOPS_IO") or ""
    if not raw:
        raise RuntimeError("$MLOPS_IO is not set: the Azure step I/O needs the store locations (see mlops_io.py)")
    value = json.loads(raw)
    if value.get("kind") != KIND:
        raise RuntimeError(f"this is the Azure step I/O; $MLOPS_IO asks for {value.get('kind')!r}")
    return value


def _contract() -> dict[str, Any]:
    from mlops_schema import load_contract

    return load_contract()


# ---- credentials and clients -----------------------------------------------------------------


def credential(url: str, client_id: str | None) -> Any:
    """The runtime identity (the job's user-assigned identity, named by its client id). An http://
    URL is only ever a local fake in tests: it gets no credential."""
    if url.startswith("http://"):
        return None
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


def container(where: dict[str, Any], client_id: str | None) -> Any:
    from azure.storage.blob import ContainerClient

    return ContainerClient(
        where["account_url"], where["container"], credential=credential(where["account_url"], client_id)
    )


def _prefix(where: dict[str, Any], *parts: str) -> str:
    base = str(where.get("prefix") or "")
    if base and not base.endswith("/"):
        base += "/"
    return base + "".join(f"{p.strip('/')}/" for p in parts if p)


# ---- the offline feature store ------------------------------------------------------------------


def write_features(group: str, frame: pd.DataFrame) -> str:
    cfg = config()
    where = cfg["features"]
    # Sortable, unique part names: the write order is the part name order.
    name = _prefix(where, group) + f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    client = container(where, cfg.get("client_id"))
    client.upload_blob(name, buffer.getvalue(), overwrite=False)
    return f"abfss://{where['container']}@{client.account_name}.dfs.core.windows.net/{name}"


def read_features(group: str) -> pd.DataFrame:
    from mlops_schema import coerce, feature_columns

    cfg = config()
    contract = _contract()
    columns = feature_columns(contract, group)
    client = container(cfg["features"], cfg.get("client_id"))
    names = sorted(
        b.name
        for b in client.list_blobs(name_starts_with=_prefix(cfg["features"], group))
        if b.name.rsplit("/", 1)[-1].startswith("part-") and b.name.endswith(".parquet")
    )
    if not names:
        return pd.DataFrame({c["name"]: pd.Series(dtype=object) for c in columns})
    frames = []
    for order, name in enumerate(names):
        raw = pd.read_parquet(io.BytesIO(client.download_blob(name).readall()))
        frame = coerce(raw, columns, where=name)
        frame[WRITE_ORDER] = order
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True).sort_values(WRITE_ORDER, kind="stable")
    keys = [contract["entity"], contract["event_time"]]
    return rows.drop_duplicates(keys, keep="last").drop(columns=WRITE_ORDER).reset_index(drop=True)


# ---- captured requests --------------------------------------------------------------------------


def _hour_of(name: str) -> datetime | None:
    """The hour a collector file belongs to, from its `{yyyy}/{MM}/{dd}/{HH}/` folders."""
    parts = name.split("/")
    for i in range(len(parts) - 4):
        chunk = parts[i : i + 4]
        if all(p.isdigit() for p in chunk) and len(chunk[0]) == 4:
            try:
                return datetime(int(chunk[0]), int(chunk[1]), int(chunk[2]), int(chunk[3]), tzinfo=UTC)
            except ValueError:
                return None
    return None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_time(text: str) -> datetime:
    return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))  # type: ignore[return-value]


def decode_capture(lines: str, request: list[str], since: datetime | None, until: datetime | None) -> list[dict]:
    """The records of the request columns in one collector file, for events in [since, until)."""
    rows: list[dict[str, Any]] = []
    for line in lines.splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        if event.get("type") != CAPTURE_TYPE:
            continue
        at = parse_time(event["time"])
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        data = event.get("data")
        if isinstance(data, dict):  # a frame logged column-wise ({column: [values]})
            data = pd.DataFrame(data).to_dict(orient="records")
        for record in data or []:
            rows.append({name: record[name] for name in request if name in record})
    return rows


def read_captured(since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
    cfg = config()
    request = [c["name"] for c in _contract()["request"]]
    since, until = _utc(since), _utc(until)
    where = cfg["capture"]
    client = container(where, cfg.get("client_id"))
    rows: list[dict[str, Any]] = []
    for blob in sorted(client.list_blobs(name_starts_with=_prefix(where)), key=lambda b: b.name):
        if not blob.name.endswith(".jsonl"):
            continue
        hour = _hour_of(blob.name)
        # A file of hour H holds events of [H, H + 1h): skip folders wholly outside the window.
        if hour is not None and (
            (since is not None and hour + timedelta(hours=1) <= since) or (until is not None and hour >= until)
        ):
            continue
        text = client.download_blob(blob.name).readall().decode("utf-8")
        rows.extend(decode_capture(text, request, since, until))
    return pd.DataFrame(rows, columns=request)


# ---- drift results ------------------------------------------------------------------------------


def drift_rows(result: dict[str, Any], monitor: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per request column, the columns of the `MlopsDrift_CL` table (and nothing else)."""
    at = (now or datetime.now(UTC)).isoformat()
    window = result.get("window") or {}
    status = result.get("status", "ok")
    rows = []
    for column in _contract()["request"]:
        feature = (result.get("features") or {}).get(column["name"]) or {}
        rows.append(
            {
                "TimeGenerated": at,
                "Monitor": monitor,
                "Feature": column["name"],
                "Statistic": feature.get(
                    "statistic", "ks" if column["type"] in ("int", "float", "timestamp") else "linf"
                ),
                "Value": feature.get("value"),
                "Threshold": result.get("threshold"),
                "Drifted": bool(feature.get("drifted", False)),
                "Status": status,
                "Samples": int(result.get("n_current") or 0),
                "WindowStart": window.get("since"),
                "WindowEnd": window.get("until"),
            }
        )
    return rows


def _token(url: str, client_id: str | None) -> str:
    cred = credential(url, client_id)
    return "local-fake" if cred is None else cred.get_token(LOGS_SCOPE).token


def publish_drift(result: dict[str, Any]) -> str:
    """POST the rows to the data collection rule's stream (Logs Ingestion API), as the runtime
    identity (Monitoring Metrics Publisher on the rule)."""
    cfg = config()
    drift = cfg["drift"]
    rows = drift_rows(result, drift["monitor"])
    url = (
        f"{drift['endpoint'].rstrip('/')}/dataCollectionRules/{drift['rule']}/streams/{drift['stream']}"
        f"?api-version={LOGS_API_VERSION}"
    )
    request = urllib.request.Request(url, data=json.dumps(rows).encode(), method="POST")  # noqa: S310
    request.add_header("Authorization", f"Bearer {_token(drift['endpoint'], cfg.get('client_id'))}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the configured endpoint
        if response.status not in (200, 204):
            raise RuntimeError(f"logs ingestion answered HTTP {response.status}")
    return url.split("?", 1)[0]


# ---- the baseline of a registered model version -------------------------------------------------


def baseline_prefix(model_name: str, version: str | int) -> str:
    return f"baselines/{model_name}/{version}/"


def write_baseline(folder: Path, model_name: str, version: str | int) -> str:
    """`baseline.csv` and an `MLTable` next to it, under `baselines/<model>/<version>/` of the data
    container: the reference both drift engines read for the version that is served."""
    cfg = config()
    where = dict(cfg["features"], prefix="")
    client = container(where, cfg.get("client_id"))
    prefix = baseline_prefix(model_name, version)
    files = sorted(p for p in Path(folder).rglob("*.csv"))
    if len(files) != 1:
        raise FileNotFoundError(f"expected one baseline table in {folder}, found {[str(f) for f in files]}")
    client.upload_blob(prefix + "baseline.csv", files[0].read_bytes(), overwrite=True)
    client.upload_blob(prefix + "MLTable", MLTABLE.encode(), overwrite=True)
    return prefix
