"""Feature engineering and a deterministic train/test split for churn.

CLI: ``--data DIR --train DIR --test DIR [--test_size F] [--seed N]``.
Reads the first ``*.csv`` in ``--data`` (validated rows), writes
``train/train.csv`` and ``test/test.csv``. Categories are one-hot encoded
against a fixed vocabulary so train and test always get the same columns.
The split hashes ``customer_id``: a customer lands on the same side on every
run and every cloud, whatever the row order, and never on both sides.
Self-contained: runs in a bare container with only requirements.txt installed.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

CATEGORIES = {
    "contract_type": ["month_to_month", "one_year", "two_year"],
    "payment_method": ["electronic_check", "credit_card", "bank_transfer", "mailed_check"],
}
KEEP = ["customer_id", "event_time"]  # carried along for lineage, not used as features
LABEL = "churned"
HASH_BUCKETS = 10_000


def read_first_csv(directory: Path) -> pd.DataFrame:
    """Read the first ``*.csv`` in ``directory`` (how a mounted cloud channel looks)."""
    files = sorted(Path(directory).glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.csv file in {directory}")
    return pd.read_csv(files[0], dtype={"customer_id": str})


def engineer(frame: pd.DataFrame) -> pd.DataFrame:
    """Return id/time columns, numeric features and the label, in a stable order."""
    tenure = frame["tenure_months"].astype(float)
    months = tenure.clip(lower=1.0)
    out = pd.DataFrame(index=frame.index)
    for col in KEEP:
        out[col] = frame[col]
    out["tenure_months"] = tenure
    out["monthly_charges"] = frame["monthly_charges"].astype(float)
    out["total_charges"] = frame["total_charges"].astype(float)
    out["support_calls"] = frame["support_calls"].astype(float)
    out["paperless_billing"] = frame["paperless_billing"].astype(float)
    # Ratios normalise spend and friction by how long the customer has been around.
    out["avg_monthly_spend"] = frame["total_charges"] / months
    out["support_calls_per_year"] = frame["support_calls"] / (months / 12.0)
    out["log_tenure"] = np.log1p(tenure)
    out["is_new_customer"] = (tenure < 6).astype(float)
    for col, vocab in CATEGORIES.items():
        for value in vocab:  # unseen values become all-zero rather than new columns
            out[f"{col}__{value}"] = (frame[col] == value).astype(float)
    out[LABEL] = frame[LABEL].astype(int)
    return out


def is_test(customer_ids: pd.Series, test_size: float, seed: int) -> pd.Series:
    """Stable per-customer assignment to the test side (crc32, not Python's salted hash)."""
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    cutoff = round(test_size * HASH_BUCKETS)
    buckets = customer_ids.map(lambda cid: zlib.crc32(f"{seed}:{cid}".encode()) % HASH_BUCKETS)
    return buckets < cutoff


def split(frame: pd.DataFrame, test_size: float = 0.25, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split engineered rows into ``(train, test)`` by customer id."""
    mask = is_test(frame["customer_id"].astype(str), test_size, seed)
    train, test = frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)
    for name, part in (("train", train), ("test", test)):
        if part.empty or part[LABEL].nunique() < 2:
            raise ValueError(f"{name} split has {len(part)} rows and needs both classes")
    return train, test


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dir with validated CSV")
    parser.add_argument("--train", type=Path, required=True, help="output dir for train.csv")
    parser.add_argument("--test", type=Path, required=True, help="output dir for test.csv")
    parser.add_argument("--test_size", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=7, help="salts the split hash")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.train.mkdir(parents=True, exist_ok=True)
    args.test.mkdir(parents=True, exist_ok=True)
    train, test = split(engineer(read_first_csv(args.data)), args.test_size, args.seed)
    train.to_csv(args.train / "train.csv", index=False)
    test.to_csv(args.test / "test.csv", index=False)
    print(f"features: {len(train)} train rows, {len(test)} test rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
