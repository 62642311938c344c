"""The Vertex AI serving container's server, run here as Vertex runs it: `python3 -c <source>`
with the AIP_* variables, over a model directory laid out as the train step writes it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from providers.gcp import vertex_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A model folder exactly as the train step writes it (mlops_model.save), from a local run."""
    from pipelines.local import run_local

    return run_local("churn", tmp_path_factory.mktemp("run"), rows=600, seed=3)


@pytest.fixture(scope="module")
def model_dir(run) -> Path:
    return run.model_path


@pytest.fixture(scope="module")
def records(run) -> list[dict]:
    import pandas as pd

    test = pd.read_csv(run.outputs["training_data"]["test"] / "test.csv").head(2)
    request = [c.name for c in run_contract().request]
    return json.loads(test[request].to_json(orient="records"))


def run_contract():
    from pipelines import get_pipeline

    return get_pipeline("churn").contract


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def test_predicts_on_the_request_schema(server, records):
    status, doc = _post(server + "/predict", {"instances": records})
    assert status == 200
    predictions = doc["predictions"]
    assert len(predictions) == 2 and all(0.0 <= p <= 1.0 for p in predictions)


def test_a_request_off_the_schema_is_a_400_naming_the_column(server, records):
    incomplete = {k: v for k, v in records[0].items() if k != "support_calls"}
    status, doc = _post(server + "/predict", {"instances": [incomplete]})
    assert status == 400 and "support_calls" in doc["error"]
    status, doc = _post(server + "/predict", {"instances": [{**records[0], "customer_id": "c-1"}]})
    assert status == 400 and "customer_id" in doc["error"]


def test_the_container_refuses_a_model_pickled_with_other_package_versions(model_dir, tmp_path):
    """Run as Vertex runs it: a model whose runtime.json records a numpy other than the image's makes
    the container exit with the reason before it answers /health (the DeployModel operation fails
    with that line in the container log) instead of serving a model its pickle does not fit."""
    import shutil

    copy = shutil.copytree(model_dir, tmp_path / "model")
    runtime = json.loads((copy / "runtime.json").read_text())
    assert "numpy" in runtime["packages"]
    runtime["packages"]["numpy"] = "0.0.1"
    (copy / "runtime.json").write_text(json.dumps(runtime))
    spec = vertex_server.container_spec()
    env = {**os.environ, "AIP_STORAGE_URI": str(copy), "AIP_HTTP_PORT": str(_free_port())}
    proc = subprocess.run(
        [sys.executable, *spec["command"][1:]], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode != 0
    assert "RuntimeMismatch" in proc.stderr and "numpy 0.0.1 (this environment: " in proc.stderr
