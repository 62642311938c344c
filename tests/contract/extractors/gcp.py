"""Read the portable settings back from what the GCP provider declares (resource inputs only)."""

from __future__ import annotations

import json
import re
from typing import Any

DYNAMIC = "pulumi-python:dynamic:Resource"


def _by_type(plan: Any, type_: str) -> list[Any]:
    return [r for r in plan.resources if r.type == type_]


def _schedule(plan: Any, trigger: str) -> dict[str, Any] | None:
    for r in _by_type(plan, "gcp:colab/schedule:Schedule"):
        if r.inputs["createPipelineJobRequest"]["pipelineJob"]["labels"].get("trigger") == trigger:
            return r.inputs
    return None


def _portable_group(feature_group: Any) -> str:
    """`<prefix>_<group>` -> `<group>`: the prefix is the offline dataset's, `<prefix>_features`."""
    dataset, _ = feature_group.inputs["bigQuery"]["bigQuerySource"]["inputUri"].rsplit(".", 2)[1:]
    prefix = dataset.removesuffix("_features") + "_"
    name = feature_group.inputs["name"]
    assert name.startswith(prefix), f"feature group {name!r} is not prefixed with {prefix!r}"
    return name.removeprefix(prefix)


def _tables(plan: Any) -> dict[str, list[dict[str, Any]]]:
    """tableId -> schema; a view (what a feature group reads) -> the schema of the table it selects from."""
    tables = {r.inputs["tableId"]: r.inputs for r in _by_type(plan, "gcp:bigquery/table:Table")}
    out = {}
    for table_id, inputs in tables.items():
        if "view" in inputs:
            base = re.search(r"FROM `[^`]+\.(\w+)`", inputs["view"]["query"]).group(1)
            out[table_id] = json.loads(tables[base]["schema"])
        else:
            out[table_id] = json.loads(inputs["schema"])
    return out


def _table(feature_group: Any) -> str:
    return feature_group.inputs["bigQuery"]["bigQuerySource"]["inputUri"].rsplit(".", 1)[1]


def _registered(plan: Any, feature_group: Any) -> list[str]:
    """The features Vertex AI registers in a feature group (AiFeatureGroupFeature), in order: the
    columns of its table that are features (not the kit's write stamp `mlops_written_at`)."""
    return [
        r.inputs["name"]
        for r in _by_type(plan, "gcp:vertex/aiFeatureGroupFeature:AiFeatureGroupFeature")
        if r.inputs["featureGroup"] == feature_group.inputs["name"]
    ]


def _feature_groups(plan: Any) -> dict[str, dict[str, Any]]:
    tables = _tables(plan)
    online = {
        group["featureGroupId"]
        for r in _by_type(plan, "gcp:vertex/aiFeatureOnlineStoreFeatureview:AiFeatureOnlineStoreFeatureview")
        for group in r.inputs["featureRegistrySource"]["featureGroups"]
    }
    out: dict[str, dict[str, Any]] = {}
    for r in _by_type(plan, "gcp:vertex/aiFeatureGroup:AiFeatureGroup"):
        schema = tables[_table(r)]
        entity = r.inputs["bigQuery"]["entityIdColumns"][0]
        event_time = next(c["name"] for c in schema if c["type"] == "TIMESTAMP" and c["mode"] == "REQUIRED")
        registered = _registered(plan, r)
        columns = [c["name"] for c in schema]
        assert all(f in columns for f in registered), f"{registered} not all columns of {columns}"
        out[_portable_group(r)] = {
            "entity": entity,
            "event_time": event_time,
            "online": r.inputs["name"] in online,
            "features": [c for c in columns if c in registered],
        }
    return out


def _feature_types(plan: Any) -> dict[str, dict[str, str]]:
    """group -> feature -> BigQuery column type, from the offline tables the feature groups read."""
    tables = _tables(plan)
    groups = _feature_groups(plan)
    out: dict[str, dict[str, str]] = {}
    for fg in _by_type(plan, "gcp:vertex/aiFeatureGroup:AiFeatureGroup"):
        name = _portable_group(fg)
        out[name] = {c["name"]: c["type"] for c in tables[_table(fg)] if c["name"] in groups[name]["features"]}
    return out


