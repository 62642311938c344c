"""The local HTTP server behind the test fakes that the vendors' real clients talk to.

Each fake (`tests/gcp/fake_gcs.py`, `fake_google.py`, `fake_vertex.py`, `tests/ops/fake_gcp.py`,
`tests/ops/fake_azure.py`) keeps its own routes and state and hands this server one function,
`answer(call) -> (status, body)`; the server reads the request and writes the answer: bytes as
`application/octet-stream`, anything else as JSON. It listens on a free port of 127.0.0.1 until
`stop()`, answering only the HTTP methods it is given (others get the standard library's 501).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True)
class Call:
    """One request as a fake sees it."""

    method: str
    path: str
    """Percent-decoded, without the query."""
    query: str
    """The raw query string."""
    body: bytes
    headers: Message
    """Looked up without regard to case, as HTTP names them (`headers.get("content-type")`)."""

    @property
    def content_type(self) -> str:
        return str(self.headers.get("Content-Type", ""))

    def params(self, repeated: str = "last") -> dict[str, str]:
        """The query as a dict, keeping the last (or `repeated="first"`) value of a repeated key."""
        index = -1 if repeated == "last" else 0
        return {key: values[index] for key, values in parse_qs(self.query).items()}

    def json(self, empty: Any = None) -> Any:
        """The body parsed as JSON, or `empty` when there is none."""
        return json.loads(self.body) if self.body else empty


Answer = Callable[[Call], tuple[int, Any]]


class LocalServer:
    def __init__(self, answer: Answer, methods: Iterable[str]) -> None:
        def handle(handler: BaseHTTPRequestHandler) -> None:
            parts = urlsplit(handler.path)
            length = int(handler.headers.get("Content-Length") or 0)
            call = Call(
                method=handler.command,
                path=unquote(parts.path),
                query=parts.query,
                body=handler.rfile.read(length) if length else b"",
                headers=handler.headers,
            )
            status, body = answer(call)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            handler.send_response(status)
            handler.send_header(
                "Content-Type", "application/octet-stream" if isinstance(body, bytes) else "application/json"
            )
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)

        routes: dict[str, Any] = {f"do_{method}": handle for method in methods}
        routes["log_message"] = lambda handler, *args: None  # keep pytest output clean
        handler_class = type("Handler", (BaseHTTPRequestHandler,), routes)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
