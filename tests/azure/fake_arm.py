"""A tiny fake Azure Resource Manager for the real clients (azure-ai-ml's MLClient and the kit's
dynamic providers): Azure ML model versions, a workspace, online endpoints with their
deployments, and generic ARM resources that take PATCH (container registries, workspaces) and
the managed-network provisioning action.

Like Azure, it refuses traffic to a deployment that does not exist and answers writes with an
asynchronous operation (`Azure-AsyncOperation`) that takes one poll to finish.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

WS = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
_VERSION = re.compile(rf"^{re.escape(WS)}/models/([^/]+)/versions/([^/?]+)$")
_VERSIONS = re.compile(rf"^{re.escape(WS)}/models/([^/]+)/versions$")
_CONTAINER = re.compile(rf"^{re.escape(WS)}/models/([^/]+)$")
_ENDPOINT = re.compile(rf"^{re.escape(WS)}/onlineEndpoints/([^/]+)$")
_DEPLOYMENTS = re.compile(rf"^{re.escape(WS)}/onlineEndpoints/([^/]+)/deployments$")
_PROVISION = re.compile(r"^(/subscriptions/.+/workspaces/[^/]+)/provisionManagedNetwork$")
_OPERATION = re.compile(r"^/operations/(\d+)$")
_METRICS = re.compile(rf"^{re.escape(WS)}/onlineEndpoints/([^/]+)/providers/Microsoft\.Insights/metrics$")
_JOBS = re.compile(rf"^{re.escape(WS)}/jobs$")
_JOB = re.compile(rf"^{re.escape(WS)}/jobs/([^/]+)$")
JOBS_PAGE = 2  # small pages: a listing must follow nextLink
RETRY_AFTER = "0.01"  # seconds; azure-core reads "0" as "use the default interval" (30 s)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """JSON merge patch (RFC 7386), which is what ARM's PATCH does with a body."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class FakeArm:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.models: dict[tuple[str, str], dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, set[str]] = {}  # endpoint -> deployment names that exist
        self.resources: dict[str, dict[str, Any]] = {}  # ARM id (lowercase) -> body, for PATCH/GET
        self.operations: list[int] = []  # polls left before each async operation succeeds
        # model -> N: until its next write, a reader of the model (its container's nextVersion, or a
        # listing of its versions) sees the registry as it was before version N was written.
        self.stale_next_version: dict[str, int] = {}
        self.workspace = {
            "id": WS,
            "name": "ws",
            "location": "westeurope",
            "type": "Microsoft.MachineLearningServices/workspaces",
            "properties": {"friendlyName": "ws", "managedNetwork": {"isolationMode": "AllowOnlyApprovedOutbound"}},
        }
        self.resources[WS.lower()] = self.workspace
        self.jobs: dict[str, dict[str, Any]] = {}
        # deployment -> {"requests": {status code class: count per minute}, "p99": ms}: what Azure
        # Monitor answers for the endpoint's metrics filtered by that deployment.
        self.metrics: dict[str, dict[str, Any]] = {}
        self.now = lambda: datetime.now(UTC)  # what stamps a new job's systemData.createdAt
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _async(self, code: int, body: Any) -> None:
                fake.operations.append(1)
                operation = f"{fake.url}/operations/{len(fake.operations) - 1}"
                self._send(code, body, {"Azure-AsyncOperation": operation, "Retry-After": RETRY_AFTER})

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                path = self.path.split("?", 1)[0]
                fake.requests.append((method, self.path, body))
                if m := _VERSION.match(path):
                    key = (m.group(1), m.group(2))
                    if method == "PUT":
                        fake.stale_next_version.pop(key[0], None)  # the writer's view ends with its write
                        existing = fake.models.get(key)
                        if existing and existing["properties"].get("modelUri") != body["properties"].get("modelUri"):
                            # Azure ML versions are immutable (azure-ai-ml _artifacts/_constants.py)
                            return self._send(
                                400, {"error": {"code": "UserError", "message": "Asset paths cannot be updated."}}
                            )
                        fake.models[key] = {
                            "id": path,
                            "name": key[1],
                            "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
                            "properties": {"flavors": {}, **body["properties"]},
                        }
                        return self._send(200, fake.models[key])
                    if key in fake.models:
                        return self._send(200, fake.models[key])
                    return self._send(404, {"error": {"code": "NotFound", "message": "no such model version"}})
                if (m := _CONTAINER.match(path)) and method == "GET":
                    numbers = [int(v) for (n, v) in fake.models if n == m.group(1) and v.isdigit()]
                    if not numbers:
                        return self._send(404, {"error": {"code": "NotFound", "message": "no such model"}})
                    stale = fake.stale_next_version.get(m.group(1))
                    return self._send(
                        200,
                        {
                            "id": path,
                            "name": m.group(1),
                            "properties": {
                                "nextVersion": str(stale or max(numbers) + 1),
                                "latestVersion": str(max(numbers)),
                            },
                        },
                    )
                if (m := _VERSIONS.match(path)) and method == "GET":
                    hidden = fake.stale_next_version.get(m.group(1))  # a listing taken before a write
                    values = [
                        v
                        for (n, number), v in fake.models.items()
                        if n == m.group(1) and not (hidden and number.isdigit() and int(number) >= hidden)
                    ]
                    return self._send(200, {"value": values})
                if (m := _METRICS.match(path)) and method == "GET":
                    return self._metrics()
                if _JOBS.match(path) and method == "GET":
                    return self._list_jobs()
                if m := _JOB.match(path):
                    if method == "PUT":
                        fake.jobs[m.group(1)] = {
                            "id": path,
                            "name": m.group(1),
                            "type": "Microsoft.MachineLearningServices/workspaces/jobs",
                            "properties": {**body["properties"], "status": "Running"},
                            "systemData": {"createdAt": fake.now().isoformat()},
                        }
                        return self._send(201, fake.jobs[m.group(1)])
                    if m.group(1) in fake.jobs:
                        return self._send(200, fake.jobs[m.group(1)])
                    return self._send(404, {"error": {"code": "NotFound", "message": path}})
                if m := _ENDPOINT.match(path):
                    return self._endpoint(method, m.group(1), path, body)
                if (m := _DEPLOYMENTS.match(path)) and method == "GET":
                    return self._send(200, {"value": fake.deployment_bodies(m.group(1))})
                if (m := _OPERATION.match(path)) and method == "GET":
                    index = int(m.group(1))
                    if fake.operations[index] > 0:
                        fake.operations[index] -= 1
                        return self._send(200, {"status": "InProgress"}, {"Retry-After": RETRY_AFTER})
                    return self._send(200, {"status": "Succeeded"})
                if (m := _PROVISION.match(path)) and method == "POST":
                    resource = fake.resources.get(m.group(1).lower())
                    if resource is None:
                        return self._send(404, {"error": {"code": "NotFound", "message": m.group(1)}})
                    network = resource["properties"].setdefault("managedNetwork", {})
                    network["status"] = {"status": "Active", "sparkReady": bool((body or {}).get("includeSpark"))}
                    return self._async(202, None)
                if path.lower() in fake.resources:
                    resource = fake.resources[path.lower()]
                    if method == "GET":
                        return self._send(200, resource)
                    if method == "PATCH":
                        _merge(resource, body or {})
                        return self._async(200, resource)
                return self._send(404, {"error": {"code": "NotFound", "message": path}})

            def _metrics(self) -> None:
                query = parse_qs(self.path.split("?", 1)[1])
                metric = query["metricnames"][0]
                found = re.search(r"deployment eq '([^']+)'", query.get("$filter", [""])[0])
                data = fake.metrics.get(found.group(1) if found else "", {})
                if metric == "RequestsPerMinute":
                    series = [
                        {
                            "metadatavalues": [{"name": {"value": "statusCodeClass"}, "value": cls}],
                            "data": [{"timeStamp": "2024-01-01T00:00:00Z", "average": float(count)}],
                        }
                        for cls, count in sorted((data.get("requests") or {}).items())
                    ]
                else:
                    series = (
                        [
                            {
                                "metadatavalues": [],
                                "data": [{"timeStamp": "2024-01-01T00:00:00Z", "average": data["p99"]}],
                            }
                        ]
                        if "p99" in data
                        else []
                    )
                return self._send(200, {"value": [{"name": {"value": metric}, "unit": "Count", "timeseries": series}]})

            def _list_jobs(self) -> None:
                query = parse_qs(self.path.split("?", 1)[1]) if "?" in self.path else {}
                tag = (query.get("tag") or [None])[0]  # "Jobs returned will have this tag key"
                names = sorted(
                    n for n, j in fake.jobs.items() if tag is None or tag in (j["properties"].get("tags") or {})
                )
                skip = int((query.get("$skip") or ["0"])[0])
                page = [fake.jobs[n] for n in names[skip : skip + JOBS_PAGE]]
                body: dict[str, Any] = {"value": page}
                if skip + JOBS_PAGE < len(names):
                    rest = {k: v[0] for k, v in query.items() if k != "$skip"}
                    body["nextLink"] = f"{fake.url}{WS}/jobs?{urlencode({**rest, '$skip': skip + JOBS_PAGE})}"
                return self._send(200, body)

            def _endpoint(self, method: str, name: str, path: str, body: Any) -> None:
                if method == "GET":
                    if name in fake.endpoints:
                        return self._send(200, fake.endpoints[name])
                    return self._send(404, {"error": {"code": "NotFound", "message": path}})
                if method != "PUT":
                    return self._send(405, {"error": {"code": "MethodNotAllowed", "message": method}})
                traffic = body["properties"].get("traffic") or {}
                missing = sorted(set(traffic) - fake.deployments.get(name, set()))
                if missing:  # what Azure answers for traffic to a deployment that does not exist
                    return self._send(
                        400,
                        {"error": {"code": "BadArgument", "message": f"Deployments {missing} do not exist"}},
                    )
                if any(not isinstance(v, int) for v in traffic.values()):
                    return self._send(400, {"error": {"code": "BadArgument", "message": f"traffic {traffic}"}})
                mirror = body["properties"].get("mirrorTraffic") or {}
                if set(mirror) - fake.deployments.get(name, set()) or sum(mirror.values()) > 50:
                    # "Traffic values need to sum to utmost 50" (azure-ai-ml REST model)
                    return self._send(400, {"error": {"code": "BadArgument", "message": f"mirror {mirror}"}})
                fake.endpoints[name] = {
                    **body,
                    "id": path,
                    "name": name,
                    "kind": fake.endpoints.get(name, {}).get("kind", "Managed"),
                    "properties": {**body["properties"], "provisioningState": "Succeeded"},
                }
                return self._async(201, fake.endpoints[name])

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

    def add_model(self, name: str, version: str, tags: dict[str, str], path: str) -> None:
        self.models[(name, version)] = {
            "id": f"{WS}/models/{name}/versions/{version}",
            "name": version,
            "properties": {
                "modelType": "custom_model",
                "modelUri": path,
                "tags": tags,
                "properties": {},
                "isArchived": False,
                "flavors": {},
            },
        }

    def add_endpoint(self, name: str, deployments: set[str] | None = None) -> str:
        """An existing endpoint as GET returns it (with read-only fields) and its deployments."""
        endpoint_id = f"{WS}/onlineEndpoints/{name}"
        self.endpoints[name] = {
            "id": endpoint_id,
            "name": name,
            "location": "westeurope",
            "kind": "Managed",
            "tags": {"mlops-platform": "churn"},
            "identity": {
                "type": "UserAssigned",
                "userAssignedIdentities": {
                    "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
                    "userAssignedIdentities/id": {"principalId": "p", "clientId": "c"}
                },
            },
            "properties": {
                "authMode": "AADToken",
                "publicNetworkAccess": "Disabled",
                "traffic": {},
                "provisioningState": "Succeeded",
                "scoringUri": "https://example.invalid/score",
            },
        }
        self.deployments[name] = set(deployments or ())
        return endpoint_id

    def deployment_bodies(self, endpoint: str) -> list[dict[str, Any]]:
        return [
            {
                "id": f"{WS}/onlineEndpoints/{endpoint}/deployments/{name}",
                "name": name,
                "location": "westeurope",
                "kind": "Managed",
                "sku": {"name": "Default", "capacity": 1},
                "properties": {
                    "endpointComputeType": "Managed",
                    "instanceType": "Standard_D2as_v4",
                    "scaleSettings": {"scaleType": "Default"},
                    "provisioningState": "Succeeded",
                },
            }
            for name in sorted(self.deployments.get(endpoint, ()))
        ]

    def add_resource(self, resource_id: str, body: dict[str, Any]) -> str:
        """Any ARM resource that takes PATCH and GET (a registry, a feature store workspace)."""
        self.resources[resource_id.lower()] = {"id": resource_id, **copy.deepcopy(body)}
        return resource_id

    def __enter__(self) -> FakeArm:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


class Credential:
    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        return AccessToken("fake-token", 4102444800)


def ml_client(base_url: str):
    from azure.ai.ml import MLClient

    metadata = {
        "azure_portal": base_url + "/portal",
        "resource_manager": base_url + "/",
        "active_directory": base_url + "/aad",
        "aml_resource_id": base_url + "/",
        "storage_endpoint": "core.windows.net",
        "registry_discovery_endpoint": base_url + "/",
    }
    # One cloud name per server: the SDK keeps clouds in a process-wide table it never overwrites.
    cloud = "LocalFake" + base_url.rsplit(":", 1)[-1]
    return MLClient(Credential(), "sub", "rg", "ws", cloud=cloud, cloud_metadata=metadata)
