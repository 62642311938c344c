"""Azure ML scoring script: the kit's serving code, with the request columns logged by Azure ML's
data collector (the deployment's `model_inputs` collection, what the drift check reads).

`init()` loads the model under `AZUREML_MODEL_DIR` with `mlops_serve.load` and opens
`Collector(name="model_inputs")` (package `azureml-ai-monitoring`; Microsoft Learn "Collect
production data from models deployed for real-time inferencing", Set up custom logging). `run(raw)`
decodes the request against the request schema; a request off the schema is answered HTTP 400
through the inference server's `AMLResponse` (Microsoft Learn "Advanced entry script authoring"),
never scored and never collected; otherwise the typed request columns are collected, exactly those,
and scored.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import mlops_serve
import pandas as pd

COLLECTION = "model_inputs"
_STATE: dict[str, Any] = {}


def _collector() -> Any:
    from azureml.ai.monitoring import Collector

    # A collection failure is logged, never a failed prediction.
    return Collector(name=COLLECTION, on_error=lambda e: logging.warning("data collection failed: %s", e))


def init() -> None:
    _STATE["loaded"] = mlops_serve.load(os.environ["AZUREML_MODEL_DIR"])
    _STATE["inputs"] = _collector()


def collected(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame the collector logs: the request columns, timestamps as ISO-8601 text (JSON-safe)."""
    out = frame.copy()
    for name in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[name]):
            out[name] = out[name].dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    return out


def _response(body: dict[str, Any], status: int) -> Any:
    try:
        from azureml_inference_server_http.api.aml_response import AMLResponse
    except ImportError:  # the older import path the server keeps for scoring scripts
        from azureml.contrib.services.aml_response import AMLResponse
    return AMLResponse(json.dumps(body), status, json_str=True)


def run(raw: str | bytes) -> Any:
    if "loaded" not in _STATE:
        raise RuntimeError("init() was not called")
    loaded = _STATE["loaded"]
    text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else str(raw)
    try:
        frame = mlops_serve.to_frame(loaded, mlops_serve.records_of(text))
    except mlops_serve.ServingError as exc:
        return _response({"error": str(exc)}, exc.status)
    if not frame.empty:
        _STATE["inputs"].collect(collected(frame))
    return {"predictions": mlops_serve.predict(loaded, frame)}
