"""A tiny fake of the Vertex AI v1 REST API: what the dynamic providers and the register step call.

The real google-cloud-aiplatform clients talk to it (transport="rest", an http:// api_endpoint,
anonymous credentials); every request is recorded so tests assert paths and bodies. It keeps the
state the calls change (model versions and their labels/aliases, each endpoint's deployed models
and traffic split), answers NOT_FOUND / ALREADY_EXISTS as the API does, and can leave a deployment
accepted but unfinished (`hang_deploys`), which is what an interrupted `pulumi up` leaves behind.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.local_server import Call, LocalServer

OPS = "type.googleapis.com/google.cloud.aiplatform.v1."


@dataclass
class Request:
    method: str
    path: str
    query: str
    body: dict[str, Any]


def _error(code: int, status: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {"error": {"code": code, "message": message, "status": status}}


@dataclass
class FakeVertex:
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    """'projects/../models/<id>@<version>' -> {"versionAliases": [...], "labels": {...}, and, for an
    uploaded version, "artifactUri" and "versionCreateTime" (the fake's clock at upload)}"""
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    """'projects/../endpoints/<id>' -> {"deployedModels": [...], "trafficSplit": {...},
    "privateServiceConnectConfig": {...}} (an endpoint is created on first use unless `strict`)"""
    requests: list[Request] = field(default_factory=list)
    next_deployed_id: int = 4242
    strict: bool = False
    """Unknown endpoints are NOT_FOUND (else they exist, empty, as Pulumi's AiEndpoint made them)."""
    hang_deploys: bool = False
    """DeployModel accepts the deployment but leaves it under way: its operation is not done and the
    endpoint does not list it yet (a DeployModel with the same id is ALREADY_EXISTS meanwhile), until
    `finish_deploys()`. What the next `pulumi up` finds after an interrupted one."""
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    pipeline_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """'projects/../pipelineJobs/<id>' -> PipelineJob JSON (CreatePipelineJob / ListPipelineJobs)."""
    now: float = 1_736_132_400.0
    """The fake's clock (epoch seconds): what it stamps `createTime` with."""
    metadata_stores: dict[str, dict[str, Any]] = field(default_factory=dict)
    """'projects/../metadataStores/<id>' -> the MetadataStore (CreateMetadataStore, GetMetadataStore)."""
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    """Cloud Monitoring's answer per deployed model id: {"predictions": n, "errors": n, "p99": ms}
    (`GET /v3/projects/P/timeSeries`, the one series each aggregated query returns)."""
    monitoring_denied: bool = False
    """timeSeries.list answers 403 PERMISSION_DENIED (an identity without roles/monitoring.viewer)."""
    counters: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """Points (end time, value) of a DELTA counter per metric.type, every series of it together: what
    timeSeries.list sums with ALIGN_SUM and REDUCE_SUM (the retraining workflow's drift query)."""
    counter_lag: float = 0.0
    """Seconds before a counter point is visible to timeSeries.list: logs-based metrics "may take up to
    10 minutes to update" (https://cloud.google.com/logging/docs/logs-based-metrics/troubleshooting)."""
    faults: list[tuple[str, str, int, str]] = field(default_factory=list)
    """(method, path fragment, HTTP code, status): the next request that matches gets that error,
    once (a 503 UNAVAILABLE, an ABORTED 409...)."""

    def start(self) -> str:
        self.lock = threading.Lock()
        self.server = LocalServer(self._serve, methods=("GET", "POST", "PATCH"))
        return self.server.url

    def _serve(self, call: Call) -> tuple[int, Any]:
        body = call.json(empty={})
        self.requests.append(Request(call.method, call.path, call.query, body))
        with self.lock:
            fault = next((f for f in self.faults if f[0] == call.method and f[1] in call.path), None)
            if fault is not None:
                self.faults.remove(fault)
                return _error(fault[2], fault[3], f"injected {fault[3]}")
            if call.path.startswith("/v3/"):
                return self.monitoring(call.method, call.path.removeprefix("/v3/"), call.params())
            path = call.path.removeprefix("/v1/").removeprefix("/ui/")
            return self.answer(call.method, path, body, call.params())

    def stop(self) -> None:
        self.server.stop()

    # --- models -----------------------------------------------------------------------------------

    def _resolve(self, name: str) -> str | None:
        """'<model>@<version>', '<model>@<alias>' or '<model>' (latest version) -> stored key."""
        base, _, ref = name.partition("@")
        versions = [k for k in self.models if k.split("@")[0] == base]
        if not ref:
            return max(versions, key=lambda k: int(k.split("@")[1]), default=None)
        if ref.isdigit():
            return name if name in self.models else None
        return next((k for k in versions if ref in self.models[k]["versionAliases"]), None)

    def _upload(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        base = body.get("parentModel") or f"{parent}/models/{body['modelId']}"
        version = 1 + max((int(k.split("@")[1]) for k in self.models if k.split("@")[0] == base), default=0)
        model = body["model"]
        self.models[f"{base}@{version}"] = {
            "versionAliases": list(model.get("versionAliases", [])),
            "labels": dict(model.get("labels", {})),
            "uploaded": model,
            "artifactUri": model.get("artifactUri", ""),
            "versionCreateTime": self._stamp(),
        }
        return {
            "name": f"{base}/operations/up{version}",
            "done": True,
            "response": {"@type": OPS + "UploadModelResponse", "model": base, "modelVersionId": str(version)},
        }

    def _model(self, name: str) -> dict[str, Any]:
        base, _, version = name.partition("@")
        state = self.models[name]
        return {
            "name": base,
            "versionId": version,
            "versionAliases": state["versionAliases"],
            "labels": state["labels"],
            **{k: state[k] for k in ("artifactUri", "versionCreateTime") if state.get(k)},
        }

    # --- endpoints --------------------------------------------------------------------------------

    def endpoint(self, name: str) -> dict[str, Any] | None:
        if name not in self.endpoints and not self.strict:
            self.endpoints[name] = {}
        state = self.endpoints.get(name)
        if state is not None:
            state.setdefault("deployedModels", [])
            state.setdefault("trafficSplit", {})
            state.setdefault("pending", [])
        return state

    def finish_deploys(self) -> None:
        """Every deployment under way completes: listed on its endpoint, its operation done."""
        with self.lock:
            for name, state in self.endpoints.items():
                for deployed in state.get("pending", []):
                    state["deployedModels"].append(deployed)
                    state["trafficSplit"] = {d["id"]: 0 for d in state["deployedModels"]} | {deployed["id"]: 100}
                    op = self.operations[f"{name}/operations/deploy-{deployed['id']}"]
                    op.update(done=True, response={"@type": OPS + "DeployModelResponse", "deployedModel": deployed})
                state["pending"] = []

    def _operation(self, name: str, response: dict[str, Any] | None) -> dict[str, Any]:
        op: dict[str, Any] = {"name": name, "done": response is not None}
        if response is not None:
            op["response"] = response
        self.operations[name] = op
        return op

    def _deploy(self, name: str, state: dict[str, Any], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        deployed = dict(body.get("deployedModel", {}))
        if not deployed.get("id"):
            self.next_deployed_id += 1
            deployed["id"] = str(self.next_deployed_id)
        if any(d["id"] == deployed["id"] for d in state["deployedModels"] + state["pending"]):
            return _error(409, "ALREADY_EXISTS", f"DeployedModel {deployed['id']} already exists on {name}")
        model, _, version = str(deployed.get("model", "")).partition("@")
        deployed["model"], deployed["modelVersionId"] = model, version
        if self.hang_deploys:
            state["pending"].append(deployed)
            return 200, self._operation(f"{name}/operations/deploy-{deployed['id']}", None)
        state["deployedModels"].append(deployed)
        split = {k if k != "0" else deployed["id"]: v for k, v in (body.get("trafficSplit") or {"0": 100}).items()}
        state["trafficSplit"] = {d["id"]: split.get(d["id"], 0) for d in state["deployedModels"]}
        op_name = f"{name}/operations/deploy-{deployed['id']}"
        response = {"@type": OPS + "DeployModelResponse", "deployedModel": {"id": deployed["id"]}}
        return 200, self._operation(op_name, response)

    def _mutate(self, name: str, state: dict[str, Any], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        wanted = body.get("deployedModel", {})
        target = next((d for d in state["deployedModels"] if d["id"] == wanted.get("id")), None)
        if target is None:
            return _error(404, "NOT_FOUND", f"DeployedModel {wanted.get('id')} not found on {name}")
        mask = body.get("updateMask", "")
        paths = mask.split(",") if isinstance(mask, str) else mask.get("paths", [])
        for path in paths:
            source, dest = wanted, target
            *parents, leaf = path.split(".")
            for p in parents:
                source, dest = source.get(p, {}), dest.setdefault(p, {})
            if leaf in source:
                dest[leaf] = source[leaf]
        response = {"@type": OPS + "MutateDeployedModelResponse", "deployedModel": target}
        return 200, self._operation(f"{name}/operations/mutate-{target['id']}", response)

    def _undeploy(self, name: str, state: dict[str, Any], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        deployed_id = body.get("deployedModelId")
        if not any(d["id"] == deployed_id for d in state["deployedModels"]):
            return _error(404, "NOT_FOUND", f"DeployedModel {deployed_id} not found on {name}")
        state["deployedModels"] = [d for d in state["deployedModels"] if d["id"] != deployed_id]
        state["trafficSplit"] = {k: v for k, v in state["trafficSplit"].items() if k != deployed_id}
        response = {"@type": OPS + "UndeployModelResponse"}
        return 200, self._operation(f"{name}/operations/undeploy-{deployed_id}", response)

    def _update(self, name: str, state: dict[str, Any], body: dict[str, Any], query: dict[str, str]):
        """UpdateEndpoint: only `trafficSplit` (the kit's only update). As the API documents it
        (proto Endpoint.traffic_split): ids of deployed models, percentages adding up to 100 (or empty)."""
        if query.get("updateMask") != "trafficSplit":
            return _error(400, "INVALID_ARGUMENT", f"the fake updates trafficSplit only, not {query.get('updateMask')}")
        split = {k: int(v) for k, v in (body.get("trafficSplit") or {}).items()}
        known = {d["id"] for d in state["deployedModels"]}
        if set(split) - known:
            return _error(400, "INVALID_ARGUMENT", f"trafficSplit names unknown deployed models {set(split) - known}")
        if split and sum(split.values()) != 100:
            return _error(400, "INVALID_ARGUMENT", f"trafficSplit adds up to {sum(split.values())}, not 100")
        state["trafficSplit"] = split
        return 200, {"name": name, **{k: v for k, v in state.items() if k != "pending"}}

    # --- Cloud Monitoring ---------------------------------------------------------------------------

    def monitoring(self, method: str, path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """projects.timeSeries.list with an aggregation that leaves one series (or none) per query:
        the filter's metric.type and metric.labels.deployed_model_id pick the answer in `metrics`."""
        if method != "GET" or not path.endswith("/timeSeries"):
            return _error(404, "NOT_FOUND", f"unknown path /v3/{path}")
        if self.monitoring_denied:
            return _error(
                403, "PERMISSION_DENIED", "Permission monitoring.timeSeries.list denied (or it may not exist)."
            )
        found = dict(re.findall(r'([\w.]+)="([^"]*)"', query.get("filter", "")))
        if found.get("metric.type") in self.counters:
            return self._sum_counter(found, query)
        answer = self.metrics.get(found.get("metric.labels.deployed_model_id", ""))
        kind = found.get("metric.type", "").rsplit("/", 1)[-1]
        if answer is None or kind not in ("prediction_count", "error_count", "prediction_latencies"):
            return 200, {}
        interval = {"startTime": query.get("interval.startTime"), "endTime": query.get("interval.endTime")}
        if kind == "prediction_latencies":
            if "p99" not in answer:
                return 200, {}
            value, value_type = {"doubleValue": float(answer["p99"])}, "DOUBLE"
        else:
            count = answer.get({"prediction_count": "predictions", "error_count": "errors"}[kind], 0)
            value, value_type = {"int64Value": str(int(count))}, "INT64"
        series = {
            "metric": {"type": found["metric.type"]},
            "resource": {"type": found.get("resource.type", "")},
            "metricKind": "DELTA" if value_type == "INT64" else "GAUGE",
            "valueType": value_type,
            "points": [{"interval": interval, "value": value}],
        }
        return 200, {"timeSeries": [series]}

    def _sum_counter(self, found: dict[str, str], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """One aligned point of a counter summed over the whole interval and across every series; the
        query must ask exactly that (alignment period = the interval, ALIGN_SUM, REDUCE_SUM, no
        grouping), else INVALID_ARGUMENT."""
        try:
            start = datetime.fromisoformat(query["interval.startTime"].replace("Z", "+00:00")).timestamp()
            end = datetime.fromisoformat(query["interval.endTime"].replace("Z", "+00:00")).timestamp()
        except (KeyError, ValueError) as exc:
            return _error(400, "INVALID_ARGUMENT", f"interval: {exc}")
        asked = {k: query.get(k) for k in ("aggregation.perSeriesAligner", "aggregation.crossSeriesReducer")}
        period = query.get("aggregation.alignmentPeriod", "")
        if asked != {"aggregation.perSeriesAligner": "ALIGN_SUM", "aggregation.crossSeriesReducer": "REDUCE_SUM"}:
            return _error(400, "INVALID_ARGUMENT", f"the fake sums counters only, not {asked}")
        if "aggregation.groupByFields" in query or period != f"{round(end - start)}s":
            return _error(
                400, "INVALID_ARGUMENT", f"the fake answers one aligned point, not {period} over {end - start}s"
            )
        if set(found) != {"metric.type", "resource.type"}:
            return _error(400, "INVALID_ARGUMENT", f"the fake filters on metric.type and resource.type only: {found}")
        visible = self.now - self.counter_lag
        total = sum(v for t, v in self.counters[found["metric.type"]] if start < t <= end and t <= visible)
        if not total:
            return 200, {}  # a counter with no point in the interval: no series at all
        series = {
            "metric": {"type": found["metric.type"]},
            "resource": {"type": found["resource.type"]},
            "metricKind": "DELTA",
            "valueType": "INT64",
            "points": [
                {
                    "interval": {"startTime": query["interval.startTime"], "endTime": query["interval.endTime"]},
                    "value": {"int64Value": str(int(total))},
                }
            ],
        }
        return 200, {"timeSeries": [series]}

    # --- pipeline jobs ----------------------------------------------------------------------------

    def _stamp(self) -> str:
        return datetime.fromtimestamp(self.now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _create_job(self, parent: str, body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        job_id = query.get("pipelineJobId") or f"job-{len(self.pipeline_jobs) + 1}"
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,127}", job_id):
            return _error(400, "INVALID_ARGUMENT", f"pipelineJobId {job_id!r} breaks /[a-z][0-9]-/ (< 128)")
        for key, value in (body.get("labels") or {}).items():  # proto PipelineJob.labels
            if not (re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key) and re.fullmatch(r"[a-z0-9_-]{0,63}", str(value))):
                return _error(400, "INVALID_ARGUMENT", f"label {key}={value!r}: lowercase letters, digits, _ and -")
        name = f"{parent}/pipelineJobs/{job_id}"
        if name in self.pipeline_jobs:
            return _error(409, "ALREADY_EXISTS", f"PipelineJob {name} already exists")
        job = {**body, "name": name, "state": "PIPELINE_STATE_PENDING", "createTime": self._stamp()}
        self.pipeline_jobs[name] = job
        return 200, job

    def _list_jobs(self, parent: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """ListPipelineJobs with the filter subset the kit sends: `field="value"` terms joined by AND
        (display_name, state, labels.<key>), ordered by create_time desc."""
        terms = [t.strip() for t in query.get("filter", "").split(" AND ") if t.strip()]
        wanted = []
        for term in terms:
            match = re.fullmatch(r'(display_name|state|labels\.[a-z0-9_-]+)\s*=\s*"([^"]*)"', term)
            if match is None:
                return _error(400, "INVALID_ARGUMENT", f"the fake cannot filter by {term!r}")
            wanted.append((match[1], match[2]))

        def value(job: dict[str, Any], key: str) -> Any:
            if key.startswith("labels."):
                return (job.get("labels") or {}).get(key.removeprefix("labels."))
            return job.get({"display_name": "displayName"}.get(key, key))

        found = [
            j
            for n, j in self.pipeline_jobs.items()
            if n.startswith(f"{parent}/") and all(value(j, k) == v for k, v in wanted)
        ]
        if query.get("orderBy", "create_time desc") != "create_time desc":
            return _error(
                400, "INVALID_ARGUMENT", f"the fake orders by create_time desc only, not {query['orderBy']!r}"
            )
        found.sort(key=lambda j: j["createTime"], reverse=True)
        size = int(query.get("pageSize") or 0)
        found = found[:size] if size else found
        return 200, ({"pipelineJobs": found} if found else {})

    def answer(
        self, method: str, path: str, body: dict[str, Any], query: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        query = query or {}
        if path.endswith("/pipelineJobs"):
            parent = path.removesuffix("/pipelineJobs")
            return self._create_job(parent, body, query) if method == "POST" else self._list_jobs(parent, query)
        if "/pipelineJobs/" in path and method == "GET":
            job = self.pipeline_jobs.get(path)
            return (200, job) if job else _error(404, "NOT_FOUND", f"{path} not found")
        name, _, verb = path.partition(":")
        if "/operations/" in name:
            op = self.operations.get(name)
            return (200, op) if op is not None else _error(404, "NOT_FOUND", f"{name} not found")
        if name.endswith("/models") and verb == "upload":
            return 200, self._upload(name.removesuffix("/models"), body)
        if "/models/" in name:
            key = self._resolve(name)
            if key is None:
                return _error(404, "NOT_FOUND", f"{name} not found")
            name = key
            state = self.models[name]
            if verb == "mergeVersionAliases":
                for alias in body.get("versionAliases", []):
                    if alias.startswith("-"):
                        state["versionAliases"] = [a for a in state["versionAliases"] if a != alias[1:]]
                    elif alias not in state["versionAliases"]:
                        state["versionAliases"].append(alias)
            elif method == "PATCH":
                state["labels"] = body.get("labels", {})
            return 200, self._model(name)
        if name.endswith("/metadataStores") and method == "POST":
            from urllib.parse import parse_qs

            store_id = parse_qs(self.requests[-1].query).get("metadataStoreId", ["default"])[0]
            full = f"{name}/{store_id}"
            if full in self.metadata_stores:
                return _error(409, "ALREADY_EXISTS", f"{full} already exists")
            self.metadata_stores[full] = {"name": full, **body}
            response = {"@type": OPS + "MetadataStore", **self.metadata_stores[full]}
            return 200, self._operation(f"{full}/operations/create", response)
        if "/metadataStores/" in name and method == "GET":
            store = self.metadata_stores.get(name)
            return (200, store) if store is not None else _error(404, "NOT_FOUND", f"{name} not found")
        if "/endpoints/" in name:
            state = self.endpoint(name)
            if state is None:
                return _error(404, "NOT_FOUND", f"{name} not found")
            if method == "GET" and not verb:
                return 200, {"name": name, **{k: v for k, v in state.items() if k != "pending"}}
            if method == "PATCH" and not verb:
                return self._update(name, state, body, query)
            handler = {
                "deployModel": self._deploy,
                "mutateDeployedModel": self._mutate,
                "undeployModel": self._undeploy,
            }
            if verb in handler:
                return handler[verb](name, state, body)
        return _error(404, "NOT_FOUND", f"unknown path {path}")