def _quality_gate(schedule: dict[str, Any]) -> tuple[str, float]:
    # BucketObject.content is a secret in pulumi-gcp (scrubbed from plans): read the spec the
    # training schedule carries, which is the same compiled pipeline.
    spec = json.loads(schedule["createPipelineJobRequest"]["pipelineJob"]["pipelineSpec"])
    tasks = spec["root"]["dag"]["tasks"]
    metric = tasks["read-metric"]["inputs"]["parameters"]["metric"]["runtimeValue"]["constant"]
    # The branch that registers (the other one fails the run): its trigger is `metric >= threshold`.
    conditions = [
        task["triggerPolicy"]["condition"]
        for component in [spec["root"], *spec["components"].values()]
        for task in (component.get("dag") or {}).get("tasks", {}).values()
        if "triggerPolicy" in task and not task["triggerPolicy"]["condition"].startswith("!")
    ]
    (condition,) = conditions
    threshold = float(condition.rsplit(">=", 1)[1])
    return metric, threshold


def extract(plan: Any) -> dict[str, Any]:
    dynamic = [r.inputs for r in _by_type(plan, DYNAMIC)]
    deployed = next((d for d in dynamic if "cpu_target" in d), None)
    approval = next((d for d in dynamic if "mode" in d), None)
    endpoint = _by_type(plan, "gcp:vertex/aiEndpoint:AiEndpoint")[0].inputs
    training = _schedule(plan, "schedule")
    monitor = _schedule(plan, "monitor")
    # No drift schedule when nothing is served (nothing to monitor).
    drift_spec = json.loads(monitor["createPipelineJobRequest"]["pipelineJob"]["pipelineSpec"]) if monitor else None
    params = training["createPipelineJobRequest"]["pipelineJob"]["runtimeConfig"]["parameterValues"] if training else {}
    email = next(
        r.inputs
        for r in _by_type(plan, "gcp:monitoring/notificationChannel:NotificationChannel")
        if r.inputs["type"] == "email"
    )
    return {
        "feature_groups": _feature_groups(plan),
        "feature_types": _feature_types(plan),
        "replicas": (int(deployed["min_replicas"]), int(deployed["max_replicas"])) if deployed else None,
        "cpu_target": int(deployed["cpu_target"]) if deployed else None,
        "data_capture_percent": round(endpoint["predictRequestResponseLoggingConfig"]["samplingRate"] * 100),
        "training_schedule": training["cron"] if training else None,
        "monitor_schedule": monitor["cron"] if monitor else None,
        "drift_threshold": (
            drift_spec["root"]["inputDefinitions"]["parameters"]["drift_threshold"]["defaultValue"]
            if drift_spec
            else None
        ),
        "quality_gate": _quality_gate(training) if training else None,
        "approval": params.get("approval")
        or (approval or {}).get("mode")
        or next(
            r.inputs["metadata"]["mlops-approval"]
            for r in _by_type(plan, "gcp:storage/bucketObject:BucketObject")
            if "mlops-approval" in (r.inputs.get("metadata") or {})
        ),
        "retrain_on_drift": any(
            "workflow" in r.inputs.get("destination", {}) for r in _by_type(plan, "gcp:eventarc/trigger:Trigger")
        ),
        "alert_email": email["labels"]["email_address"],
        "served_version": int(deployed["version"]) if deployed else None,
    }


# --- the one loop (LOOP-WAVE item 5): every key read from the declared resources -------------------


def _bundle_contract(plan: Any, code_uri: str) -> dict[str, Any] | None:
    """The data contract shipped in the code bundle at `code_uri` (its uploaded mlops_contract.json)."""
    bucket, _, prefix = code_uri.removeprefix("gs://").partition("/")
    for r in _by_type(plan, "gcp:storage/bucketObject:BucketObject"):
        if r.inputs.get("bucket") == bucket and r.inputs["name"] == f"{prefix}/mlops_contract.json":
            return json.loads(r.inputs["source"]["text"])
    return None


def _columns_in(filter_: str) -> list[str]:
    return re.findall(r'jsonPayload\.feature="([^"]+)"', filter_)


def _training_spec(plan: Any) -> dict[str, Any] | None:
    schedule = _schedule(plan, "schedule")
    if schedule is None:
        return None
    return json.loads(schedule["createPipelineJobRequest"]["pipelineJob"]["pipelineSpec"])


def _baseline_wired(plan: Any) -> bool | None:
    """The register task copies the kit training-data step's `baseline` output (None: no schedule)."""
    spec = _training_spec(plan)
    if spec is None:
        return None
    for component in [spec["root"], *spec["components"].values()]:
        for name, task in (component.get("dag") or {}).get("tasks", {}).items():
            if name == "register-model":
                channel = task["inputs"]["artifacts"]["baseline"]["componentInputArtifact"]
                return channel.endswith("-training-data-baseline")
    return False


