"""The pipelines of this project, found by folder.

A pipeline is a folder ``pipelines/<name>/`` holding:
- ``__init__.py`` exposing ``PIPELINE`` (a ``pipelines.spec.PipelineDef`` named like the folder)
  and ``write_dataset(out_dir, rows, seed, **options)`` (sample raw data for ``input_data``);
- ``steps/``: its step scripts (``PIPELINE.steps_dir``);
- ``requirements.txt``: the step containers' packages, pinning the framework exactly.

Nothing registers it: the folder alone makes it a pipeline (``kit``, ``__pycache__``, names that
start with ``.`` or ``_`` and the kit's own modules are not pipelines). A folder that breaks one
of these rules, or whose code does not import, is a ``BrokenPipelineError`` naming the file and
the rule; the CLI reports it in one line with exit status 2, and ``mlops pipeline list`` lists
the others. Pipelines are imported when asked for, so finding their names stays cheap.
"""

from __future__ import annotations

import importlib
import inspect
import keyword
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.spec import NAME_RE, ParamDef, PipelineDef, StepDef
from providers.errors import SpecError

NOT_PIPELINES = frozenset({"kit", "__pycache__"})
"""Folders of `pipelines/` that are the kit's, not pipelines."""
INIT_FILE = "__init__.py"
STEPS_DIR = "steps"
REQUIREMENTS_FILE = "requirements.txt"
DATASET_FUNCTION = "write_dataset"


class PipelineError(SpecError):
    """A pipeline name that cannot be used; `key` says where to look (the CLI exits 2)."""


class UnknownPipelineError(PipelineError):
    """Raised for a name that no folder of `pipelines/` holds."""

    def __init__(self, name: str) -> None:
        self.name = name
        found = ", ".join(available()) or "none"
        super().__init__("pipeline", f"unknown pipeline {name!r}; pipelines/ holds: {found}")


class BrokenPipelineError(PipelineError):
    """A pipeline folder that breaks a rule: `key` is the file to fix, `rule` what is wrong."""

    def __init__(self, name: str, path: Path, rule: str) -> None:
        self.name = name
        self.path = path
        super().__init__(display(path), rule)


@dataclass(frozen=True)
class Found:
    """One pipeline folder: its definition, or why it is broken."""

    name: str
    folder: Path
    pipeline: PipelineDef | None
    error: BrokenPipelineError | None


def roots() -> list[Path]:
    """Where pipeline folders are looked for: this package's folder(s) (its ``__path__``)."""
    return [Path(p).resolve() for p in __path__]


def display(path: Path) -> str:
    """`pipelines/<name>/<file>`: a path from the folder holding `pipelines/`, as a user sees it."""
    for root in roots():
        try:
            return str(Path(root.name) / path.resolve().relative_to(root))
        except ValueError:
            continue
    return str(path)


def kit_names() -> frozenset[str]:
    """Names a pipeline folder cannot have: the kit's folders and its modules (`spec`, `local`, ...)."""
    modules = {p.stem for root in roots() for p in root.glob("*.py") if p.stem != "__init__"}
    return NOT_PIPELINES | modules


def folders() -> dict[str, Path]:
    """Pipeline name -> folder, for every candidate folder (valid or broken), sorted by name.

    A name found in two roots is kept from the first, and is broken (`get_pipeline` names both)."""
    found: dict[str, Path] = {}
    for root in roots():
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            if child.is_dir() and child.name not in NOT_PIPELINES and not child.name.startswith((".", "_")):
                found.setdefault(child.name, child)
    return dict(sorted(found.items()))


def available() -> list[str]:
    """Names of the pipeline folders, sorted (a broken one too: `get_pipeline` says what is wrong)."""
    return list(folders())


def get_pipeline(name: str) -> PipelineDef:
    """The validated ``PipelineDef`` of ``pipelines/<name>/``.

    Raises `UnknownPipelineError` (no such folder) or `BrokenPipelineError` (the file and the rule).
    """
    return _load(name, _folder(name))


def discover() -> list[Found]:
    """Every pipeline folder, loaded: its definition or its error (for `mlops pipeline list`)."""
    out: list[Found] = []
    for name, folder in folders().items():
        try:
            out.append(Found(name, folder, _load(name, folder), None))
        except BrokenPipelineError as exc:
            out.append(Found(name, folder, None, exc))
    return out


def write_sample_data(pipeline: str, out_dir: Path | str, *, rows: int = 2000, seed: int = 7, **options: Any) -> Path:
    """Generate a batch of the pipeline's synthetic raw data into ``out_dir``; returns the file.

    ``options`` go to the pipeline's ``write_dataset`` (e.g. ``start``, ``shift``, ``name``).
    Backends upload this file and point the ``input_data`` param at its folder.
    """
    get_pipeline(pipeline)
    module = sys.modules[f"{__name__}.{pipeline}"]
    return getattr(module, DATASET_FUNCTION)(Path(out_dir), rows=rows, seed=seed, **options)


# --- loading one folder ----------------------------------------------------------------------


def _folder(name: str) -> Path:
    found = folders()
    if name not in found:
        raise UnknownPipelineError(name)
    return found[name]


