"""`mlops pipeline new NAME --from SOURCE`: a pipeline that validates, runs and plans as it stands.

Each test puts a temporary folder first in the package's search path (`pipelines.__path__`), so
`pipeline new` writes `pipelines/NAME/` there and the stacks beside it (no Pulumi.yaml above a
temporary folder: the stacks go into the folder holding `pipelines/`), and discovery finds the
new pipeline there, as it would in the project.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

import pipelines
from infra.cli import main
from pipelines import get_pipeline

ROOT = Path(__file__).resolve().parents[2]
CLOUDS = ("aws", "gcp", "azure")
FILES = [
    "__init__.py",
    "data.py",
    "requirements.txt",
    "steps/__init__.py",
    "steps/evaluate.py",
    "steps/features.py",
    "steps/serve.py",
    "steps/train.py",
    "steps/validate.py",
]


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A temporary project: its `pipelines/` is searched first, and `pipeline new` writes there."""
    root = tmp_path / "pipelines"
    root.mkdir()
    monkeypatch.setattr(pipelines, "__path__", [str(root), *pipelines.__path__])
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None) or ""
        if name.startswith("pipelines.") and origin.startswith(str(root)):
            del sys.modules[name]
            if name.count(".") == 1 and hasattr(pipelines, name.split(".")[1]):
                delattr(pipelines, name.split(".")[1])


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


