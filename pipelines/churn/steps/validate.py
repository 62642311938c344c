"""Validate the raw churn dataset with pandera before anything learns from it.

CLI: ``--raw DIR --validated DIR --report DIR [--min_rows N]``.
Reads every ``*.csv`` in ``--raw`` (a folder of batches); writes ``validated.csv`` and
``report.json``. On bad data it still writes the report, prints one line per
problem (naming the column) to stderr and exits 1 so the pipeline stops.
Self-contained: runs in a bare container with only requirements.txt installed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

try:  # pandera >= 0.24 moved the pandas API to pandera.pandas
    import pandera.pandas as pa
except ImportError:  # pragma: no cover - older pandera
    import pandera as pa  # type: ignore[no-redef]
from pandera.errors import SchemaError, SchemaErrors

CONTRACT_TYPES = ["month_to_month", "one_year", "two_year"]
PAYMENT_METHODS = ["electronic_check", "credit_card", "bank_transfer", "mailed_check"]
OUTPUT_FILE = "validated.csv"
REPORT_FILE = "report.json"
MAX_EXAMPLES = 5


def build_schema(min_rows: int = 1) -> pa.DataFrameSchema:
    """The churn raw-data rules: types, ranges, nullability, one row per customer and time."""
    return pa.DataFrameSchema(
        {
            "customer_id": pa.Column(str, pa.Check.str_length(min_value=1), nullable=False),
            # Stored as ISO text in CSV; coercion proves every value parses.
            "event_time": pa.Column("datetime64[ns]", nullable=False, coerce=True),
            # Ints are not coerced: a float or text value here means a broken extract.
            "tenure_months": pa.Column("int64", pa.Check.in_range(0, 600), nullable=False),
            "contract_type": pa.Column(str, pa.Check.isin(CONTRACT_TYPES), nullable=False),
            "payment_method": pa.Column(str, pa.Check.isin(PAYMENT_METHODS), nullable=False),
            # Floats are coerced because a CSV column of whole numbers reads as int.
            "monthly_charges": pa.Column("float64", pa.Check.in_range(0, 10_000, include_min=False), coerce=True),
            "total_charges": pa.Column("float64", pa.Check.ge(0), nullable=False, coerce=True),
            "support_calls": pa.Column("int64", pa.Check.in_range(0, 1_000), nullable=False),
            "paperless_billing": pa.Column("int64", pa.Check.isin([0, 1]), nullable=False),
            "churned": pa.Column("int64", pa.Check.isin([0, 1]), nullable=False),
        },
        checks=pa.Check(lambda df: len(df) >= min_rows, error=f"dataset has fewer than {min_rows} rows"),
        unique=["customer_id", "event_time"],
        strict=False,
    )


def read_csvs(directory: Path) -> pd.DataFrame:
    """Every ``*.csv`` in ``directory``, in name order (a mounted cloud channel of batches)."""
    files = sorted(Path(directory).rglob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.csv file in {directory}")
    # Ids stay text even if they look numeric.
    return pd.concat([pd.read_csv(f, dtype={"customer_id": str}) for f in files], ignore_index=True)


def _problems(error: SchemaErrors | SchemaError) -> list[dict]:
    """Flatten pandera's failure cases into one record per (column, check)."""
    cases = error.failure_cases
    if cases is None or len(cases) == 0:
        return [{"column": None, "check": "schema", "count": 1, "examples": [str(error)]}]
    out = []
    cases = cases.assign(column=cases["column"].fillna("<dataframe>").astype(str))
    for (column, check), group in cases.groupby(["column", "check"], sort=True, dropna=False):
        examples = [str(v) for v in group["failure_case"].head(MAX_EXAMPLES)]
        out.append({"column": column, "check": str(check), "count": len(group), "examples": examples})
    return out


def validate(frame: pd.DataFrame, min_rows: int = 1) -> tuple[pd.DataFrame | None, dict]:
    """Return ``(validated_frame, report)``; the frame is None when validation fails."""
    report = {"rows": len(frame), "columns": list(frame.columns), "passed": True, "problems": []}
    try:
        validated = build_schema(min_rows).validate(frame, lazy=True)
    except (SchemaErrors, SchemaError) as exc:
        report["passed"] = False
        report["problems"] = _problems(exc)
        return None, report
    return validated, report


def format_problems(report: dict) -> str:
    """Human-readable summary; each line names the offending column."""
    lines = [f"data validation failed ({len(report['problems'])} problem(s)):"]
    for p in report["problems"]:
        shown = ", ".join(p["examples"])
        lines.append(f"  column {p['column']!r}: {p['check']} failed for {p['count']} value(s): {shown}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="dir with the raw CSV")
    parser.add_argument("--validated", type=Path, required=True, help="output dir for clean data")
    parser.add_argument("--report", type=Path, required=True, help="output dir for report.json")
    parser.add_argument("--min_rows", type=int, default=1, help="fail on smaller datasets")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.validated.mkdir(parents=True, exist_ok=True)
    args.report.mkdir(parents=True, exist_ok=True)

    validated, report = validate(read_csvs(args.raw), args.min_rows)
    (args.report / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    if validated is None:
        print(format_problems(report), file=sys.stderr)
        return 1
    validated.to_csv(args.validated / OUTPUT_FILE, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    print(f"validated {report['rows']} rows -> {args.validated / OUTPUT_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
