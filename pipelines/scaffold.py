"""`mlops pipeline new NAME --from SOURCE`: a new pipeline folder, copied from a working one.

The new ``pipelines/NAME/`` is SOURCE's folder renamed (its imports of ``pipelines.SOURCE``, its
``PipelineDef(name=...)`` and its sample-data file name), each file opening with a comment that
says what to replace (data generator, validation rules, features, data contract, model). With it
come example stacks ``Pulumi.<cloud>-NAME.yaml``, one per cloud, whose feature groups are
generated from the new pipeline's data contract: as it stands, the new pipeline validates, runs
locally and plans on every cloud, and a team replaces one piece at a time, re-running those.

Cloud-neutral: the caller (the CLI) gives each cloud's provider keys and quality gate, and checks
the written stacks with the platform rules.
"""

from __future__ import annotations

import json
import keyword
import re
import shutil
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.spec import DataContract, PipelineDef
from providers.errors import SpecError

NEW_NAME_RE = re.compile(r"^[a-z][a-z0-9]{2,19}$")
NEW_NAME_RULE = (
    "a new pipeline's name is 3-20 lowercase letters and digits, starting with a letter (it names a Python "
    "package, which takes no '-', and cloud resources, which take no '_')"
)
SKIP = ("__pycache__", "build", "dist")
"""Folders of a pipeline that are made from it (bytecode, the AWS wheelhouse, ...): never copied."""
TEXT_SUFFIXES = (".py", ".txt", ".md", ".json", ".yaml", ".yml", ".csv", ".cfg", ".toml")

# What to replace, per file of an example pipeline (both examples have this layout).
NOTES: dict[str, str] = {
    "__init__.py": (
        "the pipeline definition: description, params, metrics, framework, and the DATA CONTRACT (entity, "
        "event time, label, the features read per feature group, the request schema). Keep the feature "
        "groups of the example stacks (Pulumi.<cloud>-{name}.yaml) in step with the contract."
    ),
    "data.py": (
        "the sample-data generator: a small deterministic batch shaped like YOUR raw data (or read a sample "
        "file); keep write_dataset(out_dir, rows, seed, **options) and the start/shift options."
    ),
    "requirements.txt": (
        "the step containers' packages, each pinned exactly; the framework's pin must equal PIPELINE.framework "
        "(the version the model is served with)."
    ),
    "steps/validate.py": "the validation rules (the pandera schema) of YOUR raw data; bad data must exit 1.",
    "steps/features.py": (
        "the feature engineering: one <group>.csv per feature group the contract reads (entity, event time "
        "and the group's features) and labels/labels.csv (entity, event time, label)."
    ),
    "steps/train.py": (
        "the model: it takes the request columns as they come (encode inside the model) and is saved with "
        "mlops_model.save(model, dir, framework=...)."
    ),
    "steps/evaluate.py": "the metrics: every name in PIPELINE.metrics, written to evaluation.json.",
    "steps/serve.py": "usually nothing: the kit's serving code, under the module name the clouds load.",
}
GENERIC_NOTE = "what is specific to {source}; it was copied as it is."


class ScaffoldError(SpecError):
    """A `pipeline new` request that cannot be honoured; `key` names the option, `rule` the reason."""


@dataclass(frozen=True)
class StackDefaults:
    """Per cloud: the provider keys and the quality gate a scaffolded stack starts with."""

    provider_config: Mapping[str, object]
    gate: tuple[str, float]
    source_stack: str | None = None
    """The stack these were copied from (None: the cloud catalog's stand-ins)."""


@dataclass(frozen=True)
class Scaffold:
    """Everything `pipeline new` writes: file path -> content."""

    name: str
    source: str
    folder: Path
    files: Mapping[Path, bytes] = field(default_factory=dict)
    stacks: Mapping[str, Path] = field(default_factory=dict)
    """Stack name -> its file."""

    def write(self) -> list[Path]:
        """Write every file; on any failure remove what was written. Returns the written paths."""
        written: list[Path] = []
        try:
            self.folder.mkdir(parents=True, exist_ok=False)
            for path, content in self.files.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("xb") as handle:  # never overwrite: refused up front, raced here
                    handle.write(content)
                written.append(path)
        except BaseException:
            self.remove(written)
            raise
        return written

    def remove(self, written: list[Path] | None = None) -> None:
        """Undo `write`: the new pipeline folder and the stack files."""
        for path in written if written is not None else list(self.files):
            if not path.is_relative_to(self.folder):
                path.unlink(missing_ok=True)
        shutil.rmtree(self.folder, ignore_errors=True)


def check_name(name: str, kit: frozenset[str] | set[str], existing: list[str] | set[str]) -> str:
    """A valid name for a new pipeline: `kit` are the kit's own module names, `existing` the pipelines."""
    if not NEW_NAME_RE.match(name) or keyword.iskeyword(name):
        raise ScaffoldError("NAME", f"{NEW_NAME_RULE}; got {name!r}")
    if name in kit:
        raise ScaffoldError("NAME", f"{name!r} is the name of one of the kit's own modules (pipelines/{name}.py)")
    if name in existing:
        raise ScaffoldError("NAME", f"pipeline {name!r} exists (pipelines/{name}/): pick another name")
    return name


