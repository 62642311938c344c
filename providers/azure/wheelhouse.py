"""The step and serving image, built without the internet: a wheelhouse in the build context.

A private workspace's managed network allows only approved outbound traffic, so conda and pip
cannot reach their indexes (Microsoft Learn "Workspace Managed Virtual Network Isolation": with
"allow only approved outbound ... you need to prepare all required machine learning artifacts
in your private environment"; FQDN rules to PyPI would need Azure Firewall). The kit ships every
package as a wheel instead: `python -m providers.azure.wheelhouse <pipeline>` downloads the
pipeline's pinned requirements for the image's Python and platform into one archive, `pulumi up`
uploads it next to a Dockerfile, and Azure ML builds the environment from that build context with
`pip install --no-index`: the only image pulled is Microsoft's documented inference base (the
managed network's required `MicrosoftContainerRegistry` rule).

The same image runs the pipeline steps and serves the model, so the framework the model was
trained with is the one it is loaded with: the requirements pin `PipelineDef.framework` exactly.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from pipelines.spec import PipelineDef, requirement_pins

# Microsoft Learn "Docker images for inference" (Inference minimal base images): CPU,
# `mcr.microsoft.com/azureml/minimal-py312-inference:latest`, with azureml-inference-server-http.
# "Use the latest tag ... Azure Machine Learning supports tags that are up to six months older
# than latest": a pinned tag would stop being supported; the Python version is in the image's
# name, so the wheelhouse below always matches it.
BASE_IMAGE = "mcr.microsoft.com/azureml/minimal-py312-inference:latest"
PYTHON_VERSION = "3.12"
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
ARCHIVE = "wheelhouse.tar.gz"
# What the kit's Azure code in the image imports, pinned: the gate step registers the model with
# azure-ai-ml as the runtime identity; the step I/O (step_io.py, shipped as mlops_io.py) reads and
# writes the stores with azure-storage-blob and parquet (pyarrow: the feature sets read parquet);
# the scoring script logs the request columns with Azure ML's collector (azureml-ai-monitoring,
# Microsoft Learn "Collect production data from models deployed for real-time inferencing").
# azure-ai-ml, azure-identity and azure-storage-blob: the versions this kit is tested with
# (constraints.txt); pyarrow 17.0.0: a release with CPython 3.12 manylinux wheels for numpy 1.26 and
# pandas 2.2 (the churn pins) [not downloaded here: no wheelhouse is built offline].
EXTRA_REQUIREMENTS = (
    "azure-ai-ml==1.35.2",
    "azure-identity==1.27.0",
    "azure-storage-blob==12.31.1",
    "pyarrow==17.0.0",
    "azureml-ai-monitoring==1.0.0",
)


def requirements(pipeline: PipelineDef) -> str:
    """The image's requirements: the pipeline's (the framework pinned exactly) and the kit's."""
    lines = [
        line.strip()
        for line in pipeline.requirements.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    framework = pipeline.framework
    if requirement_pins("\n".join(lines)).get(framework.name) != framework.version:
        raise ValueError(
            f"{pipeline.requirements} must pin {framework.name}=={framework.version} (PipelineDef.framework)"
        )
    return "\n".join([*lines, *EXTRA_REQUIREMENTS]) + "\n"


def dockerfile() -> str:
    return (
        f"FROM {BASE_IMAGE}\n"
        "USER root\n"
        "COPY requirements.txt /tmp/mlops/requirements.txt\n"
        f"ADD {ARCHIVE} /tmp/mlops/wheels/\n"
        "RUN pip install --no-index --no-cache-dir --find-links /tmp/mlops/wheels "
        "-r /tmp/mlops/requirements.txt && rm -rf /tmp/mlops\n"
        "USER dockeruser\n"
    )


def digest(pipeline: PipelineDef) -> str:
    """The environment's version: what the image is built from (base, Dockerfile, requirements)."""
    return hashlib.sha256((dockerfile() + requirements(pipeline)).encode()).hexdigest()[:12]


def archive_path(pipeline: PipelineDef, root: Path) -> Path:
    """Where `build` leaves the wheelhouse and `pulumi up` uploads it from."""
    return root / ".mlops" / "wheelhouse" / "azure" / f"{pipeline.name}-{digest(pipeline)}.tar.gz"


def download_command(requirements_file: Path, into: Path) -> list[str]:
    command = [sys.executable, "-m", "pip", "download", "--only-binary=:all:"]
    command += ["--python-version", PYTHON_VERSION, "--implementation", "cp"]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    return [*command, "-d", str(into), "-r", str(requirements_file)]


def build(pipeline: PipelineDef, root: Path) -> Path:
    """Download every wheel (needs the internet, on the deployer's machine) into the archive."""
    target = archive_path(pipeline, root)
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(requirements(pipeline))
        wheels = Path(tmp) / "wheels"
        subprocess.run(download_command(req, wheels), check=True)  # noqa: S603 - our own argv
        target.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(target, "w:gz") as tar:
            for wheel in sorted(wheels.iterdir()):
                tar.add(wheel, arcname=wheel.name)
    return target


def main(argv: list[str] | None = None) -> int:
    import pipelines
    from infra.config import find_project_root

    parser = argparse.ArgumentParser(prog="python -m providers.azure.wheelhouse", description=__doc__.split("\n")[0])
    parser.add_argument("pipeline", help="a pipeline defined in pipelines/ (e.g. churn)")
    args = parser.parse_args(argv)
    pipeline = pipelines.get_pipeline(args.pipeline)
    root = find_project_root(Path.cwd()) or Path.cwd()
    print(build(pipeline, root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
