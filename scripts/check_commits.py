"""Commit messages since the rule was adopted: a short subject, a blank line before any body.

    python scripts/check_commits.py [--since COMMIT]

Issue 14 ("Habits, checked by .ci/run"): a subject of at most 72 characters that does not end with a
full stop, and, when there is a body (the why), a blank line between the two. Merge commits are
checked too. Commits before `SINCE` are left as they were written (history is not rewritten).
Exits 1 naming each commit that breaks a rule; 2 when git cannot list the range.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

SINCE = "c5a7f47"
"""The last commit before the rule: everything after it is checked."""
MAX_SUBJECT = 72


def problems(message: str) -> list[str]:
    """What is wrong with one commit message (empty when nothing)."""
    lines = message.rstrip("\n").split("\n")
    subject = lines[0]
    found = []
    if not subject.strip():
        found.append("empty subject")
    if len(subject) > MAX_SUBJECT:
        found.append(f"subject is {len(subject)} characters (at most {MAX_SUBJECT})")
    if subject.endswith("."):
        found.append("subject ends with a full stop")
    if len(lines) > 1 and lines[1].strip():
        found.append("no blank line between the subject and the body")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--since", default=SINCE)
    args = parser.parse_args()
    span = f"{args.since}..HEAD"
    known = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{args.since}^{{commit}}"], capture_output=True)
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], capture_output=True, text=True)
    if known.returncode != 0 and shallow.stdout.strip() == "true":
        # A shallow clone (CI fetching one commit) lacks the start of the span: check what it has
        # of the span's end, the newest commit.
        print(f"check_commits: shallow clone without {args.since}: checking HEAD only")
        span = "-1"
    listed = subprocess.run(["git", "log", "--format=%h%x00%B%x01", span], capture_output=True, text=True)
    if listed.returncode != 0:
        print(f"check_commits: git log {span} failed: {listed.stderr.strip()}", file=sys.stderr)
        return 2
    bad = 0
    for record in filter(str.strip, listed.stdout.split("\x01")):
        sha, message = record.strip("\n").split("\x00", 1)
        for problem in problems(message):
            print(f"{sha} {(message.splitlines() or [''])[0][:60]!r}: {problem}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
