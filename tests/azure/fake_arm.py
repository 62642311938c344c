"""A tiny fake Azure Resource Manager for Azure ML model versions, for MLClient tests."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WS = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
_VERSION = re.compile(rf"^{re.escape(WS)}/models/([^/]+)/versions/([^/?]+)$")
_VERSIONS = re.compile(rf"^{re.escape(WS)}/models/([^/]+)/versions$")


class FakeArm:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.models: dict[tuple[str, str], dict[str, Any]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
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
                body = json.loads(self.rfile.read(length)) if length else None
                path = self.path.split("?", 1)[0]
                fake.requests.append((method, self.path, body))
                if m := _VERSION.match(path):
                    key = (m.group(1), m.group(2))
                    if method == "PUT":
                        fake.models[key] = {
                            "id": path,
                            "name": key[1],
                            "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
                            "properties": {"flavors": {}, **body["properties"]},
                        }
                        return self._send(200, fake.models[key])
                    if key in fake.models:
                        return self._send(200, fake.models[key])
                    return self._send(
                        404, {"error": {"code": "NotFound", "message": "no such model version"}}
                    )
                if (m := _VERSIONS.match(path)) and method == "GET":
                    values = [v for (n, _), v in fake.models.items() if n == m.group(1)]
                    return self._send(200, {"value": values})
                return self._send(404, {"error": {"code": "NotFound", "message": path}})

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_PUT(self) -> None:  # noqa: N802
                self._handle("PUT")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

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
