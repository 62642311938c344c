"""The SageMaker image each pipeline trains and serves on, and whether its pins install on that Python.

Expected values are literal: the image Python from the SDK's version string (`-py312`) or, where it
says nothing, from the image's Dockerfile (aws/sagemaker-xgboost-container docker/1.7-1/final/
Dockerfile.cpu: `ARG PYTHON_VERSION=3.8`); each pin's Requires-Python from PyPI's metadata of that
release (`pip install --dry-run --report`, 2026-12-02, docs/aws.md "Framework images and their Python").
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from pipelines import available, get_pipeline
from pipelines.spec import requirement_pins
from providers.aws import translate as tr
from providers.spec import SpecError

ROOT = Path(__file__).resolve().parents[2]

# pipeline -> (SDK table, image version, image Python, GPU, distributions shipped inside the model)
EXPECTED_IMAGE = {
    "churn": ("sklearn", "1.4-2-py312", "3.12", False, ()),
    "fraud": ("sklearn", "1.4-2-py312", "3.12", False, ("xgboost",)),
}
# (pin, version) -> the oldest Python it installs on (PyPI Requires-Python of that release).
REQUIRES_PYTHON = {
    ("joblib", "1.4.2"): (3, 8),
    ("numpy", "1.26.4"): (3, 9),
    ("pandas", "2.2.3"): (3, 9),
    ("pandera", "0.20.4"): (3, 7),
    ("scikit-learn", "1.4.2"): (3, 9),
    ("scipy", "1.13.1"): (3, 9),
    ("xgboost", "1.7.6"): (3, 8),
}
# Images whose SDK version string names no Python: the Python of their Dockerfile.
DOCKERFILE_PYTHON = {("xgboost", "1.7-1"): "3.8"}


@pytest.mark.parametrize("name", available())
def test_every_example_pipeline_gets_this_image(name):
    image = tr.framework_image(get_pipeline(name), "k")
    assert (image.table, image.version, image.python, image.gpu, image.ships) == EXPECTED_IMAGE[name]


@pytest.mark.parametrize("name", available())
def test_every_pin_of_every_example_installs_on_its_image_python(name):
    """The class test of audit finding 1: a pipeline whose pins need a newer Python than its image."""
    pipeline = get_pipeline(name)
    image = tr.framework_image(pipeline, "k")
    suffix = image.version.rpartition("-py")[2] if "-py" in image.version else None
    python = f"{suffix[0]}.{suffix[1:]}" if suffix else DOCKERFILE_PYTHON[(image.table, image.version)]
    assert image.python == python
    major, minor = (int(part) for part in python.split("."))
    for pin in requirement_pins(pipeline.requirements.read_text(encoding="utf-8")).items():
        assert pin in REQUIRES_PYTHON, f"{name}: add {pin} with its PyPI Requires-Python to this test"
        assert (major, minor) >= REQUIRES_PYTHON[pin], f"{name}: {pin} does not install on Python {python}"


def test_the_code_table_of_requires_python_says_what_pypi_says():
    assert tr.REQUIRES_PYTHON == REQUIRES_PYTHON
    assert {key: f"{v[0]}.{v[1]}" for key, v in tr.IMAGE_PYTHON.items()} == DOCKERFILE_PYTHON


def test_the_installed_xgboost_states_the_same_requires_python():
    """The one pin installed here at its pinned version: its own metadata agrees with the table."""
    assert metadata.version("xgboost") == "1.7.6"
    assert metadata.metadata("xgboost")["Requires-Python"] == ">=3.8"


def _xgboost_only(tmp_path, *pins: str):
    """Fraud's pipeline without scikit-learn in its requirements: the xgboost image's Python decides."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("".join(f"{pin}\n" for pin in pins))
    return dataclasses.replace(get_pipeline("fraud"), requirements=requirements)


