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
        capture = round(props["dataCollector"]["collections"]["request"]["samplingRate"] * 100)
        served = int(re.search(r"/versions/(\d+)$", props["model"]).group(1))

    training = _schedule(plan, "-training")
    gate = None
    if training:
        gate_inputs = training["action"]["jobDefinition"]["jobs"]["gate_register"]["inputs"]
        gate = (gate_inputs["metric"]["value"], float(gate_inputs["threshold"]["value"]))
    monitor = _schedule(plan, "-monitor")  # none when nothing is served
    drift = None
    if monitor:
        signal = monitor["action"]["monitorDefinition"]["signals"]["data-drift"]
        thresholds = {t["threshold"]["value"] for t in signal["metricThresholds"]}
        assert len(thresholds) == 1, thresholds
        drift = thresholds.pop()

    action_group = plan.one("azure-native:monitor:ActionGroup").inputs
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