def _hours(seconds: float) -> int | float:
    """Seconds as hours: an int when whole (as the AWS extractor reports them)."""
    hours = float(seconds) / 3600
    return int(hours) if hours.is_integer() else hours


def _cooldown_hours(source: str) -> int | float | None:
    found = re.search(r"sys\.now\(\) - (\d+)", source)
    return _hours(int(found.group(1))) if found else None


def extract_loop(plan: Any) -> dict[str, Any]:
    """The loop's keys (served, captured, baseline, drift metric and alarm columns; the statistic,
    window and cooldown; the rollout). None where the plan declares nothing for it (nothing served)."""
    monitor = _schedule(plan, "monitor")
    job = monitor["createPipelineJobRequest"]["pipelineJob"] if monitor else None
    code_uri = job["runtimeConfig"]["parameterValues"]["code_uri"] if job else None
    contract = _bundle_contract(plan, code_uri) if code_uri else None
    request = [c["name"] for c in contract["request"]] if contract else None
    drift_spec = json.loads(job["pipelineSpec"]) if job else None
    executor = next(iter(drift_spec["deploymentSpec"]["executors"].values()))["container"] if drift_spec else None
    # the kit's statistic: the drift job's entry point runs mlops_drift.py (providers/gcp/drift_job.py)
    statistic = "kit" if executor and "mlops_gcp_drift.py" in executor["args"] else None
    metrics = {r.inputs["name"]: r.inputs for r in _by_type(plan, "gcp:logging/metric:Metric")}
    drifted = next((m for m in metrics.values() if 'jsonPayload.kind="feature"' in m["filter"]), None)
    metric_columns = _columns_in(drifted["filter"]) if drifted else None
    alarm_columns = None
    for policy in _by_type(plan, "gcp:monitoring/alertPolicy:AlertPolicy"):
        for condition in policy.inputs["conditions"]:
            threshold = condition.get("conditionThreshold")
            if threshold and drifted and f'/user/{drifted["name"]}"' in threshold["filter"]:
                alarm_columns = metric_columns
    workflows = _by_type(plan, "gcp:workflows/workflow:Workflow")
    deployed = next((r.inputs for r in _by_type(plan, DYNAMIC) if "cpu_target" in r.inputs), None)
    return {
        # what the kit's serving container accepts: the request schema the model is saved with, from
        # the contract in the bundle the steps (and so training's mlops_model.save) run from
        "served_columns": request,
        # what the drift job decodes from the request-response log (step_io.read_captured)
        "captured_columns": request,
        # what the training-data step writes as `baseline/`, copied by the register step
        "baseline_columns": request if _baseline_wired(plan) in (True, None) and request else None,
        "drift_metric_columns": metric_columns,
        "alarm_columns": alarm_columns,
        "drift_statistic": statistic,
        "drift_window_hours": (
            _hours(drift_spec["root"]["inputDefinitions"]["parameters"]["window_seconds"]["defaultValue"])
            if drift_spec
            else None
        ),
        "retrain_cooldown_hours": _cooldown_hours(workflows[0].inputs["sourceContents"]) if workflows else None,
        # how the deployed model takes the traffic (providers/gcp/dynamic.py roll_out)
        "rollout": _rollout(deployed.get("rollout") or {"strategy": "all_at_once"}) if deployed else None,
    }


def _rollout(rollout: dict[str, Any]) -> dict[str, Any]:
    """What the deployed model's rollout does: only the knobs of its strategy take effect; all at
    once neither bakes nor rolls back."""
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


def feature_io(plan: Any) -> dict[str, list[str]]:
    """The feature groups the kit's feature-store steps write (`store-features`) and read back
    (`training-data`): the `$MLOPS_IO` compiled onto each task, whose tables the plan declares."""
    spec = _training_spec(plan)
    assert spec is not None, "no training schedule: the compiled spec is read from it"
    tables = {f"{t.inputs['datasetId']}.{t.inputs['tableId']}" for t in _by_type(plan, "gcp:bigquery/table:Table")}

    def groups(task: str) -> list[str]:
        (executor,) = [e for name, e in spec["deploymentSpec"]["executors"].items() if name.endswith(task)]
        env = {e["name"]: e["value"] for e in executor["container"].get("env", [])}
        features = json.loads(env["MLOPS_IO"])["features"]
        return sorted(g for g, where in features.items() if ".".join(where["table"].split(".")[-2:]) in tables)

    return {"written": groups("-store-features"), "read": groups("-training-data")}
