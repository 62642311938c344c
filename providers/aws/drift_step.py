"""The kit's drift step on AWS, shipped as `aws_drift.py` in the code bundle.

EventBridge Scheduler starts the drift job with the time it was scheduled for
(`<aws.scheduler.scheduled-time>`, "Adding context attributes in EventBridge Scheduler",
https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html):
the window is the schedule interval that ends there. Everything else is the kit's own
`mlops_drift.py`, with the AWS step I/O as `mlops_io`.

CLI: ``--until ISO --window_hours N`` and every `mlops_drift.py` argument but `--since/--until`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta


def window(until: str, hours: int) -> tuple[datetime, datetime]:
    """[since, until) of the check scheduled at `until` (ISO-8601, `Z` allowed) over `hours` hours."""
    end = datetime.fromisoformat(until.replace("Z", "+00:00"))
    return end - timedelta(hours=hours), end


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--until", required=True, help="the scheduled time (end of the window)")
    parser.add_argument("--window_hours", required=True, type=int, help="the schedule interval in hours")
    args, rest = parser.parse_known_args(argv)
    since, until = window(args.until, args.window_hours)
    import mlops_drift

    return mlops_drift.main([*rest, "--since", since.isoformat(), "--until", until.isoformat()])


if __name__ == "__main__":
    sys.exit(main())
