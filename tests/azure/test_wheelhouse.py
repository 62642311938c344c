"""The environment built without the internet (providers/azure/wheelhouse.py)."""

from __future__ import annotations

import dataclasses
import sys
import tarfile
from pathlib import Path

import pytest

import pipelines
from providers.azure import wheelhouse

PIPELINE = pipelines.get_pipeline("churn")


def test_requirements_pin_the_framework_the_model_is_served_with_and_everything_else():
    lines = wheelhouse.requirements(PIPELINE).splitlines()
    assert "scikit-learn==1.4.2" in lines  # PipelineDef.framework, exactly
    assert lines[-5:] == [
        "azure-ai-ml==1.35.2",
        "azure-identity==1.27.0",
        "azure-storage-blob==12.31.1",
        "pyarrow==17.0.0",
        "azureml-ai-monitoring==1.0.0",
    ]
    assert all("==" in line for line in lines)


def test_a_pipeline_not_pinning_its_framework_is_refused(tmp_path):
    loose = tmp_path / "requirements.txt"
    loose.write_text("scikit-learn>=1.4\npandas==2.2.3\n")
    with pytest.raises(ValueError, match=r"must pin scikit-learn==1\.4\.2"):
        wheelhouse.requirements(dataclasses.replace(PIPELINE, requirements=loose))


def test_the_dockerfile_installs_from_the_wheelhouse_only_on_the_documented_base():
    assert wheelhouse.dockerfile().splitlines() == [
        "FROM mcr.microsoft.com/azureml/minimal-py312-inference:latest",
        "USER root",
        "COPY requirements.txt /tmp/mlops/requirements.txt",
        "ADD wheelhouse.tar.gz /tmp/mlops/wheels/",
        "RUN pip install --no-index --no-cache-dir --find-links /tmp/mlops/wheels "
        "-r /tmp/mlops/requirements.txt && rm -rf /tmp/mlops",
        "USER dockeruser",
    ]


def test_wheels_are_downloaded_for_the_images_python_and_platform():
    command = wheelhouse.download_command(Path("r.txt"), Path("w"))
    assert command[:3] == [sys.executable, "-m", "pip"] and command[3:5] == ["download", "--only-binary=:all:"]
    flags = command[5:]
    assert flags[flags.index("--python-version") + 1] == "3.12"  # minimal-py312-inference
    assert flags[flags.index("--implementation") + 1] == "cp"
    platforms = [flags[i + 1] for i, f in enumerate(flags) if f == "--platform"]
    assert platforms == ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"]
    assert flags[-4:] == ["-d", "w", "-r", "r.txt"]


def test_the_version_changes_with_what_the_image_is_built_from(tmp_path):
    other = tmp_path / "requirements.txt"
    other.write_text(PIPELINE.requirements.read_text().replace("pandas==2.2.3", "pandas==2.2.2"))
    assert wheelhouse.digest(dataclasses.replace(PIPELINE, requirements=other)) != wheelhouse.digest(PIPELINE)


def test_build_archives_every_downloaded_wheel_where_pulumi_up_uploads_it(tmp_path, monkeypatch):
    seen = {}

    def fake_pip(command, check):
        into = Path(command[command.index("-d") + 1])
        seen["requirements"] = Path(command[command.index("-r") + 1]).read_text()
        into.mkdir(parents=True)
        for wheel in ("numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.whl", "joblib-1.4.2-py3-none-any.whl"):
            (into / wheel).write_bytes(b"wheel")

    monkeypatch.setattr(wheelhouse.subprocess, "run", fake_pip)
    archive = wheelhouse.build(PIPELINE, tmp_path)
    assert archive == tmp_path / ".mlops/wheelhouse/azure" / f"churn-{wheelhouse.digest(PIPELINE)}.tar.gz"
    assert seen["requirements"] == wheelhouse.requirements(PIPELINE)
    with tarfile.open(archive) as tar:
        assert tar.getnames() == [
            "joblib-1.4.2-py3-none-any.whl",
            "numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.whl",
        ]