def plan(
    name: str,
    source: PipelineDef,
    source_folder: Path,
    target_root: Path,
    stack_dir: Path,
    defaults: Mapping[str, StackDefaults],
) -> Scaffold:
    """What `pipeline new` would write for `name` copied from `source` (nothing is written).

    `defaults`: cloud -> its provider keys and gate. Refuses (ScaffoldError) an existing folder or
    stack file."""
    folder = target_root / name
    if folder.exists():
        raise ScaffoldError("NAME", f"{folder} exists: pick another name or remove it")
    files: dict[Path, bytes] = {}
    for path in sorted(source_folder.rglob("*")):
        relative = path.relative_to(source_folder)
        skipped = any(part in SKIP or part.startswith(".") or part.endswith(".egg-info") for part in relative.parts)
        if skipped or not path.is_file() or path.suffix == ".pyc":
            continue
        data = path.read_bytes()
        if path.suffix in TEXT_SUFFIXES:
            data = _rewrite(relative, data.decode("utf-8"), source.name, name).encode("utf-8")
        files[folder / relative] = data
    stacks: dict[str, Path] = {}
    for cloud, cloud_defaults in defaults.items():
        stack = f"{cloud}-{name}"
        path = stack_dir / f"Pulumi.{stack}.yaml"
        if path.exists():
            raise ScaffoldError("NAME", f"{path} exists: pick another name or remove it")
        files[path] = stack_text(name, cloud, source.contract, cloud_defaults, source.name).encode("utf-8")
        stacks[stack] = path
    return Scaffold(name=name, source=source.name, folder=folder, files=files, stacks=stacks)


def _rewrite(relative: Path, text: str, source: str, name: str) -> str:
    """The renamed copy of one text file, opening with what to replace."""
    text = re.sub(rf"\bpipelines\.{re.escape(source)}\b", f"pipelines.{name}", text)
    if relative == Path("__init__.py"):
        text, count = re.subn(
            rf"(PipelineDef\(\s*name\s*=\s*)([\"']){re.escape(source)}\2", rf"\g<1>\g<2>{name}\2", text
        )
        if count != 1:
            raise ScaffoldError(
                "--from",
                f"pipelines/{source}/__init__.py does not set PipelineDef(name={source!r}) once: rename by hand",
            )
    text = re.sub(rf"([\"']){re.escape(source)}\.csv\1", rf"\g<1>{name}.csv\1", text)
    if relative.name == "__init__.py" and relative.parent != Path("."):
        return text  # a package marker: nothing to replace
    note = NOTES.get(relative.as_posix(), GENERIC_NOTE).format(source=source, name=name)
    return _header(relative, source, name, note) + text


def _header(relative: Path, source: str, name: str, note: str) -> str:
    if relative.suffix not in (".py", ".txt", ".yaml", ".yml", ".toml", ".cfg"):
        return ""
    lines = [
        f"Scaffolded from pipeline `{source}` by `mlops pipeline new {name} --from {source}`.",
        *textwrap.wrap(f"REPLACE: {note}", width=96, subsequent_indent="  "),
    ]
    return "".join(f"# {line}\n" for line in lines)


def stack_text(name: str, cloud: str, contract: DataContract, defaults: StackDefaults, source: str) -> str:
    """An example stack of pipeline `name` on `cloud`: its feature groups are the contract's reads."""
    metric, threshold = defaults.gate
    where = f"copied from stack {defaults.source_stack}" if defaults.source_stack else "stand-ins: set yours"
    lines = [
        f"# Example stack of pipeline `{name}` on {cloud}, written by `mlops pipeline new {name} --from {source}`.",
        f"# REPLACE: the provider keys ({where}), monitor.alert_email and the quality gate; keep",
        f"# feature_store.feature_groups in step with the data contract in pipelines/{name}/__init__.py",
        "# (`mlops validate` says what differs).",
        "config:",
        f"  mlops:cloud: {cloud}",
    ]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in defaults.provider_config.items()]
    lines += [
        "  mlops:platform:",
        f"    name: {name}",
        "    environment: dev",
        "    feature_store:",
        "      feature_groups:  # generated from the data contract: what the pipeline writes and reads",
    ]
    for read in contract.reads:
        lines += [
            f"        - name: {read.group}",
            f"          entity: {contract.entity}",
            f"          event_time: {contract.event_time}",
            "          online: true",
            "          features:",
            *(f"            - {{name: {c.name}, type: {c.type}}}" for c in read.features),
        ]
    lines += [
        "    registry:",
        "      approval: manual",
        "    pipeline:",
        f"      name: {name}",
        '      schedule: "0 3 * * *"',
        "      instance: medium",
        f"      quality_gate: {{metric: {metric}, threshold: {threshold}}}",
        "    endpoint:",
        "      model_version: null  # nothing to serve yet: train, approve a version, then set its number",
        "      instance: small",
        "      min_replicas: 1",
        "      max_replicas: 2",
        "    monitor:",
        '      schedule: "0 * * * *"',
        "      drift_threshold: 0.2",
        "      retrain_on_drift: true",
        "      alert_email: ml-oncall@example.com",
    ]
    return "\n".join(lines) + "\n"
