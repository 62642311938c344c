"""Recover the portable settings from an Azure plan's resource inputs."""

from __future__ import annotations

import json
import re
from typing import Any

ML = "azure-native:machinelearningservices:"


def _schedule(plan, suffix: str) -> dict[str, Any] | None:
    for r in plan.by_type(ML + "Schedule"):
        if r.inputs["name"].endswith(suffix):
            return r.inputs["properties"]
    return None


def _feature_types(plan) -> dict[str, dict[str, str]]:
    """group -> feature -> type, from the FeatureSetSpec.yaml Azure ML reads (uploaded as a blob)."""
    import yaml

    out: dict[str, dict[str, str]] = {}
    for r in plan.by_type("azure-native:storage:Blob"):
        name = r.inputs.get("blobName", "")
        if name.startswith("featuresets/") and name.endswith("/FeatureSetSpec.yaml"):
            spec = yaml.safe_load(r.inputs["source"]["text"])
            out[name.split("/")[1]] = {f["name"]: f["type"] for f in spec["features"]}
    return out


def extract(plan) -> dict[str, Any]:
    groups = {}
    for r in plan.by_type(ML + "FeaturesetVersion"):
        props = r.inputs["properties"]
        mat = props["materializationSettings"]
        # The spec as azure-ai-ml reads it (what Azure ML stores with the version).
        spec = json.loads(props["properties"]["featuresetProperties"])
        (entity,) = props["entities"]
        (index,) = spec["indexColumns"]
        assert entity == f"azureml:{index['ColumnName']}:1", (entity, index)
        groups[r.inputs["name"]] = {
            "entity": index["ColumnName"],
            "event_time": spec["source"]["timestampColumn"]["name"],
            "online": mat["storeType"] == "OnlineAndOffline",
            "features": [f["FeatureName"] for f in spec["features"]],
        }

    deployments = plan.by_type(ML + "OnlineDeployment")
    replicas = cpu = capture = served = None
    if deployments:
        props = deployments[0].inputs["properties"]
        # Managed deployments scale through Azure Monitor autoscale on the deployment's CPU.
        profile = plan.one("azure-native:monitor:AutoscaleSetting").inputs["profiles"][0]
        replicas = (int(profile["capacity"]["minimum"]), int(profile["capacity"]["maximum"]))
        (scale_out,) = [r for r in profile["rules"] if r["scaleAction"]["direction"] == "Increase"]
        cpu = int(scale_out["metricTrigger"]["threshold"])
        # The collector's one collection: the request columns the scoring script logs (model_inputs).
        (collection,) = props["dataCollector"]["collections"].values()
        capture = round(collection["samplingRate"] * 100)
        served = int(re.search(r"/versions/(\d+)$", props["model"]).group(1))

    training = _schedule(plan, "-training")
    gate = None
    if training:
        gate_inputs = training["action"]["jobDefinition"]["jobs"]["gate_register"]["inputs"]
        gate = (gate_inputs["metric"]["value"], float(gate_inputs["threshold"]["value"]))
    monitor = _schedule(plan, "-monitor")  # none when nothing is served
    drift = None
    if monitor and "monitorDefinition" in monitor["action"]:  # monitor.engine: builtin
        signal = monitor["action"]["monitorDefinition"]["signals"]["data-drift"]
        thresholds = {t["threshold"]["value"] for t in signal["metricThresholds"]}
        assert len(thresholds) == 1, thresholds
        drift = thresholds.pop()
    elif monitor:  # monitor.engine: kit: the drift check's own --threshold, which the alert repeats
        drift = float(_drift_args(plan)["threshold"])

    (action_group,) = [
        a.inputs
        for a in plan.by_type("azure-native:monitor:ActionGroup")
        if a.inputs["actionGroupName"].endswith("-drift")
    ]
    workflows = plan.by_type("azure-native:logic:Workflow")
    registry = plan.one(ML + "ModelContainer").inputs
    return {
        "feature_groups": groups,
        "feature_types": _feature_types(plan),
        "replicas": replicas,
        "cpu_target": cpu,
        "data_capture_percent": capture,
        "training_schedule": training["trigger"]["expression"] if training else None,
        "monitor_schedule": monitor["trigger"]["expression"] if monitor else None,
        "drift_threshold": drift,
        "quality_gate": gate,
        "approval": registry["properties"]["tags"]["approval"],
        "retrain_on_drift": bool(workflows) and bool(action_group.get("logicAppReceivers")),
        "alert_email": action_group["emailReceivers"][0]["emailAddress"],
        "served_version": served,
    }


