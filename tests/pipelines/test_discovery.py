"""A pipeline is a folder: found without any registry line; a broken folder is one line, exit 2.

Each test adds a temporary folder of pipelines to the package's search path (`pipelines.__path__`,
the roots discovery scans) and copies the churn example into it under a new name, renamed by
hand here (not by the scaffold under test), then breaks it one way per case.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import pipelines
from infra.cli import main
from pipelines import BrokenPipelineError, UnknownPipelineError, available, discover, get_pipeline

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "pipelines" / "churn"


@pytest.fixture
def extra_root(tmp_path, monkeypatch) -> Path:
    """A second folder of pipelines, searched after the package's own."""
    root = tmp_path / "pipelines"
    root.mkdir()
    monkeypatch.setattr(pipelines, "__path__", [*pipelines.__path__, str(root)])
    yield root
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None) or ""
        if name.startswith("pipelines.") and origin.startswith(str(root)):
            del sys.modules[name]
            if name.count(".") == 1 and hasattr(pipelines, name.split(".")[1]):
                delattr(pipelines, name.split(".")[1])


def copy_churn(root: Path, name: str, *, rename: bool = True) -> Path:
    folder = root / name
    shutil.copytree(CHURN, folder, ignore=shutil.ignore_patterns("__pycache__"))
    init = folder / "__init__.py"
    text = init.read_text().replace("from pipelines.churn import data", f"from pipelines.{name} import data")
    if rename:
        text = text.replace('name="churn",', f'name="{name}",')
    init.write_text(text)
    return folder


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


def stack_for(tmp_path: Path, pipeline: str) -> Path:
    document = yaml.safe_load((ROOT / "Pulumi.aws-dev.yaml").read_text())
    document["config"]["mlops:platform"]["pipeline"]["name"] = pipeline
    path = tmp_path / "Pulumi.probe.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


# --- found by the folder alone ------------------------------------------------------------------


