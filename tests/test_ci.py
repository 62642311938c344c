"""`.ci/run` installs with the README's exact command, so what CI proves is what a user runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pip_lines(text: str, venv: str) -> list[str]:
    return [
        line.strip().removeprefix(f"{venv}/bin/")
        for line in re.findall(rf"{re.escape(venv)}/bin/pip install[^\n&]*", text)
    ]


def test_ci_installs_with_the_readme_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    quick_start = readme[readme.index("## Quick start") : readme.index("Run the tests")]
    readme_install = _pip_lines(quick_start, ".venv")
    assert readme_install == ["pip install -U pip", 'pip install -e ".[dev]" -c constraints.txt']
    assert _pip_lines(ci, ".ci-venv") == readme_install
    checks = ("scripts/pip_check.sh", "scripts/check_commits.py", "ruff format --check .", "ruff check .", "mypy")
    for check in (*checks, "python -m pytest -q"):
        assert check in ci


@pytest.mark.parametrize(
    "report, ok",
    [
        ("No broken requirements found.", True),
        ("xgboost 1.7.6 is not supported on this platform", True),
        (
            "xgboost 1.7.6 is not supported on this platform\nfoo 1.0 has requirement bar>=2, but you have bar 1.0.",
            False,
        ),
        ("xgboost 2.1.1 is not supported on this platform", False),
        ("numpy 1.26.4 is not supported on this platform", False),
    ],
)
def test_pip_check_allows_only_the_one_known_false_report(tmp_path, report, ok):
    """scripts/pip_check.sh (run by .ci/run) passes pip check's own output but for one exact line."""
    import os
    import subprocess

    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{report}\nEOF\nexit {0 if report.startswith('No broken') else 1}\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = subprocess.run([str(ROOT / "scripts" / "pip_check.sh")], env=env, capture_output=True, text=True)
    assert (result.returncode == 0) is ok, result.stdout + result.stderr


def _check_commits():
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_commits", ROOT / "scripts" / "check_commits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "message, found",
    [
        ("Plan-time cache: the kit's whole code is in every key\n\nWhy it matters.\n", []),
        ("Short subject\n", []),
        ("x" * 72 + "\n", []),
        ("x" * 73 + "\n", ["subject is 73 characters (at most 72)"]),
        ("Fix the cache.\n", ["subject ends with a full stop"]),
        ("Subject\nbody on the next line\n", ["no blank line between the subject and the body"]),
        ("\n\nbody\n", ["empty subject"]),
    ],
)
def test_commit_messages_are_held_to_a_short_subject_and_a_separate_body(message, found):
    assert _check_commits().problems(message) == found
