"""The portable cron grammar: exactly what every cloud's scheduler accepts, parsed once.

Five fields, UTC: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC), day of
week (0-7 or SUN-SAT; 0 and 7 are Sunday). Each field is a comma-separated list of items; an item
is `*`, a value, a range `a-b` (a <= b, names and numbers may mix: `1-fri`), or a step over `*`
or a range (`*/15`, `1-5/2`). Anything else, `L`, `W`, `#`, `?` among them, is refused: each
cloud's dialect has its own extensions and they do not mean the same thing everywhere.

Two more portable rules:
- a day of month and a day of week cannot both be restricted (EventBridge refuses it; unix cron
  reads it as "either", which nobody means twice);
- a schedule that never fires (`0 3 31 2 *`) is refused.

`parse()` returns a `Cron`: per field the set of values, plus the original text. Each cloud's
translate renders it into its dialect (`unix()` here is the plain five-field form GCP and Azure
take).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from providers.errors import SpecError

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# The longest month: February fires on the 29th in leap years, so 29 is accepted.
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class _Spec:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


_FIELDS = (
    _Spec("minute", 0, 59),
    _Spec("hour", 0, 23),
    _Spec("day of month", 1, 31),
    _Spec("month", 1, 12, MONTHS, 1),
    _Spec("day of week", 0, 7, DAYS, 0),
)


@dataclass(frozen=True)
class Field:
    """One field: the values it fires on (day of week: 0-6, Sunday = 0) and its text."""

    name: str
    values: frozenset[int]
    text: str
    low: int
    high: int

    @property
    def every(self) -> bool:
        """True when the field restricts nothing (`*`, `*/1`, `0-7` in day of week, ...)."""
        return self.values == frozenset(range(self.low, self.high + 1))

    def sorted(self) -> list[int]:
        return sorted(self.values)

    def progression(self) -> tuple[int, int] | None:
        """(start, step) when the values are start, start+step, ... up to the field's end, at
        least three of them (what `*/N` or `a-b/N` that runs to the end gives)."""
        values = self.sorted()
        if len(values) < 3:
            return None
        step = values[1] - values[0]
        if step <= 1 or values != list(range(values[0], self.high + 1, step)):
            return None
        return values[0], step


@dataclass(frozen=True)
class Cron:
    text: str
    """The expression as written (whitespace normalised)."""
    minute: Field
    hour: Field
    day_of_month: Field
    month: Field
    day_of_week: Field

    @property
    def fields(self) -> tuple[Field, Field, Field, Field, Field]:
        return (self.minute, self.hour, self.day_of_month, self.month, self.day_of_week)

    def unix(self) -> str:
        """The plain five-field form every unix-cron scheduler accepts: numbers, `*`, ranges,
        lists and `*/N`; no names, Sunday = 0."""
        return " ".join(render_field(f) for f in self.fields)


def render_field(field: Field, star: str = "*", steps: bool = True) -> str:
    """`*` when unrestricted, `*/N` for a progression from the field's start, else ranges and lists."""
    if field.every:
        return star
    progression = field.progression() if steps else None
    if progression is not None and progression[0] == field.low:
        return f"*/{progression[1]}"
    return compress(field.sorted())


def compress(values: list[int]) -> str:
    """[1, 2, 3, 5] -> `1-3,5`."""
    parts: list[str] = []
    start = prev = values[0]
    for value in [*values[1:], None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if value is not None:
            start = prev = value
    return ",".join(parts)


def _value(token: str, spec: _Spec, key: str, text: str) -> int:
    upper = token.upper()
    if spec.names and upper in spec.names:
        return spec.names.index(upper) + spec.name_base
    if not token.isdigit() and _EXTENSION.search(upper):
        raise SpecError(
            key, f"{text!r}: {token!r} uses a dialect extension (L, W, #, ?) that not every cloud accepts; {_GRAMMAR}"
        )
    if not token.isdigit():
        allowed = f"{spec.low}-{spec.high}" + (f" or {spec.names[0]}-{spec.names[-1]}" if spec.names else "")
        raise SpecError(key, f"{text!r}: {spec.name} {token!r} is not a value ({allowed}); {_GRAMMAR}")
    value = int(token)
    if not spec.low <= value <= spec.high:
        raise SpecError(key, f"{text!r}: {spec.name} {value} is out of range {spec.low}-{spec.high}")
    return value


_EXTENSION = re.compile(r"[#?]|^\d*[LW]$|^L|^LW$")
_GRAMMAR = "the portable cron takes numbers, names, '*', ranges a-b, lists a,b and steps */n or a-b/n"


def _field(source: str, spec: _Spec, key: str, text: str) -> Field:
    values: set[int] = set()
    for item in source.split(","):
        base, slash, step_text = item.partition("/")
        if not base:
            raise SpecError(key, f"{text!r}: empty item in the {spec.name} field; {_GRAMMAR}")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise SpecError(key, f"{text!r}: step {step_text!r} in the {spec.name} field must be a positive number")
            step = int(step_text)
        if base == "*":
            start, end = spec.low, spec.high
            if spec.name == "day of week":
                end = 6  # `*` is Sunday to Saturday once, not Sunday twice
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, spec, key, text), _value(last, spec, key, text)
            if start > end:
                raise SpecError(key, f"{text!r}: range {base!r} runs backwards; write it as two ranges or a list")
        else:
            if slash:
                raise SpecError(
                    key, f"{text!r}: a step applies to '*' or a range (e.g. */15 or 5-59/15), not to {item!r}"
                )
            start = end = _value(base, spec, key, text)
        values.update(range(start, end + 1, step))
    if spec.name == "day of week" and 7 in values:
        values.discard(7)
        values.add(0)
    high = 6 if spec.name == "day of week" else spec.high
    return Field(spec.name, frozenset(values), source, spec.low, high)


def parse(text: object, key: str) -> Cron:
    """Parse a portable five-field cron; any other input is a SpecError naming `key`."""
    if not isinstance(text, str):
        raise SpecError(key, f"must be a five-field cron expression in UTC (a string), got {text!r}")
    parts = text.split()
    if len(parts) != 5:
        raise SpecError(
            key, f"must be a five-field cron expression in UTC (minute hour day month weekday), got {text!r}"
        )
    normalised = " ".join(parts)
    fields = [_field(part, spec, key, normalised) for part, spec in zip(parts, _FIELDS, strict=True)]
    cron = Cron(normalised, *fields)
    if not cron.day_of_month.every and not cron.day_of_week.every:
        raise SpecError(
            key,
            f"{normalised!r} restricts both the day of month and the day of week (AWS refuses it, unix cron "
            "reads it as either); use '*' in one of them",
        )
    if not cron.day_of_month.every and not any(
        day <= _MONTH_DAYS[month - 1] for month in cron.month.values for day in cron.day_of_month.values
    ):
        raise SpecError(key, f"{normalised!r} never fires: no month in it has that day")
    return cron