def test_a_new_folder_is_a_pipeline_without_any_registry_line(extra_root, capsys):
    copy_churn(extra_root, "byfolder")
    assert "byfolder" not in (ROOT / "pipelines" / "__init__.py").read_text()
    assert "byfolder" in available() and "churn" in available()
    pipeline = get_pipeline("byfolder")
    assert pipeline.name == "byfolder"
    assert pipeline.steps_dir == extra_root / "byfolder" / "steps"
    assert main(["pipeline", "list", "--format", "json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert listed["byfolder"]["error"] is None
    assert listed["byfolder"]["folder"] == "pipelines/byfolder"
    assert [s["name"] for s in listed["byfolder"]["steps"]] == [
        "validate",
        "features",
        "store_features",
        "training_data",
        "train",
        "evaluate",
    ]


def test_the_kits_folders_and_hidden_ones_are_not_pipelines(extra_root):
    for name in ("kit", "__pycache__", ".ipynb_checkpoints", "_drafts"):
        (extra_root / name).mkdir()
    names = available()
    assert not {"kit", "__pycache__", ".ipynb_checkpoints", "_drafts"} & set(names)
    assert {f.name for f in discover()} == set(names)


def test_an_unknown_name_lists_the_pipelines():
    with pytest.raises(UnknownPipelineError) as info:
        get_pipeline("nope")
    assert "unknown pipeline 'nope'" in str(info.value) and "churn" in str(info.value)


# --- each kind of broken folder: the file, the rule, exit 2 -------------------------------------


def _replace(relative: str, old: str, new: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new, 1))

    return change


def _append(relative: str, text: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / relative
        path.write_text(path.read_text() + text)

    return change


BROKEN = {
    "no_init": (lambda f: (f / "__init__.py").unlink(), "__init__.py", "missing: a pipeline folder holds __init__.py"),
    "no_pipeline": (
        _replace("__init__.py", "PIPELINE = PipelineDef(", "_PIPELINE = PipelineDef("),
        "__init__.py",
        "defines no PIPELINE",
    ),
    "not_a_def": (
        _append("__init__.py", "\nPIPELINE = {'name': 'x'}\n"),
        "__init__.py",
        "PIPELINE is a dict, not a pipelines.spec.PipelineDef",
    ),
    "syntax_init": (_append("__init__.py", "\ndef broken(:\n    pass\n"), "__init__.py", "syntax error"),
    "syntax_helper": (_append("data.py", "\nx = = 1\n"), "data.py", "syntax error"),
    "import_error": (
        _replace("__init__.py", "from collections.abc import Mapping\n", "import no_such_module_xyz\n"),
        "__init__.py",
        "importing it raised ModuleNotFoundError: No module named 'no_such_module_xyz'",
    ),
    "raises": (
        _append("__init__.py", "\nraise RuntimeError('boom at import')\n"),
        "__init__.py",
        "RuntimeError: boom at import",
    ),
    "bad_graph": (
        _replace("__init__.py", '"training_data.train"', '"training_data.nope"'),
        "__init__.py",
        "reads unknown output 'training_data.nope'",
    ),
    "bad_contract": (
        _replace("__init__.py", "request=FEATURES,", 'request=(*FEATURES, Column("nope", "int")),'),
        "__init__.py",
        "request column 'nope' is not a feature the pipeline reads",
    ),
    "unpinned_framework": (
        _replace("requirements.txt", "scikit-learn==1.4.2", "scikit-learn>=1.4"),
        "requirements.txt",
        "must pin scikit-learn==1.4.2",
    ),
    "no_requirements": (
        lambda f: (f / "requirements.txt").unlink(),
        "requirements.txt",
        "missing: a pipeline folder holds the step containers' pinned packages",
    ),
    "no_steps": (lambda f: shutil.rmtree(f / "steps"), "steps", "missing: a pipeline folder holds its step scripts"),
    "no_dataset_function": (
        _replace("__init__.py", "def write_dataset(", "def make_dataset("),
        "__init__.py",
        "must define write_dataset(out_dir, rows, seed, **options)",
    ),
    "dataset_signature": (
        _replace("__init__.py", "    out_dir: Path,\n", "    out_dir: Path,\n    fmt: str,\n"),
        "__init__.py",
        "must define write_dataset(out_dir, rows, seed, **options)",
    ),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_folder_is_one_line_naming_the_file_and_exit_2(kind, extra_root, tmp_path, capsys):
    name = f"broken_{kind}"
    change, relative, rule = BROKEN[kind]
    change(copy_churn(extra_root, name))
    key = f"pipelines/{name}/{relative}"

    with pytest.raises(BrokenPipelineError) as info:
        get_pipeline(name)
    assert info.value.key == key
    assert rule in info.value.rule
    assert isinstance(info.value, ValueError)

    # every command that touches it: one line naming the file and the rule, exit 2
    for argv in (
        ["pipeline", "run", name, "--local"],
        ["validate", "--config-file", str(stack_for(tmp_path, name))],
        ["pipeline", "new", "fresh", "--from", name, "--dry-run"],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert one_line(err), err
        assert key in err and rule in err, err

    # the list still shows the others, and marks this one with its error
    assert main(["pipeline", "list"]) == 2
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert "churn  scikit-learn 1.4.2, classification  (pipelines/churn)" in lines
    assert [line for line in lines if line.startswith(f"{name}  ")] == [f"{name}  BROKEN: {key}: {info.value.rule}"]
    assert one_line(captured.err) and key in captured.err


def test_a_folder_not_renamed_names_the_rule(extra_root):
    copy_churn(extra_root, "copied", rename=False)
    with pytest.raises(BrokenPipelineError) as info:
        get_pipeline("copied")
    assert info.value.key == "pipelines/copied/__init__.py"
    assert info.value.rule == "PIPELINE.name is 'churn'; it must be the folder's name 'copied'"


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("Bad-Name", "must match ^[a-z][a-z0-9_]*$"),
        ("class", "not be a Python keyword"),
        ("local", "'local' is the name of one of the kit's own modules"),
    ],
)
def test_a_folder_whose_name_cannot_be_a_pipeline(name, rule, extra_root):
    (extra_root / name).mkdir()
    (extra_root / name / "__init__.py").write_text("")
    with pytest.raises(BrokenPipelineError) as info:
        get_pipeline(name)
    assert info.value.key == f"pipelines/{name}"
    assert rule in info.value.rule
    broken = {f.name: f.error for f in discover()}
    assert broken[name] is not None and broken["churn"] is None


def test_a_name_in_two_roots_is_ambiguous(extra_root, tmp_path, monkeypatch):
    copy_churn(extra_root, "twice")
    third = tmp_path / "third" / "pipelines"
    third.mkdir(parents=True)
    copy_churn(third, "twice")
    monkeypatch.setattr(pipelines, "__path__", [*pipelines.__path__, str(third)])
    with pytest.raises(BrokenPipelineError) as info:
        get_pipeline("twice")
    assert "a second folder named 'twice'" in info.value.rule


# --- mlops pipeline list -------------------------------------------------------------------------


def test_pipeline_list_shows_steps_reads_request_and_framework(capsys):
    assert main(["pipeline", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 120 for line in lines)
    fraud = lines[lines.index("fraud  xgboost 1.7.6, classification  (pipelines/fraud)") :]
    assert fraud[2] == "  steps:    validate -> features -> store_features -> training_data -> train -> evaluate"
    assert fraud[3] == "  keys:     entity card_id, event time event_time, label is_fraud (int)"
    text = "\n".join(fraud)
    assert "  reads:    card_transaction: amount (float), merchant_category (string)" in text
    assert "            card_activity: txn_count_24h (int)" in text
    assert "  request:  amount (float), merchant_category (string)" in text
    assert "  metrics:  roc_auc, average_precision, f1, precision, recall" in text
    assert "churn  scikit-learn 1.4.2, classification  (pipelines/churn)" in lines


def test_pipeline_list_as_json(capsys):
    assert main(["pipeline", "list", "--format", "json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert {"churn", "fraud"} <= set(listed)
    fraud = listed["fraud"]
    assert fraud["framework"] == {"name": "xgboost", "version": "1.7.6"}
    assert fraud["error"] is None and fraud["task"] == "classification"
    assert [(s["name"], s["after"]) for s in fraud["steps"]] == [
        ("validate", []),
        ("features", ["validate"]),
        ("store_features", ["features"]),
        ("training_data", ["features", "store_features"]),
        ("train", ["training_data"]),
        ("evaluate", ["train", "training_data"]),
    ]
    assert [(r["group"], [f["name"] for f in r["features"]]) for r in fraud["reads"]] == [
        ("card_transaction", ["amount", "merchant_category", "channel", "country", "foreign"]),
        (
            "card_activity",
            ["txn_count_24h", "txn_count_7d", "amount_mean_7d", "amount_ratio_7d", "hours_since_last_txn"],
        ),
    ]
    assert fraud["request"][0] == {"name": "amount", "type": "float"}
    assert len(fraud["request"]) == 10
    assert fraud["label"] == {"name": "is_fraud", "type": "int"}
