"""The laptop loop's report: one HTML page a person would rather look at than read.

Per drift check, each request column's distribution in the training baseline and in the captured
requests of that window (histograms for numbers, bar charts of shares for categories), with the
kit's statistic and the verdict; the registered versions; what retrained and why.
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

NUMERIC = ("int", "float")


def write_report(result: Any) -> Path:
    """Write ``<workdir>/report.html`` for a `LoopResult`; returns its path."""
    path = Path(result.workdir) / "report.html"
    sections = [_summary(result)]
    for number, check in enumerate(result.drift_checks, start=1):
        sections.append(_drift_section(number, check))
    page = _PAGE.format(title="mlops loop report", body="\n".join(sections))
    path.write_text(page, encoding="utf-8")
    return path


def _summary(result: Any) -> str:
    rows = "".join(
        f"<tr><td>{v.version}</td><td>{html.escape(v.status)}</td><td>{html.escape(v.trigger)}</td>"
        f"<td>{html.escape(_metrics(v.metrics))}</td><td>{html.escape(v.approved_by)}</td></tr>"
        for v in result.versions
    )
    retrain = (
        "".join(
            f"<li>round {r['round']}: {'started' if r['started'] else 'not started'}: {html.escape(r['why'])}</li>"
            for r in result.retrainings
        )
        or "<li>none</li>"
    )
    stopped = f"<p class=stop>Stopped: {html.escape(result.stopped)}</p>" if result.stopped else ""
    return (
        f"<h1>mlops loop</h1>{stopped}<h2>Registered versions</h2>"
        "<table><tr><th>version</th><th>status</th><th>trigger</th><th>metrics</th><th>approved by</th></tr>"
        f"{rows}</table><h2>Retraining</h2><ul>{retrain}</ul>"
    )


def _metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in sorted(metrics.items()))


def _drift_section(number: int, check: dict[str, Any]) -> str:
    head = f"<h2>Drift check {number} (version {check.get('version')})</h2>"
    if check["status"] == "skipped":
        return head + f"<p>Skipped: {html.escape(check['reason'])}</p>"
    baseline = pd.read_csv(check["baseline_path"])
    current = _captured(Path(check["capture_dir"]), check.get("window", {}).get("since"))
    rows, plots = [], []
    for name, found in check["features"].items():
        verdict = "DRIFT" if found["drifted"] else "ok"
        rows.append(
            f"<tr class={'drift' if found['drifted'] else 'ok'}><td>{html.escape(name)}</td>"
            f"<td>{found['statistic']}</td><td>{found['value']:.3f}</td><td>{verdict}</td></tr>"
        )
        if name in baseline.columns and name in current.columns:
            image = _plot(name, baseline[name], current[name], found)
            plots.append(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{image}'></figure>")
    table = (
        f"<p>{check['n_current']} captured requests vs {check['n_baseline']} training rows; threshold "
        f"{check['threshold']} (KS D for numbers, L-infinity for categories).</p>"
        "<table><tr><th>column</th><th>statistic</th><th>distance</th><th>verdict</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    return head + table + "<div class=plots>" + "".join(plots) + "</div>"


def _captured(capture: Path, since: str | None) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    start = datetime.fromisoformat(since) if since else None
    for path in sorted(capture.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if start is None or datetime.fromisoformat(entry["time"]) >= start:
                rows.extend(entry["request"])
    return pd.DataFrame(rows)


def _plot(name: str, baseline: pd.Series, current: pd.Series, found: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.2, 2.6), dpi=90)
    numeric = pd.api.types.is_numeric_dtype(baseline) and pd.api.types.is_numeric_dtype(current)
    if numeric and found["statistic"] == "ks":
        both = pd.concat([baseline, current])
        bins = 30 if both.nunique() > 30 else max(both.nunique(), 2)
        axis.hist(baseline, bins=bins, density=True, alpha=0.55, label="training")
        axis.hist(current, bins=bins, density=True, alpha=0.55, label="requests")
    else:
        shares = pd.DataFrame(
            {
                "training": baseline.astype(str).value_counts(normalize=True),
                "requests": current.astype(str).value_counts(normalize=True),
            }
        ).fillna(0.0)
        shares.plot.bar(ax=axis, alpha=0.8)
    axis.set_title(f"{name}: {found['statistic']} {found['value']:.3f}", fontsize=9)
    axis.legend(fontsize=7)
    axis.tick_params(labelsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1em; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
tr.drift td {{ background: #fde2e2; }}
.plots {{ display: flex; flex-wrap: wrap; gap: 0.5em; }}
.stop {{ color: #a00; font-weight: bold; }}
</style></head><body>
{body}
</body></html>
"""