def test_pins_the_image_python_cannot_install_are_refused_naming_the_pin(tmp_path):
    pipeline = _xgboost_only(tmp_path, "xgboost==1.7.6", "pandas==2.2.3", "joblib==1.4.2")
    with pytest.raises(SpecError) as info:
        tr.framework_image(pipeline, "mlops:platform.pipeline.name")
    assert info.value.key == "mlops:platform.pipeline.name"
    assert "pandas==2.2.3" in info.value.rule and ">=3.9" in info.value.rule
    assert "xgboost image 1.7-1 runs Python 3.8" in info.value.rule


def test_pins_that_install_keep_the_xgboost_image_and_its_gpu(tmp_path):
    image = tr.framework_image(_xgboost_only(tmp_path, "xgboost==1.7.6", "joblib==1.4.2"), "k")
    assert image == tr.FrameworkImage("xgboost", "1.7-1", "3.8", gpu=True, ships=())


def test_validate_refuses_it_with_exit_2_and_one_line(tmp_path, monkeypatch, capsys):
    import pipelines
    from infra import cli

    broken = _xgboost_only(tmp_path, "xgboost==1.7.6", "pandas==2.2.3")
    real = pipelines.get_pipeline
    monkeypatch.setattr(pipelines, "get_pipeline", lambda name: broken if name == "fraud" else real(name))
    document = yaml.safe_load((ROOT / "Pulumi.aws-fraud.yaml").read_text())
    path = tmp_path / "Pulumi.aws-fraud.yaml"
    path.write_text(yaml.safe_dump(document))
    for command in ("validate", "plan"):
        assert cli.main([command, "--config-file", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert "Traceback" not in err and len(err.splitlines()) == 1, err
        assert "mlops:platform.pipeline.name" in err and "pins pandas==2.2.3, which requires Python >=3.9" in err


@pytest.mark.parametrize(("stack", "ships"), [("aws-dev", None), ("aws-fraud", "xgboost")])
def test_the_training_job_names_what_the_model_must_carry(stack, ships):
    from infra.config import load_stack_file
    from infra.plan import plan

    result = plan(load_stack_file(ROOT / f"Pulumi.{stack}.yaml"))
    definition = json.loads(result.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"])
    (train,) = [s for s in definition["Steps"] if s["Type"] == "Training"]
    assert train["Arguments"]["Environment"].get("MLOPS_MODEL_SHIPS") == ships


def test_a_shipped_distribution_is_imported_from_the_model(tmp_path):
    """mlops_model.save copies what MLOPS_MODEL_SHIPS names into code/vendor/, and serve.py puts it
    first on sys.path, whether it is imported from code/ or, on SageMaker, from an installed copy."""
    kit = ROOT / "pipelines" / "kit"
    model_dir = tmp_path / "model"
    script = (
        "import sys, json; sys.path[:0] = [sys.argv[1]]\n"
        "import mlops_schema; mlops_schema.load_contract = lambda: {'request': [], 'task': 'classification', "
        "'label': 'y'}\n"
        "import mlops_model; mlops_model.load_contract = mlops_schema.load_contract\n"
        "mlops_model.save({'a': 1}, sys.argv[2])\n"
    )
    env = {**os.environ, "MLOPS_MODEL_SHIPS": "joblib"}
    subprocess.run([sys.executable, "-c", script, str(kit), str(model_dir)], check=True, env=env)
    vendor = model_dir / "code" / "vendor"
    dist = metadata.distribution("joblib")
    expected = {Path(*f.parts) for f in dist.files or () if f.parts[0] != ".." and "__pycache__" not in f.parts}
    assert {p.relative_to(vendor) for p in vendor.rglob("*") if p.is_file()} == expected
    probe = "import serve, joblib; print(joblib.__file__)"
    elsewhere = tmp_path / "installed"
    elsewhere.mkdir()
    (elsewhere / "serve.py").write_text((model_dir / "code" / "serve.py").read_text())
    for cwd, extra in ((model_dir / "code", {}), (elsewhere, {"SAGEMAKER_SUBMIT_DIRECTORY": str(model_dir / "code")})):
        env = {**os.environ, "PYTHONPATH": f"{cwd}{os.pathsep}{model_dir / 'code'}", **extra}
        env.pop("MLOPS_MODEL_SHIPS", None)
        out = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().startswith(str(vendor)), out.stdout
