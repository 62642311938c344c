"""Deterministic synthetic churn data: monthly snapshots of customers, each with its label.

Generated (not downloaded) so tests and demos run offline and reproducibly. Each customer has up
to ``SNAPSHOTS`` monthly snapshots (tenure grows, charges and support calls move); each snapshot
carries whether the customer churned in the month after it (``churned``). Churn follows a known
logistic model of the snapshot's own values, so a decent classifier reaches a test ROC AUC of
roughly 0.8 - enough signal to exercise the quality gate without being trivially separable. The
snapshots are what makes the point-in-time read matter: a customer's later snapshot must never
feed the features of its earlier label.

``shift`` moves the distribution of numeric columns (``{"monthly_charges": 25.0}`` adds 25 to
every value; the churn model is unchanged), which is how the laptop loop injects drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

CONTRACT_TYPES = ("month_to_month", "one_year", "two_year")
PAYMENT_METHODS = ("electronic_check", "credit_card", "bank_transfer", "mailed_check")
COLUMNS = (
    "customer_id",
    "event_time",
    "tenure_months",
    "contract_type",
    "payment_method",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "paperless_billing",
    "churned",
)
SHIFTABLE = ("tenure_months", "monthly_charges", "total_charges", "support_calls")
SNAPSHOTS = 3
FILE_NAME = "churn.csv"
_EPOCH = np.datetime64("2024-01-01T00:00:00")
_MONTH = np.timedelta64(30 * 24 * 3600, "s")


def generate(
    rows: int = 2000, seed: int = 7, *, start: str | None = None, shift: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """``rows`` snapshots (about rows / 3 customers); identical for the same arguments.

    ``start``: ISO date of the first snapshots (default 2024-01-01); a later batch of the same
    customers uses a later start. ``shift``: numeric columns to move by a constant.
    """
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    unknown = sorted(set(shift or {}) - set(SHIFTABLE))
    if unknown:
        raise ValueError(f"cannot shift {', '.join(unknown)}; shiftable: {', '.join(SHIFTABLE)}")
    rng = np.random.default_rng(seed)
    customers = -(-rows // SNAPSHOTS)
    epoch = np.datetime64(start) if start else _EPOCH

    contract = rng.choice(len(CONTRACT_TYPES), size=customers, p=[0.55, 0.25, 0.20])
    payment = rng.choice(len(PAYMENT_METHODS), size=customers, p=[0.35, 0.25, 0.25, 0.15])
    paperless = rng.binomial(1, 0.6, customers).astype(bool)
    # Longer contracts go with longer tenure, as in real telco data.
    tenure0 = np.clip(rng.gamma(2.0, 8.0 + 10.0 * contract), 0, 69).astype(np.int64)
    charges0 = np.clip(rng.normal(70.0, 25.0, customers), 18.0, 120.0)
    offset = rng.integers(0, 180 * 24 * 3600, customers).astype("timedelta64[s]")
    ids = rng.permutation(customers) + 100_000

    frames = []
    for k in range(SNAPSHOTS):
        tenure = tenure0 + k
        monthly = np.round(np.clip(charges0 + rng.normal(0.0, 4.0, customers) * k, 18.0, 130.0), 2)
        total = np.round(tenure * monthly * rng.uniform(0.9, 1.1, customers), 2)
        support = rng.poisson(1.2 + 0.8 * (monthly > 90), customers).astype(np.int64)
        logit = (
            -0.6
            - 0.06 * tenure
            + 0.025 * (monthly - 70.0)
            + 0.45 * support
            + np.array([0.9, -0.6, -1.6])[contract]
            + np.array([0.7, -0.2, -0.3, 0.0])[payment]
            + 0.3 * paperless
        )
        churned = rng.binomial(1, 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
        when = pd.Series(epoch + offset + k * _MONTH).dt.strftime("%Y-%m-%dT%H:%M:%S")
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": [f"C{i:07d}" for i in ids],
                    "event_time": when.to_numpy(),
                    "tenure_months": tenure,
                    "contract_type": np.array(CONTRACT_TYPES)[contract],
                    "payment_method": np.array(PAYMENT_METHODS)[payment],
                    "monthly_charges": monthly,
                    "total_charges": total,
                    "support_calls": support,
                    "paperless_billing": paperless.astype(np.int64),
                    "churned": churned,
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True).iloc[:rows]
    for column, delta in (shift or {}).items():
        moved = frame[column] + delta
        frame[column] = moved.round(2) if frame[column].dtype.kind == "f" else moved.round().astype(np.int64)
    return frame[list(COLUMNS)].reset_index(drop=True)


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
