"""Pipeline spec: registry, graph validation, command lines and import hygiene."""

from __future__ import annotations

import ast
import dataclasses
import re
import sys
from pathlib import Path

import pytest

import pipelines
from pipelines import UnknownPipelineError, available, get_pipeline
from pipelines.spec import (
    KIT_DIR,
    Column,
    DataContract,
    FeatureRead,
    Framework,
    LiteralValue,
    OutputRef,
    ParamDef,
    ParamRef,
    PipelineDef,
    StepDef,
    parse_source,
)

PIPELINES_DIR = Path(pipelines.__file__).resolve().parent
CLOUD_MODULES = {
    "pulumi",
    "pulumi_aws",
    "boto3",
    "botocore",
    "sagemaker",
    "google",
    "kfp",
    "azure",
    "azureml",
    "mlflow",
}


# --- registry ---------------------------------------------------------------------------


def test_available_lists_churn():
    assert "churn" in available()
    assert available() == sorted(available())


def test_unknown_pipeline_names_available_ones():
    with pytest.raises(UnknownPipelineError) as info:
        get_pipeline("nope")
    assert isinstance(info.value, ValueError)
    assert "'nope'" in str(info.value)
    for name in available():
        assert name in str(info.value)


def test_churn_pipeline_is_valid_and_complete():
    p = get_pipeline("churn")
    p.validate()
    assert [s.name for s in p.steps] == [
        "validate",
        "features",
        "store_features",
        "training_data",
        "train",
        "evaluate",
    ]
    assert p.step(p.model_step).kind == "training"
    assert p.step(p.metrics_step).kind == "evaluation"
    assert p.metrics_file == "evaluation.json"
    assert set(p.metrics) == {"roc_auc", "accuracy", "f1", "precision", "recall"}
    assert "input_data" in {q.name for q in p.params}
    assert p.steps_dir.is_absolute() and p.steps_dir.is_dir()
    assert p.requirements.is_absolute() and p.requirements.is_file()
    for step in p.steps:
        assert p.script_path(step.script).is_file()


# --- graph validation -------------------------------------------------------------------

TOY_CONTRACT = DataContract(
    entity="id",
    event_time="at",
    label=Column("y", "int"),
    reads=(FeatureRead("things", (Column("a", "float"), Column("b", "string"))),),
    request=(Column("a", "float"),),
)


@pytest.fixture
def good(tmp_path: Path) -> PipelineDef:
    steps_dir = tmp_path / "steps"
    steps_dir.mkdir()
    for script in ("prep.py", "fit.py", "score.py"):
        (steps_dir / script).write_text("")
    req = tmp_path / "requirements.txt"
    req.write_text("scikit-learn==1.4.2  # the framework pin\n")
    p = PipelineDef(
        name="toy",
        description="",
        steps=(
            StepDef("prep", "processing", "prep.py", {"raw": "param:input_data"}, ("clean",)),
            StepDef(
                "fit",
                "training",
                "fit.py",
                {"data": "prep.clean"},
                ("model",),
                params={"seed": "param:seed", "mode": "fast"},
            ),
            StepDef("score", "evaluation", "score.py", {"model": "fit.model", "data": "prep.clean"}, ("metrics",)),
        ),
        params=(ParamDef("input_data", "string", ""), ParamDef("seed", "int", 1)),
        model_step="fit",
        model_output="model",
        metrics_step="score",
        metrics_output="metrics",
        metrics_file="evaluation.json",
        metrics=("roc_auc",),
        steps_dir=steps_dir,
        requirements=req,
        framework=Framework("scikit-learn", "1.4.2"),
        contract=TOY_CONTRACT,
    )
    p.validate()
    return p


def _replace_step(p: PipelineDef, step: str, /, **changes) -> PipelineDef:
    steps = tuple(dataclasses.replace(s, **changes) if s.name == step else s for s in p.steps)
    return dataclasses.replace(p, steps=steps)


