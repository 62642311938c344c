"""A small fake of Azure Resource Manager for the `mlops` day-two commands: Azure ML model versions,
online endpoints and deployments, schedules, jobs (any number of workspaces), an endpoint's scoring
URI, and Azure Monitor's fired alerts. The real azure-ai-ml MLClient talks to it (see `ml_client`).

Written for tests/ops (tests/azure/fake_arm.py serves one workspace for the provider tests and is
left as it is). Every request is recorded; an unknown path answers 404 naming it.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ML = "Microsoft.MachineLearningServices"
_WS = re.compile(
    rf"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/{ML}/workspaces/(?P<ws>[^/]+)(?P<rest>/.*)?$",
    re.IGNORECASE,
)
_ALERTS = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.AlertsManagement/alerts$", re.IGNORECASE)
CREATED = "2025-01-01T03:00:00Z"


def workspace_id(sub: str, rg: str, ws: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{ML}/workspaces/{ws}"


class FakeAzure:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.models: dict[tuple[str, str, str], dict[str, Any]] = {}
        """(workspace id, model, version) -> model version resource"""
        self.endpoints: dict[tuple[str, str], dict[str, Any]] = {}
        self.deployments: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.schedules: dict[tuple[str, str], dict[str, Any]] = {}
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.scheduled: dict[tuple[str, str], set[str]] = {}
        """(workspace id, schedule) -> names of the jobs it created"""
        self.alerts: list[dict[str, Any]] = []
        self.rules: dict[str, dict[str, Any]] = {}
        """log search alert rule id (lower case) -> its resource (Scheduled Query Rules - Get)"""
        self.logs: dict[str, list[dict[str, Any]]] = {}
        """Log Analytics workspace id (lower case) -> rows of MlopsDrift_CL"""
        self.scores: list[Any] = []
        self.answer_score: Any = [0.5]
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                fake.requests.append((method, self.path, body))
                code, answer = fake.answer(method, parts.path, query, body, dict(self.headers))
                self._send(code, answer)

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_PUT(self) -> None:  # noqa: N802
                self._handle("PUT")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_PATCH(self) -> None:  # noqa: N802
                self._handle("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAzure:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- state helpers for tests
    def add_model(self, ws: str, name: str, version: str, tags: dict[str, str], uri: str, created: str) -> str:
        rid = f"{ws}/models/{name}/versions/{version}"
        self.models[(ws, name, version)] = {
            "id": rid,
            "name": version,
            "type": f"{ML}/workspaces/models/versions",
            "properties": {
                "modelType": "custom_model",
                "modelUri": uri,
                "tags": dict(tags),
                "properties": {},
                "isArchived": False,
                "flavors": {},
                "description": "registered by the quality gate",
            },
            "systemData": {"createdAt": created, "createdBy": "pipeline", "lastModifiedAt": created},
        }
        return rid

    def add_endpoint(self, ws: str, name: str, traffic: dict[str, int], deployments: dict[str, str]) -> str:
        """An endpoint with its deployments (deployment -> model version ARM id)."""
        rid = f"{ws}/onlineEndpoints/{name}"
        self.endpoints[(ws, name)] = {
            "id": rid,
            "name": name,
            "type": f"{ML}/workspaces/onlineEndpoints",
            "location": "westeurope",
            "kind": "Managed",
            "identity": {"type": "SystemAssigned"},
            "properties": {
                "authMode": "AADToken",
                "traffic": traffic,
                "scoringUri": f"{self.url}/score/{name}",
                "provisioningState": "Succeeded",
                "publicNetworkAccess": "Disabled",
            },
        }
        self.deployments[(ws, name)] = [
            {
                "id": f"{rid}/deployments/{d}",
                "name": d,
                "type": f"{ML}/workspaces/onlineEndpoints/deployments",
                "location": "westeurope",
                "kind": "Managed",
                "sku": {"name": "Default", "capacity": 1},
                "properties": {
                    "endpointComputeType": "Managed",
                    "model": model,
                    "instanceType": "Standard_DS2_v2",
                    "scaleSettings": {"scaleType": "Default"},
                    "provisioningState": "Succeeded",
                },
            }
            for d, model in deployments.items()
        ]
        return rid

    def add_job(self, ws: str, name: str, experiment: str, status: str, tags: dict[str, str], times: tuple[str, str]):
        self.jobs[(ws, name)] = {
            "id": f"{ws}/jobs/{name}",
            "name": name,
            "type": f"{ML}/workspaces/jobs",
            "properties": {
                "jobType": "Pipeline",
                "status": status,
                "experimentName": experiment,
                "displayName": experiment,
                "tags": dict(tags),
                "properties": {},
                "inputs": {},
                "outputs": {},
                "jobs": {},
                "settings": {},
            },
            "systemData": {"createdAt": times[0], "lastModifiedAt": times[1]},
        }

    def _query(self, workspace: str, body: Any) -> tuple[int, Any]:
        """The Log Analytics query API for the one query the kit sends (the newest check of a
        monitor): the rows of that monitor with the largest TimeGenerated, in its projection."""
        query = str((body or {}).get("query", ""))
        monitor = re.search(r'Monitor == "([^"]+)"', query)
        projected = re.search(r"\| project (.+)$", query.strip())
        if workspace.lower() not in self.logs or not monitor or not projected:
            return 400, {"error": {"code": "BadArgumentError", "message": f"cannot answer {query!r}"}}
        names = [n.strip() for n in projected.group(1).split(",")]
        rows = [r for r in self.logs[workspace.lower()] if r["Monitor"] == monitor.group(1)]
        last = max((r["TimeGenerated"] for r in rows), default=None)
        rows = [r for r in rows if r["TimeGenerated"] == last]
        columns = [{"name": n, "type": "string"} for n in names]
        return 200, {
            "tables": [{"name": "PrimaryResult", "columns": columns, "rows": [[r.get(n) for n in names] for r in rows]}]
        }

    # -- answers
    def answer(self, method: str, path: str, query: dict[str, str], body: Any, headers: dict[str, str]):
        if path == "/discovery":  # the workspace's discovery document: every data-plane service is here
            return 200, {"api": self.url, "history": self.url, "catalog": self.url, "experimentation": self.url}
        if path.startswith("/history/v1.0/"):
            return self._history(method, path.removeprefix("/history/v1.0"), body)
        if path.startswith("/score/"):
            self.scores.append({"body": body, "headers": headers})
            return 200, self.answer_score
        if path.startswith("/v1/") and path.endswith("/query") and method == "POST":
            return self._query(path.removeprefix("/v1").removesuffix("/query"), body)
        if "/providers/microsoft.insights/scheduledqueryrules/" in path.lower() and method == "GET":
            rule = self.rules.get(path.lower())
            return (200, rule) if rule else (404, {"error": {"code": "ResourceNotFound", "message": path}})
        if _ALERTS.match(path):
            rule = query.get("alertRule", "").lower()
            return 200, {"value": [a["alert"] for a in self.alerts if a["rule"].lower() == rule]}
        m = _WS.match(path)
        if not m:
            return 404, {"error": {"code": "NotFound", "message": f"unknown path {path}"}}
        ws = workspace_id(m["sub"], m["rg"], m["ws"])
        rest = (m["rest"] or "").split("/")[1:]
        if rest[:1] == ["models"]:
            return self._models(method, ws, rest[1:], body)
        if rest[:1] == ["onlineEndpoints"] and len(rest) >= 2:
            key = (ws, rest[1])
            if key not in self.endpoints:
                return 404, {"error": {"code": "NotFound", "message": f"no endpoint {rest[1]}"}}
            if len(rest) == 2 and method == "GET":
                return 200, self.endpoints[key]
            if rest[2:] == ["deployments"] and method == "GET":
                return 200, {"value": self.deployments[key]}
            if rest[2:] == ["token"] and method == "POST":
                return 200, {"accessToken": "endpoint-token", "expiryTimeUtc": 4102444800, "tokenType": "Bearer"}
        if rest[:1] == ["schedules"] and len(rest) >= 2:
            key = (ws, rest[1])
            if key not in self.schedules:
                return 404, {"error": {"code": "NotFound", "message": f"no schedule {rest[1]}"}}
            if len(rest) == 2 and method == "GET":
                return 200, self.schedules[key]
            if rest[2:] == ["trigger"] and method == "POST":
                name = f"{rest[1]}-once-{len(self.jobs) + 1}"
                experiment = self.schedules[key]["properties"]["action"]["jobDefinition"]["experimentName"]
                self.add_job(ws, name, experiment, "NotStarted", {}, (body["scheduleTime"], body["scheduleTime"]))
                self.scheduled.setdefault(key, set()).add(name)
                return 200, {"submissionId": name, "scheduleActionType": "CreateJob"}
        if rest[:1] == ["jobs"]:
            if len(rest) == 1 and method == "GET":
                jobs = [j for (w, n), j in self.jobs.items() if w == ws]
                if query.get("scheduleId"):
                    names = self.scheduled.get((ws, query["scheduleId"]), set())
                    jobs = [j for j in jobs if j["name"] in names]
                return 200, {"value": jobs}
            if len(rest) == 2 and method == "GET":
                job = self.jobs.get((ws, rest[1]))
                return (200, job) if job else (404, {"error": {"code": "NotFound", "message": rest[1]}})
        if rest[:1] == ["datastores"] and len(rest) == 2 and method == "GET":
            return 200, {
                "id": f"{ws}/datastores/{rest[1]}",
                "name": rest[1],
                "type": f"{ML}/workspaces/datastores",
                "properties": {
                    "datastoreType": "AzureBlob",
                    "accountName": f"{m['ws'].replace('-', '')}sa",
                    "containerName": "azureml-blobstore-0000",
                    "endpoint": "core.windows.net",
                    "protocol": "https",
                    "credentials": {"credentialsType": "None"},
                    "isDefault": True,
                },
            }
        if not rest and method == "GET":
            return 200, {
                "id": ws,
                "name": m["ws"],
                "location": "westeurope",
                "properties": {"workspaceId": "guid", "discoveryUrl": f"{self.url}/discovery"},
            }
        return 404, {"error": {"code": "NotFound", "message": f"unknown path {path}"}}

    def _history(self, method: str, path: str, body: Any):
        """RunHistory: what `jobs.update(name, tags=...)` calls (tags merged into the job)."""
        m = _WS.match(path)
        rest = ((m and m["rest"]) or "").split("/")[1:]
        if m and len(rest) == 4 and rest[0] == "experiments" and rest[2] == "runs" and method in ("PATCH", "POST"):
            ws = workspace_id(m["sub"], m["rg"], m["ws"])
            job = self.jobs.get((ws, rest[3]))
            if job is None:
                return 404, {"error": {"code": "NotFound", "message": rest[3]}}
            job["properties"]["tags"].update((body or {}).get("tags") or {})
            return 200, {"runId": rest[3], "tags": job["properties"]["tags"]}
        return 404, {"error": {"code": "NotFound", "message": f"unknown history path {path}"}}

    def _models(self, method: str, ws: str, rest: list[str], body: Any):
        if len(rest) == 1 and method == "GET":  # the model container
            if any(k[0] == ws and k[1] == rest[0] for k in self.models):
                return 200, {"id": f"{ws}/models/{rest[0]}", "name": rest[0], "properties": {"latestVersion": "1"}}
            return 404, {"error": {"code": "NotFound", "message": f"no model {rest[0]}"}}
        if len(rest) == 2 and rest[1] == "versions" and method == "GET":
            values = [v for (w, n, _), v in self.models.items() if w == ws and n == rest[0]]
            return 200, {"value": values}
        if len(rest) == 3 and rest[1] == "versions":
            key = (ws, rest[0], rest[2])
            if method == "PUT":
                old = self.models.get(key, {})
                self.models[key] = {
                    "id": f"{ws}/models/{rest[0]}/versions/{rest[2]}",
                    "name": rest[2],
                    "type": f"{ML}/workspaces/models/versions",
                    "properties": {"flavors": {}, **body["properties"]},
                    "systemData": old.get("systemData") or {"createdAt": "2025-03-01T10:00:00Z"},
                }
                return 200, self.models[key]
            if key in self.models:
                return 200, self.models[key]
            return 404, {"error": {"code": "NotFound", "message": "no such model version"}}
        return 404, {"error": {"code": "NotFound", "message": f"unknown models path {'/'.join(rest)}"}}


class Credential:
    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        return AccessToken("fake-token", 4102444800)


def ml_client(base_url: str, sub: str, rg: str, ws: str):
    """The real MLClient, pointed at the fake through a custom cloud (tests/azure/fake_arm.py does the same)."""
    from azure.ai.ml import MLClient

    metadata = {
        "azure_portal": base_url + "/portal",
        "resource_manager": base_url + "/",
        "active_directory": base_url + "/aad",
        "aml_resource_id": base_url + "/",
        "storage_endpoint": "core.windows.net",
        "registry_discovery_endpoint": base_url + "/",
    }
    cloud = "LocalFakeOps" + base_url.rsplit(":", 1)[-1]
    return MLClient(Credential(), sub, rg, ws, cloud=cloud, cloud_metadata=metadata)
