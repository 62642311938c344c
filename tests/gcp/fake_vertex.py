"""A tiny fake of the Vertex AI v1 REST API: just what the dynamic providers call.

The real google-cloud-aiplatform clients talk to it (transport="rest", an http:// api_endpoint,
anonymous credentials); every request is recorded so tests assert paths and bodies.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

OPS = "type.googleapis.com/google.cloud.aiplatform.v1."


@dataclass
class Request:
    method: str
    path: str
    query: str
    body: dict[str, Any]


@dataclass
class FakeVertex:
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    """'projects/../models/<id>@<version>' -> {"versionAliases": [...], "labels": {...}}"""
    requests: list[Request] = field(default_factory=list)
    next_deployed_id: int = 4242

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                path = unquote(parts.path)
                fake.requests.append(Request(method, path, parts.query, body))
                status, answer = fake.answer(method, path.removeprefix("/v1/"), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_PATCH(self) -> None:  # noqa: N802
                self._handle("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

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
        }

    def answer(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name, _, verb = path.partition(":")
        if name.endswith("/models") and verb == "upload":
            return 200, self._upload(name.removesuffix("/models"), body)
        if "/models/" in name:
            key = self._resolve(name)
            if key is None:
                return 404, {"error": {"code": 404, "message": f"{name} not found", "status": "NOT_FOUND"}}
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
        if "/endpoints/" in name:
            op = {"name": f"{name}/operations/1", "done": True}
            if verb == "deployModel":
                self.next_deployed_id += 1
                op["response"] = {
                    "@type": OPS + "DeployModelResponse",
                    "deployedModel": {"id": str(self.next_deployed_id)},
                }
            elif verb == "mutateDeployedModel":
                op["response"] = {
                    "@type": OPS + "MutateDeployedModelResponse",
                    "deployedModel": body.get("deployedModel", {}),
                }
            elif verb == "undeployModel":
                op["response"] = {"@type": OPS + "UndeployModelResponse"}
            else:
                return 404, {"error": {"code": 404, "message": "unknown", "status": "NOT_FOUND"}}
            return 200, op
        return 404, {"error": {"code": 404, "message": f"unknown path {path}", "status": "NOT_FOUND"}}