BROKEN = {
    "unknown step output": (
        lambda p: _replace_step(p, "fit", inputs={"data": "prep.nothing"}),
        "unknown output 'prep.nothing'",
    ),
    "unknown step": (
        lambda p: _replace_step(p, "fit", inputs={"data": "ghost.clean"}),
        "an unknown step",
    ),
    "later step": (
        lambda p: _replace_step(p, "prep", inputs={"raw": "fit.model"}),
        "a later step",
    ),
    "own output": (
        lambda p: _replace_step(p, "fit", inputs={"data": "fit.model"}),
        "its own output",
    ),
    "undeclared param in input": (
        lambda p: _replace_step(p, "prep", inputs={"raw": "param:dataset"}),
        "undeclared param 'dataset'",
    ),
    "undeclared param in step params": (
        lambda p: _replace_step(p, "fit", params={"seed": "param:sed"}),
        "undeclared param 'sed'",
    ),
    "malformed source": (
        lambda p: _replace_step(p, "fit", inputs={"data": "s3://bucket/x"}),
        "must be 'param:<name>' or '<step>.<output>'",
    ),
    "duplicate step": (
        lambda p: dataclasses.replace(p, steps=(*p.steps, p.steps[-1])),
        "duplicate step name 'score'",
    ),
    "duplicate param": (
        lambda p: dataclasses.replace(p, params=(*p.params, ParamDef("seed", "int", 2))),
        "duplicate param name 'seed'",
    ),
    "input/output arg clash": (
        lambda p: _replace_step(p, "prep", outputs=("raw",)),
        "duplicate step 'prep' argument name 'raw'",
    ),
    "bad step name": (
        lambda p: _replace_step(p, "score", name="Score"),
        "step 'Score': name must match",
    ),
    "missing script": (
        lambda p: _replace_step(p, "fit", script="gone.py"),
        "script 'gone.py' not found",
    ),
    "unknown model step": (
        lambda p: dataclasses.replace(p, model_step="nope"),
        "model_step 'nope' is not a step",
    ),
    "unknown model output": (
        lambda p: dataclasses.replace(p, model_output="weights"),
        "model_output 'weights' is not an output of step 'fit'",
    ),
    "model step wrong kind": (
        lambda p: dataclasses.replace(p, model_step="prep", model_output="clean"),
        "model_step 'prep' must be of kind 'training'",
    ),
    "unknown metrics output": (
        lambda p: dataclasses.replace(p, metrics_output="scores"),
        "metrics_output 'scores' is not an output of step 'score'",
    ),
    "param default type": (
        lambda p: dataclasses.replace(p, params=(p.params[0], ParamDef("seed", "int", "1"))),
        "param 'seed' default '1' is not a int",
    ),
    "no input_data param": (
        lambda p: dataclasses.replace(p, params=(ParamDef("input", "string", ""), ParamDef("seed", "int", 1))),
        "'input_data'",
    ),
    "relative steps_dir": (
        lambda p: dataclasses.replace(p, steps_dir=Path("steps")),
        "steps_dir 'steps' must be an absolute path",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_validate_names_each_broken_reference(good: PipelineDef, case: str):
    breaker, expected = BROKEN[case]
    with pytest.raises(ValueError) as info:
        breaker(good).validate()
    assert expected in str(info.value)


def test_parse_source():
    assert parse_source("param:seed") == ParamRef("seed")
    assert parse_source("train.model") == OutputRef("train", "model")
    assert parse_source("fast") == LiteralValue("fast")
    assert parse_source("0.25") == LiteralValue("0.25")


def test_upstream_steps():
    assert get_pipeline("churn").step("evaluate").upstream_steps() == ("train", "training_data")
    assert get_pipeline("churn").step("validate").upstream_steps() == ()


def test_defs_are_frozen():
    p = get_pipeline("churn")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.step("train").inputs["train"] = "x"  # type: ignore[index]


# --- command lines ------------------------------------------------------------------------


def test_command_shape_for_train():
    p = get_pipeline("churn")
    argv = p.command("train", {"train": "/in/train", "model": "/out/model"}, {})
    assert argv == [
        "python",
        "train.py",
        "--train",
        "/in/train",
        "--model",
        "/out/model",
        "--algorithm",
        "logistic_regression",
        "--seed",
        "7",
    ]


def test_command_inputs_then_outputs_then_params_with_overrides_and_literals():
    p = get_pipeline("churn")
    argv = p.command(
        "validate",
        {"raw": "s3://b/raw", "validated": "/o/v", "report": "/o/r"},
        {"seed": "3"},
    )
    assert argv == [
        "python",
        "validate.py",
        "--raw",
        "s3://b/raw",
        "--validated",
        "/o/v",
        "--report",
        "/o/r",
        "--min_rows",
        "100",
    ]
    paths = {"labels": "l", "written": "w", "train": "t", "test": "e", "baseline": "b"}
    argv = p.command("training_data", paths, {"test_size": "0.3", "seed": "11"})
    assert argv[-4:] == ["--test_size", "0.3", "--seed", "11"]


def test_command_every_step_covers_all_args():
    p = get_pipeline("churn")
    for step in p.steps:
        paths = {n: f"/x/{n}" for n in (*step.inputs, *step.outputs)}
        argv = p.command(step.name, paths, {})
        flags = [a[2:] for a in argv if a.startswith("--")]
        assert flags == [*step.inputs, *step.outputs, *step.params]
        assert len(argv) == 2 + 2 * len(flags)


def test_command_rejects_missing_paths_unknown_params_and_steps():
    p = get_pipeline("churn")
    with pytest.raises(ValueError, match="needs paths for: model"):
        p.command("train", {"train": "/t"}, {})
    with pytest.raises(ValueError, match=r"unknown pipeline params.*lr"):
        p.command("train", {"train": "/t", "model": "/m"}, {"lr": "1"})
    with pytest.raises(ValueError, match=r"no step 'deploy'.*validate, features, store_features, training_data"):
        p.command("deploy", {}, {})


# --- hygiene: what the clouds run must stand alone ----------------------------------------


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_cloud_or_pulumi_imports_in_pipelines():
    for path in PIPELINES_DIR.rglob("*.py"):
        assert not _imports(path) & CLOUD_MODULES, path


def test_step_scripts_are_standalone_and_requirements_cover_them():
    p = get_pipeline("churn")
    reqs = {
        re.split(r"[<>=!~ \[;]", line.strip())[0].lower()
        for line in p.requirements.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    dist = {"sklearn": "scikit-learn"}
    kit = {path.stem for path in KIT_DIR.glob("mlops_*.py")} | {"mlops_io"}  # shipped next to the steps
    for step in p.steps:
        script = p.script_path(step.script)
        third_party = _imports(script) - set(sys.stdlib_module_names) - {"__future__"} - kit
        assert "pipelines" not in third_party, f"{script.name} imports the pipelines package"
        for module in third_party:
            assert dist.get(module, module) in reqs, f"{script.name} needs {module}"
    for line in p.requirements.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            # Exact pins: every cloud's container gets the same versions, and the framework pin is
            # the version the model is served with.
            assert re.fullmatch(r"[a-z0-9_-]+==\d+(\.\d+)+", line.strip()), f"not an exact pin: {line}"


# --- framework: one source of truth for the version training installs and serving loads ---------


def test_requirements_must_pin_the_framework_version(good: PipelineDef):
    good.requirements.write_text("scikit-learn>=1.4\n")
    with pytest.raises(
        ValueError, match=r"requirements.txt must pin scikit-learn==1.4.2 .* found scikit-learn unpinned"
    ):
        good.validate()
    good.requirements.write_text("scikit_learn==1.5.0\n")
    with pytest.raises(ValueError, match=r"found scikit-learn==1.5.0"):
        good.validate()


@pytest.mark.parametrize("version", ["1.4", "1.4.x", "latest"])
def test_framework_version_must_be_exact(good: PipelineDef, version: str):
    bad = dataclasses.replace(good, framework=Framework("scikit-learn", version))
    with pytest.raises(ValueError, match="must be exact, like 1.4.2"):
        bad.validate()


def test_framework_minor_names_the_prebuilt_images():
    assert Framework("scikit-learn", "1.4.2").minor == "1.4"
    assert Framework("xgboost", "1.7.6").minor == "1.7"


def test_churn_pins_what_it_declares():
    churn = get_pipeline("churn")
    assert (churn.framework.name, churn.framework.version) == ("scikit-learn", "1.4.2")
    assert "scikit-learn==1.4.2" in churn.requirements.read_text()


# --- the data contract: one schema for the whole loop ----------------------------------------


def _contract(**changes) -> DataContract:
    return dataclasses.replace(TOY_CONTRACT, **changes)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"request": (Column("c", "float"),)}, "request column 'c' is not a feature the pipeline reads"),
        ({"request": (Column("a", "int"),)}, "request column 'a' is int, the feature it is is float"),
        ({"request": ()}, "contract request has no column"),
        ({"label": Column("a", "int")}, "contract group 'things': 'a' is the entity, event time or label"),
        ({"event_time": "id"}, "contract: entity, event_time and label must be three different columns"),
        ({"reads": ()}, "contract reads no feature group"),
        (
            {"reads": (FeatureRead("g1", (Column("a", "float"),)), FeatureRead("g2", (Column("a", "float"),)))},
            "contract feature 'a' is read from 'g1' and 'g2'",
        ),
        ({"label": Column("y", "complex")}, "contract column 'y' has unknown type 'complex'"),
    ],
)
def test_contract_rules(changes, problem):
    assert problem in _contract(**changes).problems()


def test_a_broken_contract_fails_pipeline_validation(good: PipelineDef):
    bad = dataclasses.replace(good, contract=_contract(request=(Column("zzz", "float"),)))
    with pytest.raises(ValueError, match="request column 'zzz' is not a feature"):
        bad.validate()


def test_contract_json_is_what_the_kit_steps_read():
    assert TOY_CONTRACT.to_json() == {
        "entity": "id",
        "event_time": "at",
        "label": {"name": "y", "type": "int"},
        "task": "classification",
        "reads": [{"group": "things", "features": [{"name": "a", "type": "float"}, {"name": "b", "type": "string"}]}],
        "request": [{"name": "a", "type": "float"}],
    }