# ---- the one loop (LOOP-WAVE item 5): what serving, capture, baseline, drift and alarms use ----

LOOP_KEYS = {
    "served_columns",  # [request column names] the scoring script accepts (its request schema)
    "captured_columns",  # what the data collector logs
    "baseline_columns",  # the drift baseline's columns
    "drift_metric_columns",  # one drift metric per column
    "alarm_columns",  # the columns an alert fires on
    "drift_statistic",  # "kit" or the builtin monitor's metric name
    "drift_window_hours",
    "retrain_cooldown_hours",
    "rollout",  # {strategy, canary_percent, step_percent, bake_minutes, rollback}
}


def _code_contract(plan, code_id: str) -> dict[str, Any]:
    """The data contract (mlops_contract.json) in the code asset version `code_id` names."""
    version = code_id.rstrip("/").rsplit("/", 1)[-1]
    (blob,) = [
        r.inputs
        for r in plan.by_type("azure-native:storage:Blob")
        if r.inputs.get("blobName", "").endswith(f"/{version}/mlops_contract.json")
    ]
    return json.loads(blob["source"]["text"])


def _drift_component(plan) -> dict[str, Any] | None:
    found = [r.inputs for r in plan.by_type(ML + "ComponentVersion") if r.inputs["name"].endswith("_drift")]
    return found[0]["properties"]["componentSpec"] if found else None


def _drift_args(plan) -> dict[str, str]:
    """The drift check's command-line options (`--threshold 0.2 --schedule '{...}'`)."""
    import shlex

    spec = _drift_component(plan)
    words = shlex.split(spec["command"]) if spec else []
    return {w[2:]: words[i + 1] for i, w in enumerate(words) if w.startswith("--") and i + 1 < len(words)}


def _iso_hours(text: str) -> float:
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", text)
    assert m, text
    days, hours, minutes = (int(g or 0) for g in m.groups())
    return days * 24 + hours + minutes / 60


def _window_hours(schedule: dict[str, list[int]]) -> float | tuple[float, ...]:
    """The drift wrapper's window: from the schedule's previous fire time to this one (hours); an
    irregular schedule has several (returned as a tuple)."""
    week = sorted(d * 1440 + h * 60 + m for d in schedule["dow"] for h in schedule["hour"] for m in schedule["minute"])
    gaps = {(b - a) / 60 for a, b in zip(week, [*week[1:], week[0] + 7 * 1440], strict=True)}
    return gaps.pop() if len(gaps) == 1 else tuple(sorted(gaps))


def _alarm_columns(query: str, published: list[str]) -> list[str]:
    """The columns a drift alert fires on: every published one unless its query narrows `Feature`."""
    narrowed = re.search(r"Feature\s+in\s*\(([^)]*)\)", query)
    if narrowed:
        names = re.findall(r'"([^"]+)"', narrowed.group(1))
        return [c for c in published if c in names]
    single = re.findall(r'Feature\s*==\s*"([^"]+)"', query)
    return [c for c in published if c in single] if single else list(published)


def _cooldown_hours(definition: dict[str, Any]) -> float | None:
    """The Logic App's cooldown: `addHours(utcNow(), -N)` in the query of recent drift runs."""
    text = json.dumps(definition)
    found = re.findall(r"addHours\(utcNow\(\), -(\d+(?:\.\d+)?)\)", text)
    return float(found[0]) if found else None


def _whole(value: float | None) -> float | int | None:
    return int(value) if value is not None and float(value).is_integer() else value


def _rollout(rollout: dict[str, Any]) -> dict[str, Any]:
    """What the traffic resource does (providers/azure/dynamic.py roll_out): only the knobs of its
    strategy take effect; all at once neither bakes nor rolls back."""
    strategy = rollout["strategy"]
    if strategy == "all_at_once":
        return {"strategy": strategy, "canary_percent": None, "step_percent": None, "bake_minutes": 0, "rollback": {}}
    rollback = {k: v for k, v in (rollout.get("rollback_on") or {}).items() if v is not None}
    return {
        "strategy": strategy,
        "canary_percent": int(rollout["canary_percent"]) if strategy == "canary" else None,
        "step_percent": int(rollout["step_percent"]) if strategy == "linear" else None,
        "bake_minutes": int(rollout["bake_minutes"]),
        "rollback": rollback,
    }


