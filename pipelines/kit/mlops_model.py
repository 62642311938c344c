"""Save and load a model the way every cloud serves it.

A pipeline's training step calls ``save(model, model_dir)``; the folder then holds everything a
serving container needs, on any cloud, with nothing to download:
- ``model.joblib``: the fitted estimator; it takes a frame of the request columns as they come
  (typed by the contract, in its order) and does its own preprocessing;
- ``request_schema.json``: the request columns and the task (what serving accepts);
- ``runtime.json``: the framework and its version, and ``packages``: every installed distribution
  the pickle imports (scikit-learn, numpy, xgboost, ...) with the version it was pickled with;
  ``mlops_serve.load`` refuses to load it under any other version;
- ``code/``: the kit's serving code (``mlops_serve.py``, ``mlops_schema.py``) and ``serve.py``,
  the entry module the clouds' serving containers import;
- ``code/vendor/``: only when the environment names them (``MLOPS_MODEL_SHIPS=xgboost``), the
  installed distributions the serving image lacks (SageMaker serves an XGBoost-in-scikit-learn
  model from its scikit-learn image, behind network isolation); ``serve.py`` puts the folder on
  ``sys.path`` first.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
from mlops_schema import load_contract

MODEL_FILE = "model.joblib"
SCHEMA_FILE = "request_schema.json"
RUNTIME_FILE = "runtime.json"
CODE_DIR = "code"
SERVING_FILES = ("mlops_serve.py", "mlops_schema.py")
ENTRY_MODULE = "serve.py"
VENDOR_DIR = "vendor"
SHIPS_ENV = "MLOPS_MODEL_SHIPS"
# SAGEMAKER_SUBMIT_DIRECTORY: where SageMaker's serving container was told the code is (the model's
# code/ folder), in case it imports an installed copy of this module rather than the folder's.
_ENTRY = '''"""Serving entry module: the kit's serving code (mlops_serve.py)."""
import os
import sys

for _root in (os.path.dirname(os.path.abspath(__file__)), os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY", "")):
    _vendor = os.path.join(_root, "vendor")
    if _root and os.path.isdir(_vendor) and _vendor not in sys.path:
        sys.path.insert(0, _vendor)
from mlops_serve import *  # noqa: E402,F403
'''
FRAMEWORK_MODULES = {"scikit-learn": "scikit-learn", "xgboost": "xgboost"}


def save(model: Any, model_dir: str | Path, *, framework: str = "scikit-learn") -> Path:
    """Write the servable model folder; returns the model file."""
    root = Path(model_dir)
    root.mkdir(parents=True, exist_ok=True)
    contract = load_contract()
    path = root / MODEL_FILE
    joblib.dump(model, path)
    schema = {"request": contract["request"], "task": contract["task"], "label": contract["label"]}
    (root / SCHEMA_FILE).write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    version = metadata.version(FRAMEWORK_MODULES[framework])
    packages = {**pickled_packages(model), FRAMEWORK_MODULES[framework]: version}
    runtime = {"framework": framework, "version": version, "packages": dict(sorted(packages.items()))}
    (root / RUNTIME_FILE).write_text(json.dumps(runtime, indent=2) + "\n", encoding="utf-8")
    code = root / CODE_DIR
    code.mkdir(exist_ok=True)
    here = Path(__file__).resolve().parent
    for name in SERVING_FILES:
        shutil.copyfile(here / name, code / name)
    (code / ENTRY_MODULE).write_text(_ENTRY, encoding="utf-8")
    for name in filter(None, os.environ.get(SHIPS_ENV, "").split(",")):
        _ship(name.strip(), code / VENDOR_DIR)
    return path


def _ship(name: str, vendor: Path) -> None:
    """Copy the installed distribution ``name`` (its files and metadata) into ``vendor``."""
    dist = metadata.distribution(name)
    for file in dist.files or ():
        if file.parts[0] == ".." or "__pycache__" in file.parts:
            continue  # console scripts outside site-packages; byte code
        target = vendor / Path(*file.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(str(dist.locate_file(file))), target)


class _Sink:
    def write(self, data: bytes) -> int:
        return len(data)


def pickled_modules(obj: Any) -> set[str]:
    """The top-level modules a pickle of `obj` imports when loaded (classes, functions, instances)."""
    modules: set[str] = set()

    class Recorder(pickle.Pickler):
        def reducer_override(self, value: Any) -> Any:
            owner = value if isinstance(value, type) or callable(value) else type(value)
            module = getattr(owner, "__module__", None)
            if isinstance(module, str) and module:
                modules.add(module.split(".")[0])
            return NotImplemented

    Recorder(_Sink(), protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return modules


def _top_levels(dist: metadata.Distribution) -> set[str]:
    listed = (dist.read_text("top_level.txt") or "").split()
    if listed:
        return set(listed)
    tops = set()
    for file in dist.files or ():
        head = file.parts[0] if file.parts else ""
        if head and head != ".." and not head.endswith((".dist-info", ".egg-info", ".data")):
            tops.add(head[:-3] if head.endswith(".py") else head)
    return tops


def pickled_packages(obj: Any) -> dict[str, str]:
    """Every installed distribution whose modules a pickle of `obj` imports, with its version. The
    standard library and modules of no distribution (the step's own) are not listed. Python 3.9 has
    no `metadata.packages_distributions`: the distributions' top-level names are read the same way."""
    wanted = pickled_modules(obj)
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and _top_levels(dist) & wanted:
            found[name] = dist.version
    return found


def load(model_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """(estimator, request schema) from a folder written by `save`; refuses other package versions."""
    from mlops_serve import check_runtime

    root = Path(model_dir)
    check_runtime(root)
    schema = json.loads((root / SCHEMA_FILE).read_text(encoding="utf-8"))
    return joblib.load(root / MODEL_FILE), schema
