"""A small model of Cloud Logging log-based metrics and Cloud Monitoring metric-threshold conditions,
enough to replay the kit's drift alerting from the resources the plan declares.

What it models (the documented behaviour; it is a model, not Google's code):
- a log-based counter metric (DELTA INT64) gets one point of value 1 per matching entry, labelled
  by its `labelExtractors` (`EXTRACT(jsonPayload.x)`), under the entry's monitored resource; a time
  series is one (resource, labels) combination ("Log-based metrics", https://cloud.google.com/logging/docs/logs-based-metrics);
- an aggregation aligns each series over `alignmentPeriod` (`ALIGN_SUM`: the points in
  (t - period, t]), then `crossSeriesReducer` `REDUCE_SUM` sums the aligned series, grouped by
  `groupByFields` (none: all into one) ("Behavior of metric-based alerting policies",
  https://cloud.google.com/monitoring/alerts/concepts-indepth);
- a threshold condition with `duration: 0s` is met for a resulting series whose value passes the
  threshold; a series with no data is not met under `EVALUATION_MISSING_DATA_INACTIVE`; an incident
  opens per resulting series that becomes met while none is open for it, and closes when its
  series is no longer met.
The Logging filter subset: terms joined by ` AND `, each `path="text"`, `path=true|false`,
`path>number`, or a parenthesised ` OR ` of such terms. Anything else raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TERM = re.compile(r'^(?P<path>[\w.]+)\s*(?P<op>=|>|<|>=|<=)\s*(?P<value>"[^"]*"|true|false|-?\d+(?:\.\d+)?)$')


def _field(entry: dict[str, Any], path: str) -> Any:
    value: Any = entry
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _term(entry: dict[str, Any], term: str) -> bool:
    term = term.strip()
    if term.startswith("(") and term.endswith(")"):
        return any(_term(entry, t) for t in _split(term[1:-1], " OR "))
    match = _TERM.match(term)
    if match is None:
        raise ValueError(f"the model cannot read the filter term {term!r}")
    got = _field(entry, match["path"])
    raw = match["value"]
    want: Any = raw[1:-1] if raw.startswith('"') else {"true": True, "false": False}.get(raw)
    if want is None:
        want = float(raw)
    op = match["op"]
    if op == "=":
        return got == want
    if got is None or isinstance(got, bool) or not isinstance(got, int | float):
        return False
    return {">": got > want, "<": got < want, ">=": got >= want, "<=": got <= want}[op]


def _split(text: str, sep: str) -> list[str]:
    """Split on `sep` outside parentheses and quotes."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        char = text[i]
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return parts


def matches(log_filter: str, entry: dict[str, Any]) -> bool:
    return all(_term(entry, t) for t in _split(log_filter, " AND "))


@dataclass(frozen=True)
class Point:
    time: float
    resource: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]
    value: float = 1.0


def metric_points(metric: dict[str, Any], entries: list[tuple[float, dict[str, Any]]]) -> list[Point]:
    """The points a log-based counter metric (the plan's `gcp:logging/metric:Metric` inputs) gets."""
    descriptor = metric.get("metricDescriptor") or {}
    if (descriptor.get("metricKind"), descriptor.get("valueType")) != ("DELTA", "INT64"):
        raise ValueError("the model counts DELTA INT64 log metrics only")
    points = []
    for at, entry in entries:
        if not matches(metric["filter"], entry):
            continue
        labels = {}
        for key, extractor in (metric.get("labelExtractors") or {}).items():
            found = re.fullmatch(r"EXTRACT\(([\w.]+)\)", extractor)
            if found is None:
                raise ValueError(f"the model cannot read the extractor {extractor!r}")
            labels[key] = str(_field(entry, found[1]))
        resource = entry["resource"]
        key = (("type", resource["type"]), *sorted(resource.get("labels", {}).items()))
        points.append(Point(at, key, tuple(sorted(labels.items()))))
    return points


def _seconds(duration: str) -> float:
    if not duration.endswith("s"):
        raise ValueError(f"duration {duration!r}")
    return float(duration[:-1])


def series_values(condition: dict[str, Any], points: list[Point], at: float) -> dict[tuple, float]:
    """The condition's resulting series at time `at`: group key -> value (series with no point in
    the alignment period are absent)."""
    (aggregation,) = condition["aggregations"]
    if aggregation.get("perSeriesAligner") != "ALIGN_SUM":
        raise ValueError("the model aligns with ALIGN_SUM only")
    period = _seconds(aggregation["alignmentPeriod"])
    aligned: dict[tuple, float] = {}
    for p in points:
        if at - period < p.time <= at:
            aligned[(p.resource, p.labels)] = aligned.get((p.resource, p.labels), 0.0) + p.value
    reducer = aggregation.get("crossSeriesReducer")
    if reducer is None:
        return aligned
    if reducer != "REDUCE_SUM":
        raise ValueError("the model reduces with REDUCE_SUM only")
    group_by = aggregation.get("groupByFields") or []
    out: dict[tuple, float] = {}
    for (resource, labels), value in aligned.items():
        fields = {**{f"resource.label.{k}": v for k, v in resource}, **{f"metric.label.{k}": v for k, v in labels}}
        key = tuple(fields.get(f.replace('"', "")) for f in group_by)
        out[key] = out.get(key, 0.0) + value
    return out


def incidents(condition: dict[str, Any], points: list[Point], times: list[float]) -> list[tuple[str, tuple, float]]:
    """("opened" | "closed", series, time) events of a threshold condition evaluated at `times`."""
    if condition.get("comparison") != "COMPARISON_GT" or _seconds(condition.get("duration", "0s")) != 0:
        raise ValueError("the model evaluates COMPARISON_GT with duration 0s only")
    if condition.get("evaluationMissingData") != "EVALUATION_MISSING_DATA_INACTIVE":
        raise ValueError("the model knows only EVALUATION_MISSING_DATA_INACTIVE (missing data is not met)")
    threshold = float(condition.get("thresholdValue", 0))
    open_: set[tuple] = set()
    events = []
    for at in times:
        values = series_values(condition, points, at)
        met = {key for key, value in values.items() if value > threshold}
        for key in sorted(met - open_, key=str):
            events.append(("opened", key, at))
        for key in sorted(open_ - met, key=str):
            events.append(("closed", key, at))
        open_ = met
    return events