def extract_loop(plan) -> dict[str, Any]:
    """The loop's keys, each read from the declared resources. None where nothing declares it (no
    version served: no deployment, no drift check, no alert)."""
    out: dict[str, Any] = dict.fromkeys(LOOP_KEYS)
    deployments = [d.inputs for d in plan.by_type(ML + "OnlineDeployment") if "dataCollector" in d.inputs["properties"]]
    served: list[str] | None = None
    if deployments:
        props = deployments[0]["properties"]
        code = props["codeConfiguration"]
        served = [c["name"] for c in _code_contract(plan, code["codeId"])["request"]]
        out["served_columns"] = served
        # The scoring script logs the decoded request columns, exactly those, as `model_inputs`;
        # a `request`/`response` collection would be the raw payload (no columns).
        collections = props["dataCollector"]["collections"]
        tabular = code["scoringScript"] == "mlops_azure_score.py" and set(collections) == {"model_inputs"}
        out["captured_columns"] = served if tabular else None
    monitor = _schedule(plan, "-monitor")
    if monitor and "monitorDefinition" in monitor["action"]:  # Azure ML's own monitor
        signal = monitor["action"]["monitorDefinition"]["signals"]["data-drift"]
        (metric,) = {t["metric"] for t in signal["metricThresholds"]}
        columns = list(signal["features"]["features"]) if signal["features"]["filterType"] == "FeatureSubset" else None
        out["drift_statistic"] = metric
        out["drift_metric_columns"] = columns
        out["alarm_columns"] = columns  # the breach tag covers every monitored column
        out["baseline_columns"] = columns  # the signal compares these columns of the reference
        out["drift_window_hours"] = _whole(_iso_hours(signal["productionData"]["windowSize"]))
    elif monitor:  # the kit's drift check
        spec = _drift_component(plan)
        contract = _code_contract(plan, spec["code"].removeprefix("azureml:"))
        published = [c["name"] for c in contract["request"]]  # mlops_drift: one row per request column
        out["drift_statistic"] = "kit" if spec["command"].startswith("python mlops_azure_drift.py ") else None
        out["baseline_columns"] = published  # training_data's baseline/: the request columns
        out["drift_metric_columns"] = published
        window = _window_hours(json.loads(_drift_args(plan)["schedule"]))
        out["drift_window_hours"] = _whole(window) if not isinstance(window, tuple) else window
        rules = [
            r.inputs
            for r in plan.by_type("azure-native:monitor:ScheduledQueryRule")
            if r.inputs["ruleName"].endswith("-drift")
        ]
        if rules:
            query = rules[0]["criteria"]["allOf"][0]["query"]
            out["alarm_columns"] = _alarm_columns(query, published)
    workflows = plan.by_type("azure-native:logic:Workflow")
    if workflows:
        out["retrain_cooldown_hours"] = _whole(_cooldown_hours(workflows[0].inputs["definition"]))
    traffic = [r.inputs for r in plan.by_type("pulumi-python:dynamic:Resource") if "rollout" in r.inputs]
    if traffic:
        out["rollout"] = _rollout(traffic[0]["rollout"])
    return out


def feature_io(plan) -> dict[str, list[str]]:
    """The feature groups the kit's feature-store steps write (`store_features`) and read back
    (`training_data`): the feature sets whose declared source folder is where `$MLOPS_IO` of each
    node puts a group (`<container>@<account>/<prefix><group>/`)."""
    from urllib.parse import urlparse

    schedule = _schedule(plan, "-training")
    jobs = schedule["action"]["jobDefinition"]["jobs"] if schedule else {}
    sources = {
        v.inputs["name"]: json.loads(v.inputs["properties"]["properties"]["featuresetProperties"])["source"]["path"]
        for v in plan.by_type(ML + "FeaturesetVersion")
    }

    def groups(node: str) -> list[str]:
        where = json.loads(jobs[node]["environment_variables"]["MLOPS_IO"])["features"]
        account = (urlparse(where["account_url"]).hostname or "").split(".")[0]
        folder = f"abfss://{where['container']}@{account}.dfs.core.windows.net/{where['prefix']}"
        return sorted(g for g, path in sources.items() if path == f"{folder}{g}/")

    return {"written": groups("store_features"), "read": groups("training_data")}
