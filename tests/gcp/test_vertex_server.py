"""The Vertex AI serving container's server, run here as Vertex runs it: `python3 -c <source>`
with the AIP_* variables, over a model directory laid out as the train step writes it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import joblib
import pytest
from sklearn.linear_model import LogisticRegression

from providers.gcp import vertex_server

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "pipelines" / "churn" / "steps" / "serve.py"
RAW = {
    "tenure_months": 3,
    "contract_type": "month_to_month",
    "payment_method": "electronic_check",
    "monthly_charges": 80.5,
    "total_charges": 241.5,
    "support_calls": 4,
    "paperless_billing": 1,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A fitted model over serve.features(...) columns, plus code/serve.py (train.py's layout)."""
    sys.path.insert(0, str(SERVE.parent))
    try:
        import serve
    finally:
        sys.path.remove(str(SERVE.parent))
    long = {**RAW, "tenure_months": 60, "contract_type": "two_year", "support_calls": 0, "total_charges": 3000}
    X = serve.features(serve.to_frame([RAW, long] * 10))
    model = LogisticRegression().fit(X, [1, 0] * 10)
    out = tmp_path_factory.mktemp("model")
    joblib.dump(model, out / "model.joblib")
    (out / "code").mkdir()
    shutil.copyfile(SERVE, out / "code" / "serve.py")
    return out


@pytest.fixture(scope="module")
def server(model_dir):
    spec = vertex_server.container_spec()
    port = _free_port()
    env = {
        **os.environ,
        "AIP_STORAGE_URI": str(model_dir),
        "AIP_HTTP_PORT": str(port),
        "AIP_PREDICT_ROUTE": spec["predictRoute"],
        "AIP_HEALTH_ROUTE": spec["healthRoute"],
    }
    command = [sys.executable, *spec["command"][1:]]  # python3 -c <source>, with this venv's python
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + spec["healthRoute"], timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(proc.stdout.read())
            time.sleep(0.05)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def _post(url: str, doc) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(doc).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_health_route(server):
    with urllib.request.urlopen(server + "/health", timeout=5) as response:
        assert response.status == 200


def test_predicts_from_raw_request_columns(server, model_dir):
    status, doc = _post(server + "/predict", {"instances": [RAW, {**RAW, "customer_id": "c-1"}]})
    assert status == 200
    predictions = doc["predictions"]
    assert len(predictions) == 2 and predictions[0] == predictions[1]
    assert 0.5 < predictions[0] <= 1.0  # the short-tenure, many-calls customer of the fit


def test_bad_request_is_a_400_naming_the_missing_column(server):
    incomplete = {k: v for k, v in RAW.items() if k != "support_calls"}
    status, doc = _post(server + "/predict", {"instances": [incomplete]})
    assert status == 400 and "support_calls" in doc["error"]
