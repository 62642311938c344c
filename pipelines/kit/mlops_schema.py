"""The data contract inside a step container or a model: load it, read tables, type columns.

Shipped in every code bundle (and inside every model's `code/` folder), next to the step scripts.
Self-contained: pandas and numpy only, so it runs in any step or serving image.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CONTRACT_FILE = "mlops_contract.json"
TABLE_SUFFIXES = (".csv",)
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class SchemaError(ValueError):
    """Data that does not match the contract; the message names the column and what was wrong."""


def load_contract(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The data contract: `path`, else `$MLOPS_CONTRACT`, else `mlops_contract.json` next to this file."""
    where = Path(path or os.environ.get("MLOPS_CONTRACT") or Path(__file__).with_name(CONTRACT_FILE))
    if not where.is_file():
        raise FileNotFoundError(f"no data contract at {where} (the kit writes {CONTRACT_FILE} into every bundle)")
    return json.loads(where.read_text(encoding="utf-8"))


def read_table(directory: str | os.PathLike[str]) -> pd.DataFrame:
    """Every table file in `directory` (recursively, in name order) as one frame: a folder of
    batches reads as all of its batches, never only the first."""
    root = Path(directory)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in TABLE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no {'/'.join(TABLE_SUFFIXES)} file in {root}")
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False, na_values=[""]) for f in files]
    return pd.concat(frames, ignore_index=True)


def write_table(frame: pd.DataFrame, directory: str | os.PathLike[str], name: str) -> Path:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.csv"
    frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    return path


def coerce(frame: pd.DataFrame, columns: Iterable[Mapping[str, str]], *, where: str = "") -> pd.DataFrame:
    """The named columns, typed by the contract (`int`, `float`, `string`, `bool`, `timestamp`), in
    that order. A missing column, an empty cell or a value of the wrong type is a SchemaError."""
    out = pd.DataFrame(index=frame.index)
    prefix = f"{where}: " if where else ""
    for column in columns:
        name, kind = column["name"], column["type"]
        if name not in frame.columns:
            raise SchemaError(f"{prefix}missing column {name!r}")
        out[name] = _typed(frame[name], name, kind, prefix)
    return out


def _typed(values: pd.Series, name: str, kind: str, prefix: str) -> pd.Series:
    if values.isna().any():
        raise SchemaError(f"{prefix}column {name!r} ({kind}) has an empty value in row {int(values.isna().idxmax())}")
    if kind == "string":
        return values.astype(str)
    if kind == "bool":
        if values.dtype == bool:
            return values
        text = values.astype(str).str.strip().str.lower()
        bad = ~text.isin(_TRUE | _FALSE)
        if bad.any():
            raise SchemaError(f"{prefix}column {name!r} must be true/false (or 1/0), got {values[bad].iloc[0]!r}")
        return text.isin(_TRUE)
    if kind == "timestamp":
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
        if parsed.isna().any():
            raise SchemaError(
                f"{prefix}column {name!r} must be ISO-8601 timestamps, got {values[parsed.isna()].iloc[0]!r}"
            )
        return parsed
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.astype(float))
    if bad.any():
        raise SchemaError(f"{prefix}column {name!r} must be a number ({kind}), got {values[bad].iloc[0]!r}")
    if kind == "int":
        whole = numbers.astype(float) == np.floor(numbers.astype(float))
        if not whole.all():
            raise SchemaError(f"{prefix}column {name!r} must be a whole number, got {values[~whole].iloc[0]!r}")
        return numbers.astype("int64")
    if kind == "float":
        return numbers.astype("float64")
    raise SchemaError(f"{prefix}column {name!r} has unknown type {kind!r}")


def feature_columns(contract: Mapping[str, Any], group: str) -> list[dict[str, str]]:
    """The entity, the event time and the features of `group`, as typed columns."""
    for read in contract["reads"]:
        if read["group"] == group:
            return [
                {"name": contract["entity"], "type": "string"},
                {"name": contract["event_time"], "type": "timestamp"},
                *read["features"],
            ]
    raise KeyError(f"the contract reads no feature group {group!r}")
