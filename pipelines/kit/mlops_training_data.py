"""Kit step: the training set, read back from the feature store point-in-time correct.

CLI: ``--labels DIR --written DIR --train DIR --test DIR --baseline DIR [--test_size F] [--seed N]``.
The label spine (entity, event time, label) in ``--labels`` is joined with every feature group the
contract reads, as held by the offline store (``mlops_io.read_features``): for each label row, the
feature values of the same entity as of that row's event time (the latest written at or before
it, never a later one: a naive join on the entity alone would leak the future). Rows with no
feature value yet are dropped and counted. The rows are split by a hash of the entity (a given
entity is on the same side on every run and every cloud), and written as ``train/train.csv`` and
``test/test.csv`` (request columns, then the label) and ``baseline/baseline.csv``: the request
columns of the training rows, which the drift check compares live requests with.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

import mlops_io
import pandas as pd
from mlops_schema import SchemaError, coerce, load_contract, read_table, write_table

HASH_BUCKETS = 10_000


def point_in_time(spine: pd.DataFrame, features: pd.DataFrame, entity: str, event_time: str) -> pd.DataFrame:
    """For each spine row, the feature row of its entity with the latest event time <= its own."""
    order = "_mlops_spine_row"
    left = spine.assign(**{order: range(len(spine))}).sort_values(event_time, kind="stable")
    right = features.sort_values(event_time, kind="stable")
    joined = pd.merge_asof(left, right, on=event_time, by=entity, direction="backward", allow_exact_matches=True)
    # merge_asof returns the rows in time order: put them back in the spine's order.
    return joined.sort_values(order).drop(columns=order).set_index(spine.index)


def is_test(entities: pd.Series, test_size: float, seed: int) -> pd.Series:
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    cutoff = round(test_size * HASH_BUCKETS)
    return entities.map(lambda e: zlib.crc32(f"{seed}:{e}".encode()) % HASH_BUCKETS < cutoff)


def build(labels_dir: Path, test_size: float = 0.25, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(train, test, rows dropped for lack of features)."""
    contract = load_contract()
    entity, event_time, label = contract["entity"], contract["event_time"], contract["label"]
    spine = coerce(
        read_table(labels_dir),
        [{"name": entity, "type": "string"}, {"name": event_time, "type": "timestamp"}, label],
        where="labels",
    )
    joined = spine
    for read in contract["reads"]:
        stored = mlops_io.read_features(read["group"])
        wanted = [entity, event_time, *(f["name"] for f in read["features"])]
        joined = point_in_time(joined, stored[wanted], entity, event_time)
    request = [c["name"] for c in contract["request"]]
    complete = joined.dropna(subset=request)
    dropped = len(joined) - len(complete)
    rows = complete[[entity, event_time, *request, label["name"]]].reset_index(drop=True)
    mask = is_test(rows[entity].astype(str), test_size, seed)
    train, test = rows[~mask].reset_index(drop=True), rows[mask].reset_index(drop=True)
    for name, part in (("train", train), ("test", test)):
        if part.empty:
            raise SchemaError(f"the {name} split is empty ({len(rows)} rows with features)")
        if contract["task"] == "classification" and part[label["name"]].nunique() < 2:
            raise SchemaError(f"the {name} split has one class of {label['name']!r} only")
    return train, test, dropped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, required=True, help="dir with the label spine")
    parser.add_argument("--written", type=Path, required=True, help="store_features' output (ordering only)")
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--test_size", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    try:
        train, test, dropped = build(args.labels, args.test_size, args.seed)
    except (SchemaError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f"training_data: {exc}", file=sys.stderr)
        return 1
    contract = load_contract()
    request = [c["name"] for c in contract["request"]]
    write_table(train.drop(columns=[contract["entity"], contract["event_time"]]), args.train, "train")
    write_table(test.drop(columns=[contract["entity"], contract["event_time"]]), args.test, "test")
    write_table(train[request], args.baseline, "baseline")
    print(f"training data: {len(train)} train rows, {len(test)} test rows, {dropped} without features yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
