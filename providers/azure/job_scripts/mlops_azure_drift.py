"""The kit's drift step on Azure ML: one window of captured requests, the window ending at the
schedule's trigger time (`${{creation_context.trigger_time}}`, Microsoft Learn "Schedule machine
learning pipeline jobs", supported expressions) and starting at the schedule's previous fire time,
so consecutive runs read consecutive, non-overlapping windows (window = the schedule interval).

CLI: ``--baseline DIR --out DIR --threshold T --min_samples N --trigger_time TEXT --schedule JSON``
where JSON is the monitor schedule's parsed cron `{"minute": [...], "hour": [...], "dow": [...]}`
(UTC; day of week 0 = Sunday). Runs `mlops_drift.main` with ``--since``/``--until``; the result is
published by `mlops_io.publish_drift` (Azure: the Logs Ingestion API).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone

UTC = timezone.utc  # datetime.UTC is Python 3.11+; the image may run 3.9

MAX_LOOKBACK = timedelta(days=8)


def fires(at: datetime, schedule: dict[str, list[int]]) -> bool:
    return at.minute in schedule["minute"] and at.hour in schedule["hour"] and (at.isoweekday() % 7) in schedule["dow"]


def previous_fire(until: datetime, schedule: dict[str, list[int]]) -> datetime:
    """The last fire time strictly before `until` (minute resolution)."""
    at = until.replace(second=0, microsecond=0)
    if at == until:
        at -= timedelta(minutes=1)
    stop = until - MAX_LOOKBACK
    while at > stop:
        if fires(at, schedule):
            return at
        at -= timedelta(minutes=1)
    raise ValueError(f"the schedule {schedule} does not fire in the 8 days before {until.isoformat()}")


def trigger(text: str | None, schedule: dict[str, list[int]], now: datetime | None = None) -> datetime:
    """The window's end: the trigger time Azure ML passes, else the last fire time at or before now."""
    if text and "${{" not in text:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    current = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    return current if fires(current, schedule) else previous_fire(current, schedule)


def window(text: str | None, schedule: dict[str, list[int]], now: datetime | None = None) -> tuple[datetime, datetime]:
    until = trigger(text, schedule, now)
    return previous_fire(until, schedule), until


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threshold", required=True)
    parser.add_argument("--min_samples", required=True)
    parser.add_argument("--trigger_time", default="")
    parser.add_argument("--schedule", required=True, help="the parsed cron as JSON")
    args = parser.parse_args(argv)
    since, until = window(args.trigger_time, json.loads(args.schedule))
    print(f"drift window [{since.isoformat()}, {until.isoformat()})")
    import mlops_drift

    return mlops_drift.main(
        [
            "--baseline", args.baseline,
            "--out", args.out,
            "--threshold", args.threshold,
            "--min_samples", args.min_samples,
            "--since", since.isoformat(),
            "--until", until.isoformat(),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
