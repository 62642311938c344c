"""The Pulumi program: validate the stack's platform description, then let its cloud declare it."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.config import pulumi_getter, resolve
from providers.spec import SpecError


def main() -> dict[str, Any]:
    """Declare the platform of the current stack and export its outputs; returns them too."""
    try:
        provider, deployment = resolve(pulumi.get_stack(), pulumi_getter())
    except SpecError as exc:
        # RunError prints one line under `pulumi up`/`preview`, without a Python traceback.
        raise pulumi.RunError(f"invalid stack config: {exc}") from None
    outputs = provider.deploy(deployment)
    for key, value in outputs.items():
        pulumi.export(key, value)
    return outputs
