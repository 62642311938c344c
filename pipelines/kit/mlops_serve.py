"""Serve a model saved by ``mlops_model.save``: the request schema in, one score per record out.

Every cloud serves this same code (it ships in the model's ``code/`` folder, with
``mlops_schema.py``); the laptop loop serves it on loopback. A request is a list of records with
exactly the request columns of the data contract (``request_schema.json``):
- ``text/csv``: one record per line in the schema's column order, no header needed (a header line
  equal to the column names is skipped);
- ``application/json``: a record, a list of records, or ``{"instances": [...]}`` (Vertex AI) /
  ``{"data": [...]}`` (Azure ML).
A record that lacks a column, carries an unknown one, or holds a value of the wrong type is
refused with a `ServingError` (HTTP 400 on loopback) naming the record, the column and the rule:
the model never scores what the drift check would not compare. The answer is
``{"predictions": [...]}``: the positive-class probability (classification) or the prediction
(regression).

Entry points, all thin wrappers over ``load`` / ``predict``:
- SageMaker framework containers: ``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn``;
- Azure ML scoring script: ``init()`` / ``run(raw)``, the model under ``AZUREML_MODEL_DIR``;
- loopback: ``python mlops_serve.py serve --model DIR --port N [--capture DIR]``, which also
  records every request it scores (the local data capture the drift check reads).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import sys
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from mlops_schema import SchemaError, coerce

MODEL_FILE = "model.joblib"
SCHEMA_FILE = "request_schema.json"
CSV, JSON = "text/csv", "application/json"


class ServingError(ValueError):
    """A request the model cannot score; the message says what to send instead (HTTP 400)."""

    status = 400


# ---- the cloud-neutral core ------------------------------------------------------------------
def load(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The model and its request schema, from `model_dir` or its only subfolder holding a model."""
    root = Path(model_dir)
    path = root / MODEL_FILE
    if not path.is_file():
        found = sorted(root.glob(f"*/{MODEL_FILE}"))
        if len(found) != 1:
            raise FileNotFoundError(f"no {MODEL_FILE} in {root} (nor in exactly one subfolder)")
        path = found[0]
    schema = json.loads((path.parent / SCHEMA_FILE).read_text(encoding="utf-8"))
    return {"model": joblib.load(path), "schema": schema}


def columns(loaded: Mapping[str, Any]) -> list[str]:
    return [c["name"] for c in loaded["schema"]["request"]]


def to_frame(loaded: Mapping[str, Any], records: Iterable[Any]) -> pd.DataFrame:
    """Validate request records into a frame of the request columns, typed, in schema order."""
    names = columns(loaded)
    rows = list(records)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ServingError(f"record {i} is not an object with the fields {', '.join(names)}")
        missing = [c for c in names if c not in row]
        unknown = sorted(set(row) - set(names))
        if missing:
            raise ServingError(f"record {i} lacks {', '.join(missing)} (the request columns are {', '.join(names)})")
        if unknown:
            raise ServingError(f"record {i} carries {', '.join(unknown)}, not a request column ({', '.join(names)})")
    frame = pd.DataFrame([[row[c] for c in names] for row in rows], columns=names, dtype=object)
    try:
        return coerce(frame, loaded["schema"]["request"], where="request")
    except SchemaError as exc:
        raise ServingError(str(exc)) from None


def predict(loaded: Mapping[str, Any], frame: pd.DataFrame) -> list[float]:
    if frame.empty:
        return []
    model = loaded["model"]
    if loaded["schema"]["task"] == "classification":
        return [float(p) for p in model.predict_proba(frame)[:, 1]]
    return [float(p) for p in model.predict(frame)]


# ---- request decoding ------------------------------------------------------------------------
def _media_type(value: str | None, default: str) -> str:
    return (value or default).split(";")[0].strip().lower()


def _text(body: bytes | bytearray | str) -> str:
    return body.decode("utf-8") if isinstance(body, bytes | bytearray) else str(body)


def parse_csv(loaded: Mapping[str, Any], text: str) -> pd.DataFrame:
    names = columns(loaded)
    rows = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    if rows and [c.strip() for c in rows[0]] == names:
        rows = rows[1:]
    for i, row in enumerate(rows):
        if len(row) != len(names):
            raise ServingError(f"csv line {i + 1} has {len(row)} values; expected {len(names)}: {','.join(names)}")
    # Lengths are checked above; zip(strict=) would need Python 3.10 (see docs/testing.md: image Python).
    return to_frame(loaded, (dict(zip(names, (c.strip() for c in row))) for row in rows))  # noqa: B905


