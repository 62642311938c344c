"""The one error type for a stack description that breaks a rule (no imports: every layer uses it)."""

from __future__ import annotations


class SpecError(ValueError):
    """A platform description that breaks a rule. `key` is the dotted config path."""

    def __init__(self, key: str, rule: str) -> None:
        self.key = key
        self.rule = rule
        super().__init__(f"{key}: {rule}")
