"""The HTTP server a Vertex AI endpoint runs for the churn model: the custom container contract.

Vertex AI serves a model from a container that answers `AIP_HEALTH_ROUTE` (GET) and
`AIP_PREDICT_ROUTE` (POST `{"instances": [...]}` -> `{"predictions": [...]}`) on `AIP_HTTP_PORT`,
and finds the model's files at `AIP_STORAGE_URI` (a gs:// copy of the model's `artifact_uri`).
The prebuilt scikit-learn container would `predict` without the kit's request-schema checks, so
this server runs the kit's serving code that `mlops_model.save` ships in the model directory
(`code/serve.py` -> `mlops_serve.py`): `load(model_dir)`, `decode` (refusing a request off the
schema with a 400 naming the column) and `predict`, as on SageMaker and Azure ML.

Standard library only (plus what the serving code imports: numpy, pandas, joblib, the framework,
present in the serving image). The register step passes this file's source as the container's command
(`python3 -c <source>`), so nothing has to be built or pushed: see `container_spec()`.
"""

import json
import os
import sys
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PORT = 8080
PREDICT_ROUTE = "/predict"
HEALTH_ROUTE = "/health"
METADATA_TOKEN = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
GCS_API = "https://storage.googleapis.com/storage/v1"


def _get(url: str, headers: dict) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as response:
        return response.read()


def download(uri: str, target: Path) -> Path:
    """Copy every object under gs://bucket/prefix to `target` (the deployed model's identity reads
    them); a local path is used as is (tests, local runs)."""
    if not uri.startswith("gs://"):
        return Path(uri)
    bucket, _, prefix = uri[len("gs://") :].partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    token = json.loads(_get(METADATA_TOKEN, {"Metadata-Flavor": "Google"}))["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    page = ""
    while True:
        query = urllib.parse.urlencode({"prefix": prefix, **({"pageToken": page} if page else {})})
        listing = json.loads(_get(f"{GCS_API}/b/{bucket}/o?{query}", auth))
        for item in listing.get("items", []):
            name = item["name"]
            if name.endswith("/"):
                continue
            path = target / name[len(prefix) :]
            path.parent.mkdir(parents=True, exist_ok=True)
            quoted = urllib.parse.quote(name, safe="")
            path.write_bytes(_get(f"{GCS_API}/b/{bucket}/o/{quoted}?alt=media", auth))
        page = listing.get("nextPageToken", "")
        if not page:
            return target


def load_model(model_dir: Path):
    """Import the model's own serve.py (code/serve.py) and load the model with it."""
    sys.path.insert(0, str(model_dir / "code"))
    import serve  # noqa: PLC0415 - shipped with the model, only importable now

    return serve, serve.load(model_dir)


def make_handler(serve, model, predict_route: str, health_route: str):
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, doc: dict) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.split("?")[0] == health_route:
                self._reply(200, {"status": "ok"})
            else:
                self._reply(404, {"error": f"unknown route {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            if self.path.split("?")[0] != predict_route:
                self._reply(404, {"error": f"unknown route {self.path}"})
                return
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
            try:
                predictions = serve.predict(model, serve.decode(model, raw, "application/json"))
            except serve.ServingError as exc:
                self._reply(400, {"error": str(exc)})
                return
            self._reply(200, {"predictions": predictions})

        def log_message(self, *_args) -> None:  # request bodies stay out of the container log
            return

    return Handler


def main() -> None:
    env = os.environ
    model_dir = download(env.get("AIP_STORAGE_URI", "/tmp/model"), Path("/tmp/model"))
    serve, model = load_model(model_dir)
    handler = make_handler(
        serve, model, env.get("AIP_PREDICT_ROUTE", PREDICT_ROUTE), env.get("AIP_HEALTH_ROUTE", HEALTH_ROUTE)
    )
    server = ThreadingHTTPServer(("0.0.0.0", int(env.get("AIP_HTTP_PORT", PORT))), handler)  # noqa: S104
    print(f"serving {model_dir} on :{server.server_port}", flush=True)
    server.serve_forever()


def container_spec() -> dict:
    """The `Model.containerSpec` fields (besides imageUri) the register step uploads, as JSON-able
    camelCase: runs this file's source with the serving image's Python."""
    return {
        "command": ["python3", "-c", Path(__file__).read_text(encoding="utf-8")],
        "ports": [{"containerPort": PORT}],
        "predictRoute": PREDICT_ROUTE,
        "healthRoute": HEALTH_ROUTE,
    }


if __name__ == "__main__":
    main()
