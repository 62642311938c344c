"""A tiny fake Azure Blob service for the real `azure-storage-blob` client (path-style URLs, as
Azurite serves them: `http://127.0.0.1:<port>/<account>/<container>/<blob>`).

What the kit's Azure step I/O uses and nothing else: Put Blob (block blob, one shot, with
`If-None-Match: *` refusing an existing blob), Get Blob (with or without a range), List Blobs
(flat, by prefix, with a page size and continuation markers, as the REST API pages).
"""

from __future__ import annotations

import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from xml.sax.saxutils import escape

PAGE = 3  # small pages: listing must follow continuation markers


class FakeBlob:
    def __init__(self) -> None:
        self.blobs: dict[tuple[str, str, str], bytes] = {}  # (account, container, name) -> bytes
        self.requests: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _parts(self) -> tuple[str, str, str, dict[str, list[str]]]:
                url = urlparse(self.path)
                parts = unquote(url.path).lstrip("/").split("/", 2)
                while len(parts) < 3:
                    parts.append("")
                return parts[0], parts[1], parts[2], parse_qs(url.query)

            def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                base = {
                    "x-ms-version": self.headers.get("x-ms-version", "2021-08-06"),
                    "x-ms-request-id": "fake",
                    "Date": formatdate(usegmt=True),
                    "Content-Length": str(len(body)),
                }
                for key, value in {**base, **(headers or {})}.items():
                    self.send_header(key, value)
                self.end_headers()
                if body and self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, code: int, error: str) -> None:
                body = f"<?xml version='1.0' encoding='utf-8'?><Error><Code>{error}</Code><Message>{error}</Message>"
                body += "</Error>"
                self._send(code, body.encode(), {"x-ms-error-code": error, "Content-Type": "application/xml"})

            def do_PUT(self) -> None:  # noqa: N802
                account, cont, name, _ = self._parts()
                fake.requests.append(("PUT", f"{cont}/{name}"))
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = (account, cont, name)
                if self.headers.get("If-None-Match") == "*" and key in fake.blobs:
                    return self._error(409, "BlobAlreadyExists")
                fake.blobs[key] = data
                self._send(
                    201,
                    headers={
                        "ETag": '"0x1"',
                        "Last-Modified": formatdate(usegmt=True),
                        "x-ms-request-server-encrypted": "true",
                    },
                )

            def do_GET(self) -> None:  # noqa: N802
                account, cont, name, query = self._parts()
                fake.requests.append(("GET", f"{cont}/{name}" if name else f"{cont}?{self.path.split('?', 1)[-1]}"))
                if query.get("comp") == ["list"]:
                    return self._list(account, cont, query)
                key = (account, cont, name)
                if key not in fake.blobs:
                    return self._error(404, "BlobNotFound")
                data = fake.blobs[key]
                headers = {
                    "ETag": '"0x1"',
                    "Last-Modified": formatdate(usegmt=True),
                    "x-ms-blob-type": "BlockBlob",
                    "Content-Type": "application/octet-stream",
                }
                wanted = self.headers.get("x-ms-range") or self.headers.get("Range")
                if wanted and data:
                    start, _, end = wanted.split("=", 1)[1].partition("-")
                    lo, hi = int(start), min(int(end or len(data) - 1), len(data) - 1)
                    headers["Content-Range"] = f"bytes {lo}-{hi}/{len(data)}"
                    return self._send(206, data[lo : hi + 1], headers)
                self._send(200, data, headers)

            def _list(self, account: str, cont: str, query: dict[str, list[str]]) -> None:
                prefix = (query.get("prefix") or [""])[0]
                marker = (query.get("marker") or [""])[0]
                names = sorted(n for (a, c, n) in fake.blobs if a == account and c == cont and n.startswith(prefix))
                names = [n for n in names if not marker or n > marker]
                page, rest = names[:PAGE], names[PAGE:]
                items = "".join(
                    f"<Blob><Name>{escape(n)}</Name><Properties><Content-Length>{len(fake.blobs[(account, cont, n)])}"
                    "</Content-Length><BlobType>BlockBlob</BlobType></Properties></Blob>"
                    for n in page
                )
                next_marker = page[-1] if rest else ""
                body = (
                    '<?xml version="1.0" encoding="utf-8"?>'
                    f'<EnumerationResults ContainerName="{escape(cont)}"><Prefix>{escape(prefix)}</Prefix>'
                    f"<Blobs>{items}</Blobs><NextMarker>{escape(next_marker)}</NextMarker></EnumerationResults>"
                )
                self._send(200, body.encode(), {"Content-Type": "application/xml"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def account_url(self, account: str) -> str:
        return f"{self.url}/{account}"

    def put(self, account: str, cont: str, name: str, data: bytes) -> None:
        self.blobs[(account, cont, name)] = data

    def names(self, account: str, cont: str) -> list[str]:
        return sorted(n for (a, c, n) in self.blobs if a == account and c == cont)

    def __enter__(self) -> FakeBlob:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