def _load(name: str, folder: Path) -> PipelineDef:
    init = folder / INIT_FILE
    if not NAME_RE.match(name) or keyword.iskeyword(name):
        raise BrokenPipelineError(
            name,
            folder,
            f"a pipeline folder's name is the pipeline's name: it must match {NAME_RE.pattern} "
            "(a Python package name) and not be a Python keyword",
        )
    if name in kit_names():
        raise BrokenPipelineError(
            name, folder, f"{name!r} is the name of one of the kit's own modules: rename the folder"
        )
    for root in roots():
        other = root / name
        if other.is_dir() and other.resolve() != folder.resolve():
            raise BrokenPipelineError(
                name, other, f"a second folder named {name!r} (besides {display(folder)}): a pipeline name is unique"
            )
    if not init.is_file():
        raise BrokenPipelineError(
            name, init, f"missing: a pipeline folder holds {INIT_FILE} exposing PIPELINE and {DATASET_FUNCTION}"
        )
    _compile_all(name, folder)
    module = _import(name, folder)
    pipeline = getattr(module, "PIPELINE", None)
    if pipeline is None:
        raise BrokenPipelineError(name, init, "defines no PIPELINE (a pipelines.spec.PipelineDef)")
    if not isinstance(pipeline, PipelineDef):
        raise BrokenPipelineError(
            name, init, f"PIPELINE is a {type(pipeline).__name__}, not a pipelines.spec.PipelineDef"
        )
    if pipeline.name != name:
        raise BrokenPipelineError(
            name, init, f"PIPELINE.name is {pipeline.name!r}; it must be the folder's name {name!r}"
        )
    _check_dataset_function(name, init, getattr(module, DATASET_FUNCTION, None))
    _check_layout(name, folder, pipeline)
    requirements = folder / REQUIREMENTS_FILE
    framework = pipeline._framework_problems()
    if framework:
        raise BrokenPipelineError(name, requirements, framework[0])
    try:
        pipeline.validate()
    except ValueError as exc:
        raise BrokenPipelineError(name, init, str(exc)) from None
    return pipeline


def _compile_all(name: str, folder: Path) -> None:
    """Every Python file of the folder parses: a helper imported only when it is needed (the sample
    data generator) or a step script only a container runs is checked here, not on first use."""
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts or any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        try:
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            raise BrokenPipelineError(name, path, f"line {exc.lineno}: syntax error: {exc.msg}") from None


def _import(name: str, folder: Path) -> Any:
    module_name = f"{__name__}.{name}"
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        where = Path(exc.filename) if exc.filename else folder / INIT_FILE
        raise BrokenPipelineError(name, where, f"line {exc.lineno}: syntax error: {exc.msg}") from None
    except (Exception, SystemExit) as exc:  # the pipeline's own code: anything it raises is its error
        path, line = _where(exc, folder)
        raise BrokenPipelineError(
            name, path, f"line {line}: importing it raised {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    origin = Path(module.__file__ or "").resolve()
    if origin != (folder / INIT_FILE).resolve():
        raise BrokenPipelineError(name, folder, f"{module_name} was imported from {origin}, not from this folder")
    return module


def _where(exc: BaseException, folder: Path) -> tuple[Path, int | None]:
    """The innermost frame of the traceback inside the pipeline's folder (else its __init__.py)."""
    found: tuple[Path, int | None] = (folder / INIT_FILE, None)
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename).resolve()
        if path.is_relative_to(folder):
            found = (path, frame.lineno)
    return found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


def _check_dataset_function(name: str, init: Path, function: Any) -> None:
    rule = f"must define {DATASET_FUNCTION}(out_dir, rows, seed, **options) returning the written file"
    if not callable(function):
        raise BrokenPipelineError(name, init, rule)
    try:
        inspect.signature(function).bind(Path("."), rows=100, seed=0)
    except (TypeError, ValueError):
        raise BrokenPipelineError(name, init, f"{rule}; it is {DATASET_FUNCTION}{_signature(function)}") from None


def _signature(function: Any) -> str:
    try:
        return str(inspect.signature(function))
    except (TypeError, ValueError):
        return "(?)"


def _check_layout(name: str, folder: Path, pipeline: PipelineDef) -> None:
    steps = folder / STEPS_DIR
    init = folder / INIT_FILE
    if not steps.is_dir():
        raise BrokenPipelineError(name, steps, f"missing: a pipeline folder holds its step scripts in {STEPS_DIR}/")
    if pipeline.steps_dir.resolve() != steps.resolve():
        raise BrokenPipelineError(
            name, init, f"PIPELINE.steps_dir is {pipeline.steps_dir}; it must be the folder's {STEPS_DIR}/"
        )
    requirements = folder / REQUIREMENTS_FILE
    if not requirements.is_file():
        raise BrokenPipelineError(
            name, requirements, "missing: a pipeline folder holds the step containers' pinned packages"
        )
    if pipeline.requirements.resolve() != requirements.resolve():
        raise BrokenPipelineError(
            name, init, f"PIPELINE.requirements is {pipeline.requirements}; it must be the folder's {REQUIREMENTS_FILE}"
        )


__all__ = [
    "BrokenPipelineError",
    "Found",
    "ParamDef",
    "PipelineDef",
    "PipelineError",
    "StepDef",
    "UnknownPipelineError",
    "available",
    "discover",
    "folders",
    "get_pipeline",
    "write_sample_data",
]
