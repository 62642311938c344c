"""Feature engineering for fraud: two feature groups and the label spine, computed point-in-time.

CLI: ``--data DIR --features DIR --labels DIR``. Reads every ``*.csv`` in ``--data`` (validated
transactions) and writes, keyed by ``card_id`` and ``event_time`` (the transaction's time):
- ``features/card_transaction.csv``: what the transaction itself says (amount, merchant category,
  channel, country, whether it is abroad for the card);
- ``features/card_activity.csv``: the card's recent past AS OF the transaction, from its earlier
  transactions only (strictly before this one, never a later one): how many in the previous 24
  hours and 7 days, their mean amount, this amount against that mean, hours since the last one;
- ``labels/labels.csv``: card_id, event_time, is_fraud.
The kit's ``store_features`` step writes both groups into the feature store; its
``training_data`` step reads them back for each label, point-in-time. Categories stay strings: the
model encodes them itself, so serving takes the values a caller knows.
Self-contained: runs in a bare container with only requirements.txt installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

TRANSACTION_GROUP = "card_transaction"
ACTIVITY_GROUP = "card_activity"
ENTITY, EVENT_TIME, LABEL = "card_id", "event_time", "is_fraud"
DAY, WEEK = 24 * 3600, 7 * 24 * 3600
NO_HISTORY_HOURS = 168.0
"""`hours_since_last_txn` of a card with no earlier transaction in the data (a week, the longest window)."""


def read_csvs(directory: Path) -> pd.DataFrame:
    files = sorted(Path(directory).rglob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.csv file in {directory}")
    return pd.concat([pd.read_csv(f, dtype={ENTITY: str, "transaction_id": str}) for f in files], ignore_index=True)


def transaction_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The card_transaction group: the transaction's own attributes."""
    out = pd.DataFrame(index=frame.index)
    out[ENTITY] = frame[ENTITY].astype(str)
    out[EVENT_TIME] = frame[EVENT_TIME]
    out["amount"] = frame["amount"].astype(float)
    out["merchant_category"] = frame["merchant_category"].astype(str)
    out["channel"] = frame["channel"].astype(str)
    out["country"] = frame["country"].astype(str)
    out["foreign"] = frame["country"].astype(str) != frame["card_country"].astype(str)
    return out


def activity_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The card_activity group: per transaction, the card's transactions in the windows BEFORE it.

    Windows are half-open, ``[t - 24h, t)`` and ``[t - 7d, t)``: the transaction itself and any
    later one are never counted, so each row is what a feature store could have served at ``t``.
    """
    times = pd.to_datetime(frame[EVENT_TIME], utc=True, format="ISO8601")
    seconds = ((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
    cards = frame[ENTITY].astype(str).to_numpy()
    amounts = frame["amount"].astype(float).to_numpy()
    order = np.lexsort((seconds, cards))  # by card, then time
    card_code = np.unique(cards[order], return_inverse=True)[1].astype(np.int64)
    # One sorted key per transaction: transactions of other cards lie far outside any window.
    key = card_code * (seconds.max() - seconds.min() + 2 * WEEK) + (seconds[order] - seconds.min())
    total = np.concatenate([[0.0], np.cumsum(amounts[order])])
    position = np.arange(len(key))

    def window(length: int) -> tuple[np.ndarray, np.ndarray]:
        first = np.searchsorted(key, key - length, side="left")  # first transaction at or after t - length
        count = position - first  # those strictly before this one (card times are unique)
        return count, total[position] - total[first]

    count_24h, _ = window(DAY)
    count_7d, sum_7d = window(WEEK)
    mean_7d = np.divide(sum_7d, count_7d, out=np.zeros_like(sum_7d), where=count_7d > 0)
    ratio_7d = np.divide(amounts[order], mean_7d, out=np.ones_like(mean_7d), where=count_7d > 0)
    same_card = np.concatenate([[False], card_code[1:] == card_code[:-1]])
    gap = np.concatenate([[0], np.diff(seconds[order])]) / 3600.0
    since_last = np.where(same_card, np.minimum(gap, NO_HISTORY_HOURS), NO_HISTORY_HOURS)

    sorted_out = pd.DataFrame(
        {
            ENTITY: cards[order],
            EVENT_TIME: frame[EVENT_TIME].to_numpy()[order],
            "txn_count_24h": count_24h.astype(np.int64),
            "txn_count_7d": count_7d.astype(np.int64),
            "amount_mean_7d": np.round(mean_7d, 4),
            "amount_ratio_7d": np.round(ratio_7d, 4),
            "hours_since_last_txn": np.round(since_last, 4),
        },
        index=frame.index[order],
    )
    return sorted_out.loc[frame.index]


def labels(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[ENTITY, EVENT_TIME, LABEL]].astype({ENTITY: str, LABEL: int})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dir with validated CSV")
    parser.add_argument("--features", type=Path, required=True, help="output dir for <group>.csv")
    parser.add_argument("--labels", type=Path, required=True, help="output dir for labels.csv")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    frame = read_csvs(args.data)
    args.features.mkdir(parents=True, exist_ok=True)
    args.labels.mkdir(parents=True, exist_ok=True)
    transaction_features(frame).to_csv(args.features / f"{TRANSACTION_GROUP}.csv", index=False)
    activity_features(frame).to_csv(args.features / f"{ACTIVITY_GROUP}.csv", index=False)
    labels(frame).to_csv(args.labels / "labels.csv", index=False)
    print(
        f"features: {len(frame)} transactions of {frame[ENTITY].nunique()} cards -> "
        f"{TRANSACTION_GROUP}, {ACTIVITY_GROUP}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
