"""`mlops diff BASE.json HEAD.json`: what a change to a stack does, in ML terms and per resource."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.cli import EXIT_DANGER, EXIT_INVALID, EXIT_OK, check_output, command, write_output
from infra.diff import PlanFileError, diff_plans, load_plan, render_json, render_markdown


def _diff_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", type=Path, help="plan before the change (mlops plan --format json)")
    parser.add_argument("head", type=Path, help="plan after the change")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
    parser.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    parser.add_argument(
        "--fail-on-danger",
        action="store_true",
        help=f"exit {EXIT_DANGER} when a change deletes or replaces data or a protected resource",
    )


def _diff(args: argparse.Namespace) -> int:
    check_output(args.output)
    try:
        base, head = load_plan(args.base), load_plan(args.head)
    except PlanFileError as exc:
        print(f"mlops diff: {exc}", file=sys.stderr)
        return EXIT_INVALID
    diff = diff_plans(base, head)
    text = render_json(diff) if args.format == "json" else render_markdown(diff)
    if args.output:
        write_output(args.output, text)
    else:
        sys.stdout.write(text)
    if diff.dangerous:
        print(f"mlops diff: {len(diff.dangerous)} dangerous change(s) in {diff.stacks}", file=sys.stderr)
        if args.fail_on_danger:
            return EXIT_DANGER
    return EXIT_OK


command("diff", "compare two offline plans: platform changes, resource changes, dangerous changes")((_diff_args, _diff))
