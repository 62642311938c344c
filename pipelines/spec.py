"""Cloud-neutral pipeline description.

The Pulumi providers (SageMaker, Vertex AI, Azure ML) and the local runner all
consume these dataclasses, so a pipeline is described once and every backend
runs the same scripts with the same command line (see ``PipelineDef.command``).
Pure Python on purpose: nothing here may import Pulumi or a cloud SDK.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, get_args

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
PARAM_PREFIX = "param:"

ParamType = Literal["string", "int", "float"]
StepKind = Literal["processing", "training", "evaluation"]

_PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "int": (int,),
    "float": (float, int),
}
_STEP_KINDS = ("processing", "training", "evaluation")


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    # A read-only view keeps the "frozen" promise for the mapping fields too.
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class ParamRef:
    """``param:<name>``: the value of a pipeline parameter."""

    name: str


@dataclass(frozen=True)
class OutputRef:
    """``<step>.<output>``: an output directory of an earlier step."""

    step: str
    output: str


@dataclass(frozen=True)
class LiteralValue:
    """Anything else: passed to the script as written."""

    text: str


Source = ParamRef | OutputRef | LiteralValue


def parse_source(source: str) -> Source:
    """What an input or param source refers to.

    ``"param:x"`` -> ``ParamRef("x")``; ``"step.out"`` -> ``OutputRef("step", "out")``; anything
    else -> ``LiteralValue(source)``. Providers use this to wire step outputs to downstream inputs.
    """
    if source.startswith(PARAM_PREFIX):
        return ParamRef(source[len(PARAM_PREFIX) :])
    step, sep, output = source.partition(".")
    if sep and NAME_RE.match(step) and NAME_RE.match(output):
        return OutputRef(step, output)
    return LiteralValue(source)


@dataclass(frozen=True)
class ParamDef:
    """A pipeline-level parameter; clouds expose it as a pipeline parameter."""

    name: str
    type: ParamType
    default: str | int | float
    description: str = ""


@dataclass(frozen=True)
class StepDef:
    """One step: a standalone script with ``--<input>``/``--<output>`` dir args.

    ``inputs`` maps input name -> ``"param:<name>"`` or ``"<step>.<output>"``.
    ``outputs`` are directory names the script writes into.
    ``params`` maps extra CLI arg -> ``"param:<name>"`` or a literal string.
    """

    name: str
    kind: StepKind
    script: str
    inputs: Mapping[str, str]
    outputs: tuple[str, ...]
    params: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", _frozen_mapping(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "params", _frozen_mapping(self.params))

    def upstream_steps(self) -> tuple[str, ...]:
        """Names of the steps whose outputs this step reads (in input order)."""
        seen: list[str] = []
        for source in self.inputs.values():
            ref = parse_source(source)
            if isinstance(ref, OutputRef) and ref.step not in seen:
                seen.append(ref.step)
        return tuple(seen)


FeatureType = Literal["int", "float", "string", "bool", "timestamp"]
"""The portable feature types: the one list (the platform's features and the data contract's columns
are typed with it; each cloud's translate maps it to its own types)."""
PORTABLE_FEATURE_TYPES: tuple[str, ...] = get_args(FeatureType)
KIT_DIR = Path(__file__).resolve().parent / "kit"
"""The kit's own step scripts (`mlops_*.py`): shipped in every pipeline's code bundle."""
KIT_PREFIX = "mlops_"


@dataclass(frozen=True)
class Column:
    """A typed column: a feature, the label, or a request field (portable types, as in the platform)."""

    name: str
    type: FeatureType


@dataclass(frozen=True)
class FeatureRead:
    """Features of one platform feature group that the pipeline's feature step writes and training reads."""

    group: str
    features: tuple[Column, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))


