"""The pipeline's pinned requirements as wheels, for step containers without a network.

With ``network.public_access: false`` every SageMaker job runs network-isolated, so ``run.sh``
cannot pip-install from PyPI: it installs ``requirements.txt`` with ``--no-index`` from
``wheelhouse.zip``, which Pulumi uploads next to the step code from the directory this module
builds (the pipeline's requirements and the AWS step I/O's, ``step_requirements.txt``). The kit
never downloads at plan or ``pulumi preview`` time (a preview must have no side
effects and the offline plan no network): the user builds it once per requirements file,

    python -m providers.aws.wheelhouse churn

and ``pulumi up`` uploads it. The directory is named by the image's Python and the requirements'
hash, so a changed requirements file needs a new build (``pulumi preview`` fails on the missing
directory until then, and ``mlops plan`` names it). The wheels are for the SageMaker image the
pipeline runs on (``translate.framework_image``: CPython and manylinux x86_64).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from pipelines.spec import PipelineDef
from providers.aws.translate import FrameworkImage

PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
"""Linux x86_64 wheels the image's glibc runs (the sklearn 1.4-2-py312 image is Ubuntu 24.04)."""


STEP_REQUIREMENTS = Path(__file__).resolve().parent / "step_requirements.txt"
"""The AWS step I/O's own requirements (boto3, pyarrow), installed next to the pipeline's."""


def requirement_files(pipeline: PipelineDef) -> list[Path]:
    return [pipeline.requirements, STEP_REQUIREMENTS]


def directory(pipeline: PipelineDef, image: FrameworkImage) -> Path:
    """``<requirements dir>/build/wheelhouse-cp312-<sha256[:12] of the requirements files>``."""
    sha = hashlib.sha256()
    for path in requirement_files(pipeline):
        sha.update(path.read_bytes())
    digest = sha.hexdigest()[:12]
    python = (image.python or "unknown").replace(".", "")
    return pipeline.requirements.parent / "build" / f"wheelhouse-cp{python}-{digest}"


def download_command(pipeline: PipelineDef, image: FrameworkImage, dest: Path) -> list[str]:
    """The ``pip download`` that fills ``dest`` with every wheel the requirements resolve to."""
    if image.python is None:
        raise ValueError(
            f"the {image.table} image {image.version} does not name its Python version: "
            "the wheelhouse cannot be built for it"
        )
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        *(arg for path in requirement_files(pipeline) for arg in ("--requirement", str(path))),
        "--only-binary=:all:",
        *platforms,
        "--implementation",
        "cp",
        "--python-version",
        image.python,
        "--dest",
        str(dest),
    ]


def main(argv: list[str] | None = None) -> int:
    import argparse

    from pipelines import available, get_pipeline
    from providers.aws.translate import framework_image
    from providers.spec import SpecError

    parser = argparse.ArgumentParser(
        prog="python -m providers.aws.wheelhouse",
        description="Download the wheels a private AWS platform's step containers install from.",
    )
    parser.add_argument("pipeline", help=f"a pipeline of pipelines/ ({', '.join(available())})")
    args = parser.parse_args(argv)
    if args.pipeline not in available():
        print(f"pipeline: unknown pipeline {args.pipeline!r}; defined in pipelines/: {', '.join(available())}")
        return 2
    pipeline = get_pipeline(args.pipeline)
    try:
        image = framework_image(pipeline, "pipeline")
        dest = directory(pipeline, image)
        command = download_command(pipeline, image, dest)
    except (SpecError, ValueError) as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        return 2
    dest.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, check=False)
    if done.returncode == 0:
        print(dest)
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
