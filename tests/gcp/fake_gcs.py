"""A tiny fake of the Cloud Storage JSON API: what the approval records need.

The real google-cloud-storage client talks to it (an `http://` api_endpoint, anonymous
credentials). It answers:
- `POST /upload/storage/v1/b/B/o?uploadType=multipart&name=N[&ifGenerationMatch=0]`: a new object
  (a `multipart/related` body: JSON metadata, then the bytes); with `ifGenerationMatch=0` an object
  that exists already is 412 PRECONDITION_FAILED, as on Cloud Storage;
- `GET /storage/v1/b/B/o?prefix=P[&versions=true]`: the live objects under P in name order, or with
  `versions=true` every generation, noncurrent (deleted or overwritten) ones included (one page);
- `GET /storage/v1/b/B` (the client looks its bucket up in the background);
- `GET /storage/v1/b/B/o/N[?generation=G]` (metadata) and `GET /[download/]storage/v1/b/B/o/N?alt=media`
  (bytes of the live generation, or of generation G);
- `DELETE /storage/v1/b/B/o/N`: the live generation becomes noncurrent (the bucket is versioned).

The bucket is versioned, as the kit's approvals bucket is: every write is a new generation. The server,
not the client, stamps each generation: `generation` (increasing) and `timeCreated` (the fake's clock
`now`, one second later for each write), as Cloud Storage does.

An unknown bucket is 404. `permissions` is what the caller holds (None: everything): a request needing
another permission is 403 PERMISSION_DENIED, naming it. `read_only` (no storage.objects.create) and
`create_only` (roles/storage.objectCreator alone: storage.objects.create, so no buckets.get, list, get,
delete) set it. Every request is recorded with the status answered.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.local_server import Call, LocalServer


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    status: int = 0


@dataclass
class FakeGcs:
    buckets: dict[str, dict[str, bytes]] = field(default_factory=dict)
    """bucket -> {object name: bytes}"""
    requests: list[Recorded] = field(default_factory=list)
    generation: int = 1_700_000_000_000_000
    now: float = 1_767_225_600.0
    """The server's clock (epoch seconds, 2026-01-01T00:00:00Z): what `timeCreated` says."""
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """bucket -> every generation written: {name, generation, timeCreated, data, live}"""
    permissions: set[str] | None = None
    """What the caller holds on the bucket (None: everything)."""

    OBJECT_CREATOR = frozenset({"storage.objects.create"})
    """roles/storage.objectCreator's storage permissions ("IAM roles for Cloud Storage")."""

    @property
    def create_only(self) -> bool:
        return self.permissions == set(self.OBJECT_CREATOR)

    @create_only.setter
    def create_only(self, value: bool) -> None:
        self.permissions = set(self.OBJECT_CREATOR) if value else None

    @property
    def read_only(self) -> bool:
        return self.permissions is not None and "storage.objects.create" not in self.permissions

    @read_only.setter
    def read_only(self, value: bool) -> None:
        self.permissions = {"storage.buckets.get", "storage.objects.list", "storage.objects.get"} if value else None

    def start(self) -> str:
        self.lock = threading.Lock()
        self.server = LocalServer(self._serve, methods=("GET", "POST", "DELETE"))
        self.url = self.server.url
        return self.url

    def _serve(self, call: Call) -> tuple[int, Any]:
        query = call.params()
        with self.lock:
            status, answer = self.answer(call.method, call.path, query, call.body, call.content_type)
            self.requests.append(Recorded(call.method, call.path, query, status))
        return status, answer

    def stop(self) -> None:
        self.server.stop()

    @staticmethod
    def _error(code: int, status: str, message: str) -> tuple[int, dict[str, Any]]:
        return code, {"error": {"code": code, "message": message, "status": status}}

    def _resource(self, bucket: str, entry: dict[str, Any]) -> dict[str, Any]:
        from datetime import UTC, datetime

        return {
            "kind": "storage#object",
            "bucket": bucket,
            "name": entry["name"],
            "size": str(len(entry["data"])),
            "generation": str(entry["generation"]),
            "timeCreated": datetime.fromtimestamp(entry["timeCreated"], UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }

    def _generations(self, bucket: str) -> list[dict[str, Any]]:
        """Every generation of `bucket`; objects put straight into `buckets` get one, stamped now."""
        entries = self.history.setdefault(bucket, [])
        live = {e["name"] for e in entries if e["live"]}
        for name, data in self.buckets[bucket].items():
            if name not in live:
                entries.append(self._stamp(name, data))
        return entries

    def _stamp(self, name: str, data: bytes) -> dict[str, Any]:
        self.generation += 1
        self.now += 1
        return {"name": name, "generation": self.generation, "timeCreated": self.now, "data": data, "live": True}

    def _denied(self, permission: str) -> tuple[int, dict[str, Any]] | None:
        if self.permissions is None or permission in self.permissions:
            return None
        return self._error(403, "PERMISSION_DENIED", f"the caller does not have {permission} access")

    def answer(self, method: str, path: str, query: dict[str, str], raw: bytes, content_type: str):
        upload = path.startswith("/upload/storage/v1/b/")
        path = path.removeprefix("/upload").removeprefix("/download")
        if not path.startswith("/storage/v1/b/"):
            return self._error(404, "NOT_FOUND", f"unknown path {path}")
        bucket, _, rest = path.removeprefix("/storage/v1/b/").partition("/")
        if bucket not in self.buckets:
            return self._error(404, "NOT_FOUND", f"bucket {bucket} does not exist")
        objects, entries = self.buckets[bucket], self._generations(bucket)
        if method == "GET" and not rest:  # the client's own background look-up of the bucket's metadata
            return self._denied("storage.buckets.get") or (
                200,
                {"kind": "storage#bucket", "name": bucket, "location": "EUROPE-WEST4"},
            )
        if method == "POST" and upload and rest == "o":
            if denied := self._denied("storage.objects.create"):
                return denied
            name, data = self._multipart(query, raw, content_type)
            if name in objects and query.get("ifGenerationMatch") == "0":
                return self._error(412, "FAILED_PRECONDITION", f"{name} exists (ifGenerationMatch=0)")
            if name in objects and (denied := self._denied("storage.objects.delete")):
                return denied  # replacing an object needs delete too
            for entry in entries:
                if entry["name"] == name:
                    entry["live"] = False
            objects[name] = data
            entries.append(entry := self._stamp(name, data))
            return 200, self._resource(bucket, entry)
        if method == "GET" and rest == "o":
            if denied := self._denied("storage.objects.list"):
                return denied
            prefix, every = query.get("prefix", ""), query.get("versions") == "True" or query.get("versions") == "true"
            found = [e for e in entries if e["name"].startswith(prefix) and (every or e["live"])]
            items = [self._resource(bucket, e) for e in sorted(found, key=lambda e: (e["name"], e["generation"]))]
            return 200, ({"kind": "storage#objects", "items": items} if items else {"kind": "storage#objects"})
        if rest.startswith("o/"):
            name = rest.removeprefix("o/")
            wanted = query.get("generation")
            match = [
                e for e in entries if e["name"] == name and (str(e["generation"]) == wanted or not wanted and e["live"])
            ]
            if method == "DELETE":
                if denied := self._denied("storage.objects.delete"):
                    return denied
                if not match:
                    return self._error(404, "NOT_FOUND", f"No such object: {bucket}/{name}")
                match[0]["live"] = False  # noncurrent: the bucket keeps it (versioning)
                objects.pop(name, None)
                return 204, b""
            if method == "GET":
                if denied := self._denied("storage.objects.get"):
                    return denied
                if not match:
                    return self._error(404, "NOT_FOUND", f"No such object: {bucket}/{name}")
                entry = match[0]
                return (200, entry["data"]) if query.get("alt") == "media" else (200, self._resource(bucket, entry))
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