@dataclass(frozen=True)
class DataContract:
    """What a pipeline reads and what its model serves: the one schema of the whole loop.

    - `reads`: per feature group, the features the feature step writes into the feature store and
      the training step reads back from it (point-in-time, keyed by `entity` and `event_time`).
    - `label`: the training target (never a feature, never in a request).
    - `request`: the served model's request columns, in `text/csv` order. Serving accepts exactly
      these (anything else is a 4xx), data capture records them, the drift baseline holds them,
      the drift check compares them, and the drift alarms watch them. Each is a feature read.
    - `task`: `classification` (the model scores `predict_proba[:, 1]`) or `regression` (`predict`).
    """

    entity: str
    event_time: str
    label: Column
    reads: tuple[FeatureRead, ...]
    request: tuple[Column, ...]
    task: Literal["classification", "regression"] = "classification"

    def __post_init__(self) -> None:
        object.__setattr__(self, "reads", tuple(self.reads))
        object.__setattr__(self, "request", tuple(self.request))

    @property
    def request_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.request)

    def features(self) -> dict[str, Column]:
        """Every feature read, by name (names are unique across groups)."""
        return {c.name: c for read in self.reads for c in read.features}

    def to_json(self) -> dict[str, object]:
        """The contract as the kit steps and the serving code read it (`mlops_contract.json`)."""
        return {
            "entity": self.entity,
            "event_time": self.event_time,
            "label": {"name": self.label.name, "type": self.label.type},
            "task": self.task,
            "reads": [
                {"group": r.group, "features": [{"name": c.name, "type": c.type} for c in r.features]}
                for r in self.reads
            ],
            "request": [{"name": c.name, "type": c.type} for c in self.request],
        }

    def problems(self) -> list[str]:
        out: list[str] = []
        names = [self.entity, self.event_time, self.label.name]
        for name in names:
            if not NAME_RE.match(name):
                out.append(f"contract column {name!r} must match {NAME_RE.pattern}")
        if len(set(names)) != len(names):
            out.append("contract: entity, event_time and label must be three different columns")
        for column in (self.label, *self.request, *(c for r in self.reads for c in r.features)):
            if column.type not in PORTABLE_FEATURE_TYPES:
                out.append(f"contract column {column.name!r} has unknown type {column.type!r}")
        if not self.reads:
            out.append("contract reads no feature group")
        seen: dict[str, str] = {}
        for read in self.reads:
            if not NAME_RE.match(read.group):
                out.append(f"contract group {read.group!r} must match {NAME_RE.pattern}")
            if not read.features:
                out.append(f"contract group {read.group!r} reads no feature")
            for column in read.features:
                if column.name in names:
                    out.append(f"contract group {read.group!r}: {column.name!r} is the entity, event time or label")
                if column.name in seen:
                    out.append(
                        f"contract feature {column.name!r} is read from {seen[column.name]!r} and {read.group!r}"
                    )
                seen[column.name] = read.group
        if not self.request:
            out.append("contract request has no column")
        features = self.features()
        out += _duplicates("request column", [c.name for c in self.request])
        for column in self.request:
            feature = features.get(column.name)
            if feature is None:
                out.append(f"request column {column.name!r} is not a feature the pipeline reads")
            elif feature.type != column.type:
                out.append(f"request column {column.name!r} is {column.type}, the feature it is is {feature.type}")
        if self.task not in ("classification", "regression"):
            out.append(f"contract task {self.task!r} must be classification or regression")
        return out


FrameworkName = Literal["scikit-learn", "xgboost"]
_FRAMEWORKS = ("scikit-learn", "xgboost")
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class Framework:
    """The ML framework the model is trained and served with: ONE source of truth for its version.

    Training installs exactly `version` (the pipeline's requirements must pin `name==version`);
    each cloud serves with its prebuilt image of the same `major.minor`, or refuses the pipeline.
    A model saved by one version and loaded by another can fail at predict time while loading fine.
    """

    name: FrameworkName
    version: str

    @property
    def minor(self) -> str:
        """`major.minor`: what the clouds' prebuilt images are named by (sklearn 1.4-2, sklearn-cpu.1-4)."""
        return ".".join(self.version.split(".")[:2])


