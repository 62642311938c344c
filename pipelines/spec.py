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
from typing import Literal

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
        return out

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
        elif self.steps_dir.is_absolute() and not (self.steps_dir / step.script).is_file():
            out.append(f"{where}: script {step.script!r} not found in {self.steps_dir}")
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
