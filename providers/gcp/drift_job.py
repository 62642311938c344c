"""The drift job's entry point on Vertex AI Pipelines, shipped as `mlops_gcp_drift.py`.

It only decides the window, then runs the kit's drift step (`mlops_drift.main`, the statistic every
cloud runs) with the GCP step I/O: the window is the schedule's interval ending at the time the
run was SCHEDULED for (`{{$.pipeline_job_schedule_time_utc}}`), so consecutive runs cover
consecutive windows whatever their start delay. A run started by hand (no schedule time) ends its
window when it was created.

CLI: ``--baseline DIR --out DIR --threshold T --min_samples N --window_seconds S --scheduled ISO
--created ISO``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone


def moment(text: str | None) -> datetime | None:
    """An RFC 3339 time as KFP fills a time placeholder (`2025-01-06T03:00:00Z`), or None when the
    placeholder was left unfilled (empty, or still `{{$...}}`)."""
    if not text or text.startswith("{{"):
        return None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)  # noqa: UP017 - the step image's Python may predate datetime.UTC


def window(
    scheduled: str | None, created: str | None, seconds: int, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """[since, until): `seconds` long, ending at the scheduled time (else creation time, else now)."""
    if seconds <= 0:
        raise ValueError(f"--window_seconds must be positive, got {seconds}")
    until = moment(scheduled) or moment(created) or now or datetime.now(timezone.utc)  # noqa: UP017
    return until - timedelta(seconds=seconds), until


def whole(text: str) -> int:
    """An integer parameter as KFP may render it (`100` or `100.0`)."""
    value = float(text)
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threshold", required=True)
    parser.add_argument("--min_samples", type=whole, required=True)
    parser.add_argument("--window_seconds", type=whole, required=True)
    parser.add_argument("--scheduled", default="")
    parser.add_argument("--created", default="")
    args = parser.parse_args(argv)
    since, until = window(args.scheduled, args.created, args.window_seconds)
    print(f"drift window: [{since.isoformat()}, {until.isoformat()})")
    import mlops_drift

    return mlops_drift.main(
        [
            "--baseline",
            args.baseline,
            "--out",
            args.out,
            "--threshold",
            str(args.threshold),
            "--min_samples",
            str(args.min_samples),
            "--since",
            since.isoformat(),
            "--until",
            until.isoformat(),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
