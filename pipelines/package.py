"""The step code of a pipeline as one content-addressed bundle: what every cloud uploads.

Every cloud ships the same files (the pipeline's step scripts and its requirements, plus whatever
the cloud adds, e.g. its own I/O module) under one prefix named by their content hash, so a run
never mixes old and new code, and a change to any file gives a new prefix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from pipelines.spec import PipelineDef

DIGEST_LENGTH = 12


@dataclass(frozen=True)
class CodeBundle:
    """Files by the name they have in the container: a file on disk, or generated text."""

    pipeline: str
    files: Mapping[str, Path | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", MappingProxyType(dict(sorted(self.files.items()))))

    def content(self, name: str) -> bytes:
        source = self.files[name]
        return source.read_bytes() if isinstance(source, Path) else source.encode("utf-8")

    @property
    def digest(self) -> str:
        """sha256 over every file's name and content, shortened: the bundle's version."""
        sha = hashlib.sha256()
        for name in self.files:
            sha.update(name.encode())
            sha.update(b"\0")
            sha.update(self.content(name))
            sha.update(b"\0")
        return sha.hexdigest()[:DIGEST_LENGTH]

    @property
    def prefix(self) -> str:
        """Where the bundle lives in the platform's storage: `code/<pipeline>/<digest>/`."""
        return f"code/{self.pipeline}/{self.digest}/"

    def write(self, directory: Path) -> Path:
        """Materialise the bundle in `directory` (what a container sees as its code dir)."""
        directory.mkdir(parents=True, exist_ok=True)
        for name in self.files:
            (directory / name).write_bytes(self.content(name))
        return directory


def step_files(pipeline: PipelineDef) -> dict[str, Path]:
    """The pipeline's own files: every step script (and helper module) and its requirements."""
    files = {p.name: p for p in sorted(pipeline.steps_dir.glob("*.py")) if not p.name.startswith("_")}
    files[pipeline.requirements.name] = pipeline.requirements
    return files


def bundle(
    pipeline: PipelineDef, extra: Mapping[str, Path | str] | None = None, *, io_module: Path | str | None = None
) -> CodeBundle:
    """The pipeline's files, the kit's (its steps, the data contract and `io_module` as `mlops_io.py`:
    the cloud's step I/O, the local one by default) and `extra` (a cloud's additions). A name clash
    is an error."""
    from pipelines.kit import LOCAL_IO, kit_files

    files: dict[str, Path | str] = dict(step_files(pipeline))
    for name, source in [*kit_files(pipeline, io_module or LOCAL_IO).items(), *(extra or {}).items()]:
        if name in files:
            raise ValueError(f"{name!r} is both a file of pipeline {pipeline.name!r} and one the kit or cloud adds")
        files[name] = source
    return CodeBundle(pipeline.name, files)
