"""Entry point Pulumi runs (`main: infra/` in Pulumi.yaml)."""

import sys
from pathlib import Path

# Pulumi runs this file with infra/ on sys.path; the kit's packages sit one level up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.program import main  # noqa: E402

main()