# --- refusals: one line, exit 2, nothing written ------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["Acme"], "NAME: a new pipeline's name is 3-20 lowercase letters and digits"),
        (["my-pipe"], "NAME: a new pipeline's name is 3-20 lowercase letters and digits"),
        (["my_pipe"], "NAME: a new pipeline's name is 3-20 lowercase letters and digits"),
        (["ab"], "NAME: a new pipeline's name is 3-20 lowercase letters and digits"),
        (["a" * 21], "NAME: a new pipeline's name is 3-20 lowercase letters and digits"),
        (["class"], "NAME: a new pipeline's name is 3-20 lowercase letters and digits"),
        (["spec"], "NAME: 'spec' is the name of one of the kit's own modules (pipelines/spec.py)"),
        (["churn"], "NAME: pipeline 'churn' exists (pipelines/churn/): pick another name"),
        (["acme", "--from", "nope"], "--from: unknown pipeline 'nope'; pipelines/ holds: churn, fraud"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(project, capsys, argv, message):
    before = sorted(project.rglob("*"))
    assert main(["pipeline", "new", *argv]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and message in err, err
    assert sorted(project.rglob("*")) == before


def test_an_existing_stack_file_is_refused_before_anything_is_written(project, capsys):
    (project / "Pulumi.gcp-acme.yaml").write_text("config: {}\n")
    assert main(["pipeline", "new", "acme"]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and "Pulumi.gcp-acme.yaml exists: pick another name or remove it" in err
    assert not (project / "pipelines" / "acme").exists()
    assert not (project / "Pulumi.aws-acme.yaml").exists()


def test_dry_run_lists_what_it_would_write(project, capsys):
    assert main(["pipeline", "new", "acme", "--from", "fraud", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "pipeline acme: would scaffold from fraud (dry run: nothing written)"
    assert out[1:] == [f"  would write pipelines/acme/{f}" for f in FILES] + [
        f"  would write Pulumi.{cloud}-acme.yaml" for cloud in CLOUDS
    ]
    assert sorted(p.name for p in project.iterdir()) == ["pipelines"]
    assert not any((project / "pipelines").iterdir())


# --- what it writes -----------------------------------------------------------------------------


def test_the_copy_is_renamed_and_says_what_to_replace(project, capsys):
    assert main(["pipeline", "new", "acme", "--from", "churn"]) == 0
    out = capsys.readouterr().out
    assert "pipeline acme: scaffolded from churn" in out and "mlops pipeline run acme --local" in out
    folder = project / "pipelines" / "acme"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == FILES
    init = (folder / "__init__.py").read_text()
    assert "from pipelines.acme import data" in init and "pipelines.churn" not in init
    assert 'name="acme",' in init
    assert 'FILE_NAME = "acme.csv"' in (folder / "data.py").read_text()
    replace = {
        "__init__.py": "the pipeline definition",
        "data.py": "the sample-data generator",
        "requirements.txt": "the step containers' packages",
        "steps/validate.py": "the validation rules",
        "steps/features.py": "the feature engineering",
        "steps/train.py": "the model",
        "steps/evaluate.py": "the metrics",
    }
    for relative, what in replace.items():
        head = (folder / relative).read_text().splitlines()[:2]
        assert head[0] == "# Scaffolded from pipeline `churn` by `mlops pipeline new acme --from churn`."
        assert head[1].startswith(f"# REPLACE: {what}"), (relative, head)
    pipeline = get_pipeline("acme")
    assert pipeline.name == "acme" and pipeline.steps_dir == folder / "steps"
    assert pipeline.contract == get_pipeline("churn").contract


def test_the_stacks_declare_the_new_pipelines_contract(project):
    # With the fraud example stacks beside it, each new stack starts from that cloud's fraud stack.
    for cloud in CLOUDS:
        shutil.copy(ROOT / f"Pulumi.{cloud}-fraud.yaml", project)
    assert main(["pipeline", "new", "acme", "--from", "fraud"]) == 0
    for cloud in CLOUDS:
        config = yaml.safe_load((project / f"Pulumi.{cloud}-acme.yaml").read_text())["config"]
        source = yaml.safe_load((ROOT / f"Pulumi.{cloud}-fraud.yaml").read_text())["config"]
        assert {k: v for k, v in config.items() if not k.startswith("mlops:")} == {
            k: v for k, v in source.items() if not k.startswith("mlops:")
        }
        platform = config["mlops:platform"]
        assert (platform["name"], platform["pipeline"]["name"]) == ("acme", "acme")
        assert platform["pipeline"]["quality_gate"] == {"metric": "average_precision", "threshold": 0.3}
        assert platform["endpoint"]["model_version"] is None
        assert [
            (g["name"], g["entity"], g["event_time"], [(f["name"], f["type"]) for f in g["features"]])
            for g in platform["feature_store"]["feature_groups"]
        ] == [
            (
                "card_transaction",
                "card_id",
                "event_time",
                [
                    ("amount", "float"),
                    ("merchant_category", "string"),
                    ("channel", "string"),
                    ("country", "string"),
                    ("foreign", "bool"),
                ],
            ),
            (
                "card_activity",
                "card_id",
                "event_time",
                [
                    ("txn_count_24h", "int"),
                    ("txn_count_7d", "int"),
                    ("amount_mean_7d", "float"),
                    ("amount_ratio_7d", "float"),
                    ("hours_since_last_txn", "float"),
                ],
            ),
        ]


def test_without_stacks_to_copy_the_clouds_stand_ins_are_used(project, capsys):
    assert main(["pipeline", "new", "acme"]) == 0
    configs = {c: yaml.safe_load((project / f"Pulumi.{c}-acme.yaml").read_text())["config"] for c in CLOUDS}
    assert configs["aws"]["aws:region"] == "eu-west-1"
    assert (configs["gcp"]["gcp:project"], configs["gcp"]["gcp:region"]) == ("my-ml-project", "europe-west4")
    assert configs["azure"]["azure-native:location"] == "westeurope"
    assert configs["aws"]["mlops:platform"]["pipeline"]["quality_gate"] == {"metric": "roc_auc", "threshold": 0.75}
    assert "stand-ins: set yours" in (project / "Pulumi.aws-acme.yaml").read_text()


# --- the round trip: validates, runs locally, plans on every cloud -------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("source", ["churn", "fraud"])
def test_a_scaffolded_pipeline_validates_runs_and_plans_as_it_stands(source, project, capsys):
    assert main(["pipeline", "new", "acme", "--from", source]) == 0
    capsys.readouterr()
    assert main(["pipeline", "list", "--format", "json"]) == 0
    assert '"name": "acme"' in capsys.readouterr().out
    for cloud in CLOUDS:
        stack = project / f"Pulumi.{cloud}-acme.yaml"
        assert main(["validate", "--config-file", str(stack)]) == 0
        assert f"{cloud}-acme: valid ({cloud}, " in capsys.readouterr().out
        assert main(["plan", "--config-file", str(stack), "--format", "json"]) == 0, capsys.readouterr().err
        assert '"stack": "' + f"{cloud}-acme" in capsys.readouterr().out
    work = project / "run"
    argv = ["pipeline", "run", "acme", "--local", "--rows", "2000", "--workdir", str(work), "--gate", "roc_auc:0.7"]
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "quality gate roc_auc >= 0.7: PASSED" in out
    assert (work / "data" / "raw" / "acme.csv").is_file()
    assert (work / "code" / "train.py").read_text().startswith("# Scaffolded from pipeline")


def test_what_is_built_from_the_source_is_not_copied(project, capsys):
    """A wheelhouse under build/, bytecode, hidden files: made from the pipeline, not part of it."""
    source = project / "pipelines" / "mine"
    shutil.copytree(ROOT / "pipelines" / "churn", source, ignore=shutil.ignore_patterns("__pycache__"))
    init = source / "__init__.py"
    init.write_text(
        init.read_text()
        .replace("pipelines.churn import", "pipelines.mine import")
        .replace('name="churn",', 'name="mine",')
    )
    for junk in ("build/wheelhouse-cp312-0123456789ab/numpy.whl", "steps/__pycache__/train.cpython-311.pyc", ".env"):
        (source / junk).parent.mkdir(parents=True, exist_ok=True)
        (source / junk).write_bytes(b"not source")
    assert main(["pipeline", "new", "acme", "--from", "mine"]) == 0
    folder = project / "pipelines" / "acme"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == FILES