@dataclass(frozen=True)
class PipelineDef:
    """A whole pipeline: ordered steps, parameters and where model/metrics land."""

    name: str
    description: str
    steps: tuple[StepDef, ...]
    params: tuple[ParamDef, ...]
    model_step: str
    model_output: str
    metrics_step: str
    metrics_output: str
    metrics_file: str
    metrics: tuple[str, ...]
    steps_dir: Path
    requirements: Path
    framework: Framework
    contract: DataContract

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "params", tuple(self.params))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "steps_dir", Path(self.steps_dir))
        object.__setattr__(self, "requirements", Path(self.requirements))

    def step(self, name: str) -> StepDef:
        """Return the step called ``name``; ValueError lists the known steps."""
        for step in self.steps:
            if step.name == name:
                return step
        known = ", ".join(s.name for s in self.steps)
        raise ValueError(f"pipeline {self.name!r} has no step {name!r} (steps: {known})")

    def param(self, name: str) -> ParamDef:
        """Return the parameter called ``name``; ValueError lists the known ones."""
        for param in self.params:
            if param.name == name:
                return param
        known = ", ".join(p.name for p in self.params)
        raise ValueError(f"pipeline {self.name!r} has no param {name!r} (params: {known})")

    def param_defaults(self) -> dict[str, str]:
        """Parameter defaults as CLI strings (what ``command`` uses when not overridden)."""
        return {p.name: str(p.default) for p in self.params}

    def command(self, step_name: str, paths: Mapping[str, str], params: Mapping[str, str]) -> list[str]:
        """The argv that runs ``step_name``; every backend uses exactly this.

        ``paths`` maps each input and output name of the step to a location
        (a local dir or the cloud's mounted path). ``params`` overrides pipeline
        parameter values; missing ones fall back to their defaults. The script is
        given by file name, so run it with the steps dir as working directory
        (or drop ``argv[:2]`` and pass the rest as the container's arguments).
        """
        step = self.step(step_name)
        unknown = sorted(set(params) - {p.name for p in self.params})
        if unknown:
            raise ValueError(f"unknown pipeline params for {self.name!r}: {', '.join(unknown)}")
        missing = [n for n in (*step.inputs, *step.outputs) if n not in paths]
        if missing:
            raise ValueError(f"step {step_name!r} needs paths for: {', '.join(missing)}")
        values = {**self.param_defaults(), **{k: str(v) for k, v in params.items()}}

        argv = ["python", step.script]
        for name in (*step.inputs, *step.outputs):
            argv += [f"--{name}", str(paths[name])]
        for arg, source in step.params.items():
            ref = parse_source(source)
            argv += [f"--{arg}", values[ref.name] if isinstance(ref, ParamRef) else source]
        return argv

    def validate(self) -> None:
        """Check the graph; raise ValueError naming the first problem found."""
        problems = self._problems()
        if problems:
            raise ValueError(f"invalid pipeline {self.name!r}: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        out: list[str] = []
        if not NAME_RE.match(self.name):
            out.append(f"pipeline name {self.name!r} must match {NAME_RE.pattern}")

        param_names = [p.name for p in self.params]
        out += _duplicates("param", param_names)
        for p in self.params:
            if not NAME_RE.match(p.name):
                out.append(f"param name {p.name!r} must match {NAME_RE.pattern}")
            if p.type not in _PARAM_TYPES:
                out.append(f"param {p.name!r} has unknown type {p.type!r}")
            elif isinstance(p.default, bool) or not isinstance(p.default, _PARAM_TYPES[p.type]):
                out.append(f"param {p.name!r} default {p.default!r} is not a {p.type}")
        if "input_data" not in param_names:
            out.append("param 'input_data' (raw dataset location) is not declared")

        if not self.steps:
            out.append("pipeline has no steps")
        out += _duplicates("step", [s.name for s in self.steps])

        earlier: dict[str, tuple[str, ...]] = {}
        all_steps = {s.name for s in self.steps}
        for step in self.steps:
            out += self._step_problems(step, earlier, all_steps, set(param_names))
            earlier[step.name] = step.outputs

        out += self._artifact_problems("model", self.model_step, self.model_output, "training")
        out += self._artifact_problems("metrics", self.metrics_step, self.metrics_output, "evaluation")
        if not self.metrics_file or "/" in self.metrics_file:
            out.append(f"metrics_file {self.metrics_file!r} must be a plain file name")
        if not self.metrics:
            out.append("no metric names declared")
        out += _duplicates("metric", list(self.metrics))
        for label, path in (("steps_dir", self.steps_dir), ("requirements", self.requirements)):
            if not path.is_absolute():
                out.append(f"{label} {str(path)!r} must be an absolute path")
        out += self._framework_problems()
        out += self.contract.problems()
        return out

    def script_path(self, script: str) -> Path:
        """Where a step's script lives: the kit's `mlops_*.py`, or the pipeline's own steps dir."""
        return (KIT_DIR if script.startswith(KIT_PREFIX) else self.steps_dir) / script

    def _framework_problems(self) -> list[str]:
        fw = self.framework
        if fw.name not in _FRAMEWORKS:
            return [f"framework {fw.name!r} is not one of {', '.join(_FRAMEWORKS)}"]
        if not _VERSION_RE.match(fw.version):
            return [f"framework version {fw.version!r} must be exact, like 1.4.2"]
        if not self.requirements.is_file():
            return [f"requirements {str(self.requirements)!r} not found"]
        pins = requirement_pins(self.requirements.read_text(encoding="utf-8"))
        if pins.get(fw.name) != fw.version:
            return [
                f"{self.requirements.name} must pin {fw.name}=={fw.version} (the framework the model is "
                f"served with), found {fw.name}{'==' + pins[fw.name] if fw.name in pins else ' unpinned'}"
            ]
        return []

    def _step_problems(
        self,
        step: StepDef,
        earlier: Mapping[str, tuple[str, ...]],
        all_steps: set[str],
        param_names: set[str],
    ) -> list[str]:
        where = f"step {step.name!r}"
        out: list[str] = []
        if not NAME_RE.match(step.name):
            out.append(f"{where}: name must match {NAME_RE.pattern}")
        if step.kind not in _STEP_KINDS:
            out.append(f"{where}: unknown kind {step.kind!r}")
        if not step.script.endswith(".py") or "/" in step.script:
            out.append(f"{where}: script {step.script!r} must be a .py file name in steps/")
        elif self.steps_dir.is_absolute() and not self.script_path(step.script).is_file():
            out.append(f"{where}: script {step.script!r} not found in {self.script_path(step.script).parent}")
        if not step.outputs:
            out.append(f"{where}: declares no outputs")

        # Inputs, outputs and params all become --<name> CLI args: they must not clash.
        arg_names = [*step.inputs, *step.outputs, *step.params]
        out += _duplicates(f"{where} argument", arg_names)
        for arg in arg_names:
            if not NAME_RE.match(arg):
                out.append(f"{where}: argument name {arg!r} must match {NAME_RE.pattern}")

        for name, source in step.inputs.items():
            ref = parse_source(source)
            if isinstance(ref, ParamRef):
                if ref.name not in param_names:
                    out.append(f"{where}: input {name!r} uses undeclared param {ref.name!r}")
            elif isinstance(ref, OutputRef):
                if ref.step == step.name:
                    out.append(f"{where}: input {name!r} reads its own output {source!r}")
                elif ref.step not in earlier:
                    why = "a later step" if ref.step in all_steps else "an unknown step"
                    out.append(f"{where}: input {name!r} reads {source!r} from {why}")
                elif ref.output not in earlier[ref.step]:
                    out.append(
                        f"{where}: input {name!r} reads unknown output {source!r} "
                        f"(step {ref.step!r} outputs: {', '.join(earlier[ref.step]) or 'none'})"
                    )
            else:
                out.append(f"{where}: input {name!r} source {source!r} must be 'param:<name>' or '<step>.<output>'")
        for arg, source in step.params.items():
            ref = parse_source(source)
            if isinstance(ref, ParamRef) and ref.name not in param_names:
                out.append(f"{where}: param {arg!r} uses undeclared param {ref.name!r}")
        return out

    def _artifact_problems(self, label: str, step_name: str, output: str, kind: str) -> list[str]:
        step = next((s for s in self.steps if s.name == step_name), None)
        if step is None:
            return [f"{label}_step {step_name!r} is not a step"]
        out = []
        if output not in step.outputs:
            out.append(f"{label}_output {output!r} is not an output of step {step_name!r}")
        if step.kind != kind:
            out.append(f"{label}_step {step_name!r} must be of kind {kind!r}, not {step.kind!r}")
        return out


def requirement_pins(text: str) -> dict[str, str]:
    """`name==version` lines of a requirements file (names lowercased, `_` read as `-`)."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        name, sep, version = line.partition("==")
        if sep and version.strip():
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def _duplicates(label: str, names: list[str]) -> list[str]:
    dups = sorted({n for n in names if names.count(n) > 1})
    return [f"duplicate {label} name {n!r}" for n in dups]
