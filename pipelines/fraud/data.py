"""Deterministic synthetic card transactions, each labelled fraud or not (2.5-3.5 % are fraud).

Generated (not downloaded) so tests and demos run offline and reproducibly. Cards (about one per
eight transactions) spend over 30 days in their home country, mostly in person; a few cards are
compromised and then see a burst of 2-5 fraudulent transactions within hours: often online, at
merchants whose goods resell well, often abroad, for larger amounts than the card usually spends.
Some fraud is quiet (one transaction that looks ordinary) and some honest cards have busy days or
travel, so the label is learnable but not trivially separable: on 2,000 rows the test ROC AUC is
around 0.9 and the average precision 0.4-0.7, against 0.25-0.45 for the same model without the
card's window features. Fraud clusters on few cards and the split keeps a card on one side, so a
batch of a few hundred rows may leave no fraud in the test split (the training-data step says so).

What makes the feature store matter: the telling signals are about the card's recent past (how
many transactions in the previous 24 hours, how this amount compares with its 7-day mean), which
must be computed as of each transaction, never with the card's later transactions.

``shift`` moves a numeric column by a constant (``{"amount": 40.0}``: every amount 40 higher; the
fraud process is unchanged), which is how the laptop loop injects drift. ``start`` is the first
day of the batch (default 2024-01-01); a later batch of the same cards uses a later start.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

MERCHANT_CATEGORIES = (
    "grocery",
    "restaurant",
    "fuel",
    "online_services",
    "travel",
    "electronics",
    "jewelry",
    "gift_cards",
)
CHANNELS = ("chip", "contactless", "online", "phone")
COUNTRIES = ("NL", "DE", "FR", "BE", "ES", "IT", "GB", "US")
COLUMNS = (
    "transaction_id",
    "card_id",
    "event_time",
    "amount",
    "merchant_category",
    "channel",
    "country",
    "card_country",
    "is_fraud",
)
SHIFTABLE = ("amount",)
FILE_NAME = "fraud.csv"
TRANSACTIONS_PER_CARD = 8
DAYS = 30
FRAUD_SHARE = (0.025, 0.035)
"""The share of fraudulent transactions: drawn per batch within this range (a 2-4 % label)."""
_EPOCH = np.datetime64("2024-01-01T00:00:00")

# Honest spending: where, how and how much (relative to the card's own level).
_HONEST_CATEGORY = np.array([0.30, 0.20, 0.15, 0.12, 0.05, 0.09, 0.03, 0.06])
_HONEST_CHANNEL = np.array([0.45, 0.35, 0.17, 0.03])
_CATEGORY_SCALE = np.array([1.0, 1.2, 1.3, 0.6, 4.0, 3.0, 5.0, 1.5])
# Fraud: goods that resell, card not present.
_FRAUD_CATEGORY = np.array([0.08, 0.06, 0.04, 0.15, 0.10, 0.25, 0.10, 0.22])
_FRAUD_CHANNEL = np.array([0.15, 0.25, 0.50, 0.10])
_HOME = np.array([0.40, 0.25, 0.15, 0.10, 0.10, 0.0, 0.0, 0.0])


def generate(
    rows: int = 2000, seed: int = 7, *, start: str | None = None, shift: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """``rows`` transactions, in time order; identical for the same arguments."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    unknown = sorted(set(shift or {}) - set(SHIFTABLE))
    if unknown:
        raise ValueError(f"cannot shift {', '.join(unknown)}; shiftable: {', '.join(SHIFTABLE)}")
    rng = np.random.default_rng(seed)
    epoch = np.datetime64(start) if start else _EPOCH
    span = DAYS * 24 * 3600

    cards = max(4, -(-rows // TRANSACTIONS_PER_CARD))
    home = rng.choice(len(COUNTRIES), size=cards, p=_HOME)
    level = np.exp(rng.normal(np.log(35.0), 0.8, cards))  # the card's usual spend
    card_ids = np.array([f"CARD{i:06d}" for i in rng.permutation(cards) + 100_000])

    # Fraud: bursts on compromised cards, plus quiet single transactions.
    target = max(1, round(rows * rng.uniform(*FRAUD_SHARE)))
    # Bursts of 2-5 (shorter in a small batch, so its few frauds fall on more cards).
    longest = min(5, max(2, rows // 400))
    burst_sizes: list[int] = []
    while sum(burst_sizes) < target * 0.85:
        burst_sizes.append(int(rng.integers(2, longest + 1)))
    quiet = max(0, target - sum(burst_sizes))
    n_fraud = min(rows - 1, sum(burst_sizes) + quiet) if rows > 1 else 0
    n_honest = rows - n_fraud

    # Honest transactions: cards by activity, times spread over the month, a few busy days.
    activity = rng.gamma(2.0, 1.0, cards)
    card = rng.choice(cards, size=n_honest, p=activity / activity.sum())
    when = rng.integers(0, span, n_honest)
    # A busy day per card (errands, a shopping trip): honest bursts, so a burst alone is no proof.
    busy_day = rng.integers(0, span - 86_400, cards)
    busy = rng.random(n_honest) < 0.15
    when[busy] = busy_day[card[busy]] + rng.integers(0, 6 * 3600, int(busy.sum()))
    category = rng.choice(len(MERCHANT_CATEGORIES), size=n_honest, p=_HONEST_CATEGORY)
    channel = rng.choice(len(CHANNELS), size=n_honest, p=_HONEST_CHANNEL)
    abroad = rng.random(n_honest) < np.where(category == 4, 0.5, 0.05)  # travel is often abroad
    country = np.where(abroad, rng.integers(0, len(COUNTRIES), n_honest), home[card])
    amount = level[card] * _CATEGORY_SCALE[category] * np.exp(rng.normal(0.0, 0.6, n_honest))

    # Fraudulent transactions: one event per compromised card (a burst, or one quiet transaction).
    events: list[int] = []
    for size in [*burst_sizes, *([1] * quiet)]:
        if sum(events) < n_fraud:
            events.append(min(size, n_fraud - sum(events)))
    compromised = rng.choice(cards, size=min(cards, len(events)), replace=False)
    f_card, f_when, f_category, f_channel, f_country, f_amount = ([] for _ in range(6))
    for i, size in enumerate(events):
        c = compromised[i % len(compromised)]
        t0 = rng.integers(0, span - 6 * 3600)
        f_card.append(np.full(size, c))
        f_when.append(t0 + np.cumsum(rng.exponential(40 * 60, size).astype(np.int64) + 30))
        if size == 1:  # quiet: looks like the card's own spending
            f_category.append(rng.choice(len(MERCHANT_CATEGORIES), size=1, p=_HONEST_CATEGORY))
            f_channel.append(rng.choice(len(CHANNELS), size=1, p=_HONEST_CHANNEL))
            f_country.append(np.array([home[c]]))
            f_amount.append(level[c] * np.exp(rng.normal(0.3, 0.6, 1)))
        else:
            cat = rng.choice(len(MERCHANT_CATEGORIES), size=size, p=_FRAUD_CATEGORY)
            f_category.append(cat)
            f_channel.append(rng.choice(len(CHANNELS), size=size, p=_FRAUD_CHANNEL))
            foreign = rng.random(size) < 0.55
            f_country.append(np.where(foreign, rng.integers(0, len(COUNTRIES), size), home[c]))
            f_amount.append(level[c] * _CATEGORY_SCALE[cat] * np.exp(rng.normal(0.9, 0.7, size)))

    def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.array([], dtype=dtype)

    frame = pd.DataFrame(
        {
            "card": np.concatenate([card, _cat(f_card, np.int64)]),
            "seconds": np.concatenate([when, _cat(f_when, np.int64)]),
            "category": np.concatenate([category, _cat(f_category, np.int64)]),
            "channel": np.concatenate([channel, _cat(f_channel, np.int64)]),
            "country": np.concatenate([country, _cat(f_country, np.int64)]),
            "amount": np.concatenate([amount, _cat(f_amount, float)]),
            "is_fraud": np.concatenate([np.zeros(n_honest, np.int64), np.ones(rows - n_honest, np.int64)]),
        }
    )
    frame = frame.sort_values(["card", "seconds"], kind="stable").reset_index(drop=True)
    # One transaction per card and second: push a tie one second later (keeps the time order).
    rank = frame.groupby("card").cumcount().to_numpy()
    frame["seconds"] = (frame["seconds"] - rank).groupby(frame["card"]).cummax() + rank
    frame = frame.sort_values(["seconds", "card"], kind="stable").reset_index(drop=True)
    batch = f"{pd.Timestamp(epoch):%Y%m%d%H%M%S}-{seed}"

    out = pd.DataFrame(
        {
            # Unique across batches too: a later batch (another start or seed) never repeats an id.
            "transaction_id": [f"T{batch}-{i:07d}" for i in range(len(frame))],
            "card_id": card_ids[frame["card"]],
            "event_time": pd.Series(epoch + frame["seconds"].to_numpy().astype("timedelta64[s]"))
            .dt.strftime("%Y-%m-%dT%H:%M:%S")
            .to_numpy(),
            "amount": np.round(np.clip(frame["amount"].to_numpy(), 1.0, 20_000.0), 2),
            "merchant_category": np.array(MERCHANT_CATEGORIES)[frame["category"]],
            "channel": np.array(CHANNELS)[frame["channel"]],
            "country": np.array(COUNTRIES)[frame["country"]],
            "card_country": np.array(COUNTRIES)[home[frame["card"]]],
            "is_fraud": frame["is_fraud"].to_numpy(),
        }
    )
    for column, delta in (shift or {}).items():
        out[column] = (out[column] + delta).round(2)
    return out[list(COLUMNS)]


def write(
    out_dir: Path | str,
    rows: int = 2000,
    seed: int = 7,
    *,
    start: str | None = None,
    shift: Mapping[str, float] | None = None,
    name: str = FILE_NAME,
) -> Path:
    """Write a batch as ``<out_dir>/<name>`` (the layout step inputs expect: a folder of batches)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    generate(rows, seed, start=start, shift=shift).to_csv(path, index=False)
    return path
