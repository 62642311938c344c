"""A small fake of the Vertex AI v1 and Cloud Logging v2 REST APIs: what `mlops` day-two commands call.

The real clients (google-cloud-aiplatform over REST, google-cloud-logging over HTTP) talk to it with
anonymous credentials. Written for tests/ops (tests/gcp/fake_vertex.py serves the dynamic providers'
tests and is left as it is). Every request is recorded.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from tests.local_server import Call, LocalServer

OPS = "type.googleapis.com/google.cloud.aiplatform.v1."
NOW = "2025-03-01T10:00:00Z"


def _not_found(what: str) -> tuple[int, dict[str, Any]]:
    return 404, {"error": {"code": 404, "message": f"{what} not found", "status": "NOT_FOUND"}}


@dataclass
class FakeGcp:
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    """'projects/../models/<id>@<n>' -> Model JSON (camelCase, as the API returns it)"""
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    log_entries: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)
    requests: list[tuple[str, str, str, Any]] = field(default_factory=list)

    # -- state helpers for tests
    def add_version(self, model: str, labels: dict[str, str], description: str, created: str, **extra: Any) -> str:
        number = 1 + max((int(k.split("@")[1]) for k in self.models if k.split("@")[0] == model), default=0)
        self.models[f"{model}@{number}"] = {
            "name": model,
            "displayName": model.rsplit("/", 1)[-1],
            "versionId": str(number),
            "versionAliases": ["default"] if number == 1 else [],
            "labels": dict(labels),
            "versionDescription": description,
            "versionCreateTime": created,
            "createTime": created,
            "artifactUri": f"gs://bucket/pipeline-root/run{number}/model",
            **extra,
        }
        return f"{model}@{number}"

    # -- the server
    def start(self) -> str:
        self.server = LocalServer(self._serve, methods=("GET", "POST", "PATCH"))
        return self.server.url

    def _serve(self, call: Call) -> tuple[int, Any]:
        body = call.json(empty={})
        self.requests.append((call.method, call.path, call.query, body))
        return self.answer(call.method, call.path, call.params(repeated="first"), body)

    def stop(self) -> None:
        self.server.stop()

    # -- answers
    def _resolve(self, name: str) -> str | None:
        base, _, ref = name.partition("@")
        versions = [k for k in self.models if k.split("@")[0] == base]
        if not ref:
            return max(versions, key=lambda k: int(k.split("@")[1]), default=None)
        if ref.isdigit():
            return name if name in self.models else None
        return next((k for k in versions if ref in self.models[k]["versionAliases"]), None)

    def answer(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if path == "/v2/entries:list":
            return 200, self._entries(body)
        name, _, verb = path.removeprefix("/v1/").partition(":")
        if name.endswith("/models") and verb == "copy":
            return self._copy(name.removesuffix("/models"), body)
        if "/models/" in name:
            return self._model(method, name, verb, query, body)
        if "/endpoints/" in name:
            if verb == "predict":
                return 200, {
                    "predictions": self.predictions or [0.5 for _ in body.get("instances", [])],
                    "deployedModelId": self.endpoints[name]["deployedModels"][0]["id"],
                    "modelVersionId": self.endpoints[name]["deployedModels"][0]["modelVersionId"],
                }
            return (200, self.endpoints[name]) if name in self.endpoints else _not_found(name)
        if "/schedules/" in name:
            return (200, self.schedules[name]) if name in self.schedules else _not_found(name)
        if name.endswith("/pipelineJobs"):
            if method == "POST":
                job = copy.deepcopy(body)
                job.update(name=f"{name}/{query['pipelineJobId']}", state="PIPELINE_STATE_PENDING", createTime=NOW)
                self.jobs[job["name"]] = job
                return 200, job
            return 200, {"pipelineJobs": self._jobs(name, query)}
        if "/pipelineJobs/" in name:
            return (200, self.jobs[name]) if name in self.jobs else _not_found(name)
        return _not_found(path)

    def _model(self, method: str, name: str, verb: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if verb == "listVersions":
            found = sorted((k for k in self.models if k.split("@")[0] == name), key=lambda k: int(k.split("@")[1]))
            return (200, {"models": [self.models[k] for k in found]}) if found else _not_found(name)
        key = self._resolve(name)
        if key is None:
            return _not_found(name)
        state = self.models[key]
        if verb == "mergeVersionAliases":
            for alias in body.get("versionAliases", []):
                if alias.startswith("-"):
                    state["versionAliases"] = [a for a in state["versionAliases"] if a != alias[1:]]
                elif alias not in state["versionAliases"]:
                    state["versionAliases"].append(alias)
        elif method == "PATCH":
            for path in query.get("updateMask", "").split(","):
                camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), path.strip())
                if camel:
                    state[camel] = body.get(camel, "" if camel != "labels" else {})
        return 200, state

    def _copy(self, parent: str, body: dict[str, Any]) -> tuple[int, Any]:
        source = self._resolve(body["sourceModel"])
        if source is None:
            return _not_found(body["sourceModel"])
        base = body.get("parentModel") or f"{parent}/models/{body.get('modelId') or 'generated-4711'}"
        copied = copy.deepcopy(self.models[source])
        number = 1 + max((int(k.split("@")[1]) for k in self.models if k.split("@")[0] == base), default=0)
        # What CopyModel keeps is documented in part: no aliases, the given encryption spec.
        copied.update(
            name=base,
            versionId=str(number),
            versionAliases=["default"] if number == 1 else [],
            versionCreateTime=NOW,
            encryptionSpec=body.get("encryptionSpec", {}),
        )
        self.models[f"{base}@{number}"] = copied
        return 200, {
            "name": f"{parent}/operations/copy{number}",
            "done": True,
            "response": {"@type": OPS + "CopyModelResponse", "model": base, "modelVersionId": str(number)},
        }

    def _jobs(self, parent: str, query: dict[str, str]) -> list[dict[str, Any]]:
        jobs = [j for n, j in self.jobs.items() if n.startswith(parent + "/")]
        match = re.fullmatch(r'display_name="([^"]*)"', query.get("filter", ""))
        if match:
            jobs = [j for j in jobs if j.get("displayName") == match.group(1)]
        jobs.sort(key=lambda j: j.get("createTime", ""), reverse="desc" in query.get("orderBy", ""))
        return jobs[: int(query.get("pageSize") or 100)]

    def _entries(self, body: dict[str, Any]) -> dict[str, Any]:
        log = re.search(r'logName="([^"]+)"', body.get("filter", ""))
        # every `jsonPayload.<field>="<value>"` clause of the filter (ANDed), as Cloud Logging reads it
        fields = re.findall(r'jsonPayload\.(\w+)="([^"]+)"', body.get("filter", ""))
        entries = [
            e
            for e in self.log_entries
            if (not log or e["logName"] == log.group(1)) and all(str(e["jsonPayload"].get(k)) == v for k, v in fields)
        ]
        entries.sort(key=lambda e: e["timestamp"], reverse=body.get("orderBy") == "timestamp desc")
        return {"entries": entries[: int(body.get("pageSize") or 1000)]}