def records_of(text: str) -> list[Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServingError(f"request is not valid JSON: {exc}") from None
    if isinstance(doc, Mapping):
        for key in ("instances", "data"):  # Vertex AI / Azure ML request shapes
            if key in doc:
                doc = doc[key]
                break
        else:
            doc = [doc]
    if not isinstance(doc, list):
        raise ServingError("JSON request must be a record, a list of records or {'instances': [...]}")
    return doc


def decode(loaded: Mapping[str, Any], body: bytes | str, content_type: str | None) -> pd.DataFrame:
    kind = _media_type(content_type, JSON)
    if kind == CSV:
        return parse_csv(loaded, _text(body))
    if kind == JSON:
        return to_frame(loaded, records_of(_text(body)))
    raise ServingError(f"unsupported content type {content_type!r}; send {CSV} or {JSON}")


# ---- SageMaker framework containers ------------------------------------------------------------
# The container calls model_fn once at start-up, then input_fn -> predict_fn -> output_fn per
# request; input_fn is not given the model, so it decodes against the one model_fn loaded.
_LOADED: dict[str, Any] | None = None


def model_fn(model_dir: str) -> dict[str, Any]:
    global _LOADED
    _LOADED = load(model_dir)
    return _LOADED


def input_fn(body: bytes | str, content_type: str) -> pd.DataFrame:
    if _LOADED is None:
        raise RuntimeError("model_fn() was not called")
    return decode(_LOADED, body, content_type)


def predict_fn(data: pd.DataFrame, model: dict[str, Any]) -> list[float]:
    return predict(model, data)


def output_fn(prediction: list[float], accept: str | None) -> tuple[str, str]:
    kind = _media_type(accept, JSON)
    if kind in (JSON, "*/*"):
        return json.dumps({"predictions": prediction}), JSON
    if kind == CSV:
        return "".join(f"{p}\n" for p in prediction), CSV
    raise ServingError(f"unsupported accept type {accept!r}; ask for {JSON} or {CSV}")


# ---- Azure ML scoring script --------------------------------------------------------------------
_AZURE: dict[str, Any] | None = None


def init() -> None:
    global _AZURE
    _AZURE = load(os.environ["AZUREML_MODEL_DIR"])


def run(raw: str | bytes) -> dict[str, list[float]]:
    if _AZURE is None:
        raise RuntimeError("init() was not called")
    return {"predictions": predict(_AZURE, to_frame(_AZURE, records_of(_text(raw))))}


# ---- loopback server with data capture ------------------------------------------------------------
class Capture:
    """Appends each scored request, as records of the request columns, to `<dir>/requests.jsonl`."""

    def __init__(self, directory: Path | None) -> None:
        self.path = directory / "requests.jsonl" if directory else None
        self.lock = threading.Lock()
        if directory:
            directory.mkdir(parents=True, exist_ok=True)

    def record(self, frame: pd.DataFrame) -> None:
        if self.path is None or frame.empty:
            return
        out = frame.copy()
        for name in out.columns:
            if pd.api.types.is_datetime64_any_dtype(out[name]):
                out[name] = out[name].dt.strftime("%Y-%m-%dT%H:%M:%S%z")
        entry = {"time": datetime.now(timezone.utc).isoformat(), "request": json.loads(out.to_json(orient="records"))}
        with self.lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")


def make_server(model_dir: Path, host: str = "127.0.0.1", port: int = 0, capture: Path | None = None):  # noqa: ANN201
    loaded = load(model_dir)
    recorder = Capture(capture)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet: the loop shows its own progress
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", JSON)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            if self.path in ("/ping", "/health"):
                self._send(200, {"status": "ok", "columns": columns(loaded)})
            else:
                self._send(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            if self.path not in ("/invocations", "/predict"):
                self._send(404, {"error": f"no route {self.path}"})
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                frame = decode(loaded, body, self.headers.get("Content-Type"))
            except ServingError as exc:
                self._send(exc.status, {"error": str(exc)})
                return
            predictions = predict(loaded, frame)
            recorder.record(frame)
            self._send(200, {"predictions": predictions})

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the model on loopback")
    serve.add_argument("--model", type=Path, required=True)
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--capture", type=Path, help="record every scored request here")
    args = parser.parse_args(argv)
    server = make_server(args.model, port=args.port, capture=args.capture)
    print(f"serving {args.model} on http://127.0.0.1:{server.server_address[1]}/invocations", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
