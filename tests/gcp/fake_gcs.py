"""A tiny fake of the Cloud Storage JSON API: what the approval records need.

The real google-cloud-storage client talks to it (an `http://` api_endpoint, anonymous
credentials). It answers:
- `POST /upload/storage/v1/b/B/o?uploadType=multipart&name=N[&ifGenerationMatch=0]`: a new object
  (a `multipart/related` body: JSON metadata, then the bytes); with `ifGenerationMatch=0` an object
  that exists already is 412 PRECONDITION_FAILED, as on Cloud Storage;
- `GET /storage/v1/b/B/o?prefix=P`: the objects under P, in name order (one page);
- `GET /storage/v1/b/B` (the client looks its bucket up in the background);
- `GET /storage/v1/b/B/o/N` (metadata) and `GET /[download/]storage/v1/b/B/o/N?alt=media` (bytes).

An unknown bucket is 404. `read_only` makes every write 403 (an identity without
storage.objects.create); `create_only` makes every list and read 403 (an identity holding
roles/storage.objectCreator and nothing else). Every request is recorded.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]


@dataclass
class FakeGcs:
    buckets: dict[str, dict[str, bytes]] = field(default_factory=dict)
    """bucket -> {object name: bytes}"""
    requests: list[Recorded] = field(default_factory=list)
    generation: int = 1_700_000_000_000_000

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                path = unquote(parts.path)
                with fake.lock:
                    fake.requests.append(Recorded(method, path, query))
                    status, answer = fake.answer(method, path, query, raw, self.headers.get("Content-Type", ""))
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header(
                    "Content-Type", "application/octet-stream" if isinstance(answer, bytes) else "application/json"
                )
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

        self.lock = threading.Lock()
        self.read_only = False
        self.create_only = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _error(code: int, status: str, message: str) -> tuple[int, dict[str, Any]]:
        return code, {"error": {"code": code, "message": message, "status": status}}

    def _resource(self, bucket: str, name: str) -> dict[str, Any]:
        return {
            "kind": "storage#object",
            "bucket": bucket,
            "name": name,
            "size": str(len(self.buckets[bucket][name])),
            "generation": str(self.generation),
        }

    def answer(self, method: str, path: str, query: dict[str, str], raw: bytes, content_type: str):
        upload = path.startswith("/upload/storage/v1/b/")
        path = path.removeprefix("/upload").removeprefix("/download")
        if not path.startswith("/storage/v1/b/"):
            return self._error(404, "NOT_FOUND", f"unknown path {path}")
        bucket, _, rest = path.removeprefix("/storage/v1/b/").partition("/")
        if bucket not in self.buckets:
            return self._error(404, "NOT_FOUND", f"bucket {bucket} does not exist")
        objects = self.buckets[bucket]
        if method == "GET" and not rest:  # the client's own background look-up of the bucket's metadata
            return 200, {"kind": "storage#bucket", "name": bucket, "location": "EUROPE-WEST4"}
        if method == "POST" and upload and rest == "o":
            if self.read_only:
                return self._error(403, "PERMISSION_DENIED", "storage.objects.create denied")
            name, data = self._multipart(query, raw, content_type)
            if name in objects and query.get("ifGenerationMatch") == "0":
                return self._error(412, "FAILED_PRECONDITION", f"{name} exists (ifGenerationMatch=0)")
            objects[name] = data
            self.generation += 1
            return 200, self._resource(bucket, name)
        if method == "GET" and self.create_only:
            return self._error(403, "PERMISSION_DENIED", "storage.objects.list / storage.objects.get denied")
        if method == "GET" and rest == "o":
            prefix = query.get("prefix", "")
            items = [self._resource(bucket, n) for n in sorted(objects) if n.startswith(prefix)]
            return 200, ({"kind": "storage#objects", "items": items} if items else {"kind": "storage#objects"})
        if method == "GET" and rest.startswith("o/"):
            name = rest.removeprefix("o/")
            if name not in objects:
                return self._error(404, "NOT_FOUND", f"No such object: {bucket}/{name}")
            return (200, objects[name]) if query.get("alt") == "media" else (200, self._resource(bucket, name))
        return self._error(404, "NOT_FOUND", f"unknown request {method} {path}")

    @staticmethod
    def _multipart(query: dict[str, str], raw: bytes, content_type: str) -> tuple[str, bytes]:
        if query.get("uploadType") == "media":
            return query["name"], raw
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw
        )
        parts = list(message.iter_parts())
        metadata = json.loads(parts[0].get_content())
        payload = parts[1].get_payload(decode=True)
        return metadata.get("name") or query["name"], payload
