"""`.ci/run` installs with the README's exact command, so what CI proves is what a user runs."""

from __future__ import annotations

import re
from pathlib import Path

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
    for check in ("python -m pip check", "ruff format --check .", "ruff check .", "python -m pytest -q"):
        assert check in ci
