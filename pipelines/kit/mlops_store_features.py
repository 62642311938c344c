"""Kit step: write the feature step's output into the platform's feature store (offline).

CLI: ``--features DIR --written DIR``. For every feature group the data contract reads, the table
``<group>.csv`` in ``--features`` (entity, event time and the group's features; other columns are
not the contract's and are refused) is typed by the contract and appended to the group's offline
store through ``mlops_io.write_features`` (each cloud's own module; online groups reach the online
store by the cloud's own sync). ``--written`` gets ``written.json``: rows and location per group,
which the training-data step waits for.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import mlops_io
import pandas as pd
from mlops_schema import SchemaError, coerce, feature_columns, load_contract, read_table

MANIFEST = "written.json"


def store(features_dir: Path, written_dir: Path) -> dict[str, dict[str, object]]:
    contract = load_contract()
    manifest: dict[str, dict[str, object]] = {}
    for read in contract["reads"]:
        group = read["group"]
        raw = _group_table(features_dir, group)
        columns = feature_columns(contract, group)
        extra = sorted(set(raw.columns) - {c["name"] for c in columns})
        if extra:
            raise SchemaError(f"features of group {group!r} carry columns the contract does not name: {extra}")
        frame = coerce(raw, columns, where=f"features of group {group!r}")
        keys = [contract["entity"], contract["event_time"]]
        duplicated = frame.duplicated(keys)
        if duplicated.any():
            raise SchemaError(f"group {group!r}: {int(duplicated.sum())} rows repeat an ({', '.join(keys)}) pair")
        location = mlops_io.write_features(group, frame)
        manifest[group] = {"rows": len(frame), "location": location}
    written_dir.mkdir(parents=True, exist_ok=True)
    (written_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _group_table(features_dir: Path, group: str) -> pd.DataFrame:
    """`<group>.csv`, or every table of a `<group>/` folder, in the feature step's output."""
    if (features_dir / group).is_dir():
        return read_table(features_dir / group)
    path = features_dir / f"{group}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"the feature step wrote no {group}.csv (nor {group}/) in {features_dir}")
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, required=True, help="the feature step's output dir")
    parser.add_argument("--written", type=Path, required=True, help="output dir for written.json")
    args = parser.parse_args(argv)
    try:
        manifest = store(args.features, args.written)
    except (SchemaError, FileNotFoundError, KeyError) as exc:
        print(f"store_features: {exc}", file=sys.stderr)
        return 1
    for group, entry in manifest.items():
        print(f"feature group {group}: {entry['rows']} rows -> {entry['location']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
