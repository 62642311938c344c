"""Deterministic synthetic churn dataset.

Generated (not downloaded) so tests and demos run offline and reproducibly.
Churn follows a known logistic model of the features, so a decent classifier
reaches a test ROC AUC of roughly 0.8-0.9 - enough signal to exercise the
quality gate without being trivially separable.
"""

from __future__ import annotations

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
FILE_NAME = "churn.csv"
_EPOCH = np.datetime64("2024-01-01T00:00:00")


def generate(rows: int = 2000, seed: int = 7) -> pd.DataFrame:
    """Return ``rows`` customers; identical for the same ``(rows, seed)``."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    rng = np.random.default_rng(seed)

    contract = rng.choice(len(CONTRACT_TYPES), size=rows, p=[0.55, 0.25, 0.20])
    payment = rng.choice(len(PAYMENT_METHODS), size=rows, p=[0.35, 0.25, 0.25, 0.15])
    # Longer contracts go with longer tenure, as in real telco data.
    tenure = np.clip(rng.gamma(2.0, 8.0 + 10.0 * contract), 0, 72).astype(np.int64)
    monthly = np.round(np.clip(rng.normal(70.0, 25.0, rows), 18.0, 120.0), 2)
    total = np.round(tenure * monthly * rng.uniform(0.9, 1.1, rows), 2)
    support = rng.poisson(1.2 + 0.8 * (monthly > 90), rows).astype(np.int64)
    paperless = rng.binomial(1, 0.6, rows).astype(np.int64)

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

    seconds = rng.integers(0, 365 * 24 * 3600, rows)
    event_time = pd.Series(_EPOCH + seconds.astype("timedelta64[s]")).dt.strftime("%Y-%m-%dT%H:%M:%S")
    # Shuffled, zero-padded ids: unique by construction, not correlated with row order.
    ids = rng.permutation(rows) + 100_000

    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in ids],
            "event_time": event_time.to_numpy(),
            "tenure_months": tenure,
            "contract_type": np.array(CONTRACT_TYPES)[contract],
            "payment_method": np.array(PAYMENT_METHODS)[payment],
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls": support,
            "paperless_billing": paperless,
            "churned": churned,
        }
    )
    return frame[list(COLUMNS)]


def write(out_dir: Path | str, rows: int = 2000, seed: int = 7) -> Path:
    """Write the dataset as ``<out_dir>/churn.csv`` (the layout step inputs expect)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / FILE_NAME
    generate(rows, seed).to_csv(path, index=False)
    return path
