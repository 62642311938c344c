"""Serving entry module: the kit's serving code (mlops_serve.py), under the name the clouds load."""

from __future__ import annotations

import sys

from mlops_serve import *  # noqa: F403
from mlops_serve import main

if __name__ == "__main__":
    sys.exit(main())
