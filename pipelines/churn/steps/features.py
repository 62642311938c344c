"""Feature engineering for churn: the customer_profile features, and the label spine.

CLI: ``--data DIR --features DIR --labels DIR``. Reads every ``*.csv`` in ``--data`` (validated
snapshots) and writes ``features/customer_profile.csv`` (customer_id, event_time and the group's
features, as the data contract names them) and ``labels/labels.csv`` (customer_id, event_time,
churned). The kit's ``store_features`` step writes the features into the feature store; its
``training_data`` step reads them back for the labels, point-in-time. Categories stay strings: the
model encodes them itself, so serving takes the same values a caller knows.
Self-contained: runs in a bare container with only requirements.txt installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

GROUP = "customer_profile"
ENTITY, EVENT_TIME, LABEL = "customer_id", "event_time", "churned"


def read_csvs(directory: Path) -> pd.DataFrame:
    files = sorted(Path(directory).rglob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.csv file in {directory}")
    return pd.concat([pd.read_csv(f, dtype={ENTITY: str}) for f in files], ignore_index=True)


def engineer(frame: pd.DataFrame) -> pd.DataFrame:
    """The customer_profile features of each snapshot, keyed by customer and event time."""
    tenure = frame["tenure_months"].astype(float)
    months = tenure.clip(lower=1.0)
    out = pd.DataFrame(index=frame.index)
    out[ENTITY] = frame[ENTITY]
    out[EVENT_TIME] = frame[EVENT_TIME]
    out["tenure_months"] = frame["tenure_months"].astype(int)
    out["monthly_charges"] = frame["monthly_charges"].astype(float)
    out["total_charges"] = frame["total_charges"].astype(float)
    out["support_calls"] = frame["support_calls"].astype(int)
    out["contract_type"] = frame["contract_type"].astype(str)
    out["payment_method"] = frame["payment_method"].astype(str)
    out["paperless_billing"] = frame["paperless_billing"].astype(int).astype(bool)
    # Ratios normalise spend and friction by how long the customer has been around.
    out["avg_monthly_spend"] = np.round(frame["total_charges"].astype(float) / months, 4)
    out["support_calls_per_year"] = np.round(frame["support_calls"].astype(float) / (months / 12.0), 4)
    return out


def labels(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[ENTITY, EVENT_TIME, LABEL]].astype({LABEL: int})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dir with validated CSV")
    parser.add_argument("--features", type=Path, required=True, help=f"output dir for {GROUP}.csv")
    parser.add_argument("--labels", type=Path, required=True, help="output dir for labels.csv")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    frame = read_csvs(args.data)
    args.features.mkdir(parents=True, exist_ok=True)
    args.labels.mkdir(parents=True, exist_ok=True)
    engineer(frame).to_csv(args.features / f"{GROUP}.csv", index=False)
    labels(frame).to_csv(args.labels / "labels.csv", index=False)
    print(f"features: {len(frame)} snapshots of {frame[ENTITY].nunique()} customers -> {GROUP}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
