"""A model is only loaded under the package versions it was pickled with (audit GCP finding 2).

`mlops_model.save` records in runtime.json every installed distribution the pickle imports;
`mlops_serve.load` (every cloud's serving path) and `mlops_model.load` refuse any other version.
The oracle for "what the pickle imports" is independent of the kit's code: the GLOBAL opcodes of a
protocol-2 pickle (`pickletools`, each names its module) mapped to distributions by the standard
library's `importlib.metadata.packages_distributions()`.
"""

from __future__ import annotations

import json
import pickle
import pickletools
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

KIT = Path(__file__).resolve().parents[2] / "pipelines" / "kit"


@pytest.fixture(scope="module")
def kit():
    sys.path.insert(0, str(KIT))
    import mlops_model
    import mlops_serve

    yield mlops_model, mlops_serve
    sys.path.remove(str(KIT))


def _contract(tmp_path: Path, monkeypatch) -> None:
    contract = {
        "request": [{"name": "a", "type": "float"}, {"name": "c", "type": "string"}],
        "task": "classification",
        "label": "y",
    }
    (tmp_path / "mlops_contract.json").write_text(json.dumps(contract), encoding="utf-8")
    monkeypatch.setenv("MLOPS_CONTRACT", str(tmp_path / "mlops_contract.json"))


def _model(with_pandas: bool = False):
    frame = pd.DataFrame({"a": np.arange(20.0), "c": ["x", "y"] * 10})
    pre = ColumnTransformer([("num", StandardScaler(), ["a"]), ("cat", OneHotEncoder(), ["c"])])
    model = make_pipeline(pre, LogisticRegression()).fit(frame, np.arange(20) % 2)
    if with_pandas:
        model.reference_ = pd.Series([1.0, 2.0])  # a pandas object inside the pickle
    return model


def pickle_distributions(obj) -> set[str]:
    """The oracle: distributions whose modules a protocol-2 pickle of `obj` names in GLOBAL opcodes."""
    owners = metadata.packages_distributions()
    modules = {
        arg.split(" ")[0].split(".")[0]
        for op, arg, _ in pickletools.genops(pickle.dumps(obj, protocol=2))
        if op.name == "GLOBAL"
    }
    return {dist for module in modules for dist in owners.get(module, [])}


@pytest.mark.parametrize("with_pandas", [False, True])
def test_runtime_lists_every_distribution_the_pickle_imports(kit, tmp_path, monkeypatch, with_pandas):
    mlops_model, _ = kit
    _contract(tmp_path, monkeypatch)
    model = _model(with_pandas)
    mlops_model.save(model, tmp_path / "model")
    runtime = json.loads((tmp_path / "model" / "runtime.json").read_text())
    expected = {"numpy", "scikit-learn", "pandas"} if with_pandas else {"numpy", "scikit-learn"}
    assert pickle_distributions(model) == expected  # the oracle sees what this test means to cover
    assert set(runtime["packages"]) == expected
    assert runtime["packages"] == {name: metadata.version(name) for name in expected}
    assert (runtime["framework"], runtime["version"]) == ("scikit-learn", metadata.version("scikit-learn"))


@pytest.fixture()
def saved(kit, tmp_path, monkeypatch) -> Path:
    mlops_model, _ = kit
    _contract(tmp_path, monkeypatch)
    mlops_model.save(_model(with_pandas=True), tmp_path / "model")
    return tmp_path / "model"


def _tamper(model_dir: Path, name: str, version: str | None) -> None:
    path = model_dir / "runtime.json"
    runtime = json.loads(path.read_text())
    if version is None:
        runtime["packages"].pop(name)
    else:
        runtime["packages"][name] = version
    path.write_text(json.dumps(runtime))


def test_loading_under_the_recorded_versions_works(kit, saved):
    mlops_model, mlops_serve = kit
    assert mlops_serve.load(saved)["schema"]["task"] == "classification"
    model, _ = mlops_model.load(saved)
    assert hasattr(model, "predict_proba")


@pytest.mark.parametrize("name", ["numpy", "scikit-learn", "pandas"])
def test_each_recorded_package_at_another_version_is_refused(kit, saved, name):
    mlops_model, mlops_serve = kit
    _tamper(saved, name, "0.0.1")
    installed = metadata.version(name)
    for load in (mlops_serve.load, mlops_model.load):
        with pytest.raises(mlops_serve.RuntimeMismatch, match=rf"{name} 0\.0\.1 \(this environment: {installed}\)"):
            load(saved)


def test_a_recorded_package_that_is_not_installed_is_refused(kit, saved):
    _, mlops_serve = kit
    _tamper(saved, "no-such-distribution-mlops", "1.0")
    with pytest.raises(
        mlops_serve.RuntimeMismatch, match=r"no-such-distribution-mlops 1\.0 \(this environment: not installed\)"
    ):
        mlops_serve.load(saved)


def test_a_model_without_runtime_json_is_refused(kit, saved):
    _, mlops_serve = kit
    (saved / "runtime.json").unlink()
    with pytest.raises(mlops_serve.RuntimeMismatch, match="runtime.json: missing"):
        mlops_serve.load(saved)
