"""The step I/O of a run on this machine, shipped as `mlops_io.py` in a local bundle.

Every cloud ships its own `mlops_io.py` with these four functions (SageMaker Feature Store and
CloudWatch, BigQuery and Cloud Logging, ADLS and Azure Monitor); the kit's steps call only them,
so the step code is the same everywhere. Configured by `$MLOPS_IO` (JSON); here
`{"kind": "local", "root": DIR}`: the offline feature store, captured requests and drift results
are plain files under DIR.

- `write_features(group, frame)`: append rows to the group's offline store.
- `read_features(group)`: every row the offline store holds for the group; where a (entity,
  event time) pair was written twice, the last write wins.
- `read_captured(since, until)`: the request rows the endpoint captured in [since, until).
- `publish_drift(result)`: hand a drift result to whatever alerts on it.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

WRITE_ORDER = "_mlops_write_order"


def _root() -> Path:
    config = json.loads(os.environ.get("MLOPS_IO") or "{}")
    if config and config.get("kind") != "local":
        raise RuntimeError(f"this is the local step I/O; $MLOPS_IO asks for {config.get('kind')!r}")
    return Path(config.get("root") or ".mlops-store").resolve()


def _contract() -> dict[str, Any]:
    from mlops_schema import load_contract

    return load_contract()


def write_features(group: str, frame: pd.DataFrame) -> str:
    folder = _root() / "features" / group
    folder.mkdir(parents=True, exist_ok=True)
    # Sortable, unique part names: the write order is the part name order.
    path = folder / f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.csv"
    frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
    return str(path)


def read_features(group: str) -> pd.DataFrame:
    from mlops_schema import coerce, feature_columns

    contract = _contract()
    columns = feature_columns(contract, group)
    parts = sorted((_root() / "features" / group).glob("part-*.csv"))
    if not parts:
        return pd.DataFrame({c["name"]: pd.Series(dtype=object) for c in columns})
    frames = []
    for order, part in enumerate(parts):
        raw = pd.read_csv(part, dtype=str, keep_default_na=False, na_values=[""])
        frame = coerce(raw, columns, where=str(part))
        frame[WRITE_ORDER] = order
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True).sort_values(WRITE_ORDER, kind="stable")
    keys = [contract["entity"], contract["event_time"]]
    return rows.drop_duplicates(keys, keep="last").drop(columns=WRITE_ORDER).reset_index(drop=True)


def capture_dir() -> Path:
    return _root() / "capture"


def read_captured(since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
    """Captured requests: JSON lines `{"time": ISO-8601, "request": [record, ...]}`."""
    rows: list[dict[str, Any]] = []
    for path in sorted(capture_dir().glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["time"])
            if (since is None or at >= since) and (until is None or at < until):
                rows.extend(entry["request"])
    return pd.DataFrame(rows)


def publish_drift(result: dict[str, Any]) -> str:
    folder = _root() / "drift"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"drift-{time.time_ns():020d}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return str(path)
