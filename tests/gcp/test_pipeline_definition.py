"""The compiled KFP pipelines, checked by kfp itself, and their commands run on this machine."""

# No `from __future__ import annotations`: kfp reads component annotations at runtime.

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines import get_pipeline
from pipelines.churn import write_dataset
from pipelines.package import bundle
from providers.gcp import pipeline_definition as pd
from providers.gcp import vertex_server

PIPELINE = get_pipeline("churn")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[dict, Path]:
    from kfp import compiler

    func = pd.build_training_pipeline(
        PIPELINE, display_name="churn-dev-churn", gate_metric="roc_auc", gate_threshold=0.75
    )
    path = tmp_path_factory.mktemp("kfp") / "pipeline.yaml"
    compiler.Compiler().compile(func, str(path))
    return yaml.safe_load(path.read_text()), path


def _placeholder(token, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    """Resolve one KFP placeholder of a compiled executor the way a local run would."""
    if isinstance(token, str) and token.startswith("{{$.inputs.parameters['"):
        return inputs[token.split("'")[1]]
    if isinstance(token, str) and token.startswith("{{$.inputs.artifacts['"):
        return inputs[token.split("'")[1]]
    if isinstance(token, str) and token.startswith("{{$.outputs.artifacts['"):
        return outputs[token.split("'")[1]]
    return token


def test_kfp_loads_the_compiled_pipeline(compiled):
    from kfp import components

    spec, path = compiled
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == "churn-dev-churn"
    assert set(loaded.component_spec.inputs) >= {"input_data", "code_uri", "model_id", "kms_key", "seed"}
    assert "approval" not in loaded.component_spec.inputs  # compiled in: a run cannot override it
    tasks = spec["root"]["dag"]["tasks"]
    assert {
        "churn-validate",
        "churn-features",
        "churn-store-features",
        "churn-training-data",
        "churn-train",
        "churn-evaluate",
        "read-metric",
    } <= set(tasks)
    assert tasks["churn-features"]["dependentTasks"] == ["churn-validate"]
    assert tasks["churn-store-features"]["dependentTasks"] == ["churn-features"]
    assert set(tasks["churn-training-data"]["dependentTasks"]) == {"churn-features", "churn-store-features"}
    assert tasks["churn-train"]["dependentTasks"] == ["churn-training-data"]
    assert set(tasks["churn-evaluate"]["dependentTasks"]) == {"churn-train", "churn-training-data"}


def _branches(spec: dict) -> dict[str, tuple[str, list[str]]]:
    """The gate's branches: task name -> (trigger condition, the tasks it runs)."""
    tasks = spec["root"]["dag"]["tasks"]
    (group,) = [t for name, t in tasks.items() if name.startswith("condition-branches")]
    inner = spec["components"][group["componentRef"]["name"]]["dag"]["tasks"]
    return {
        branch["taskInfo"]["name"]: (
            branch["triggerPolicy"]["condition"],
            list(spec["components"][branch["componentRef"]["name"]]["dag"]["tasks"]),
        )
        for branch in inner.values()
    }


def test_quality_gate_condition_guards_registration(compiled):
    spec, _ = compiled
    tasks = spec["root"]["dag"]["tasks"]
    gate = tasks["read-metric"]["inputs"]["parameters"]
    assert gate["metric"]["runtimeValue"]["constant"] == "roc_auc"
    assert gate["metrics_file"]["runtimeValue"]["constant"] == PIPELINE.metrics_file
    metric = "inputs.parameter_values['pipelinechannel--read-metric-Output']"
    assert _branches(spec) == {
        "quality-gate": (f"{metric} >= 0.75", ["register-model"]),
        "quality-gate-missed": (f"!({metric} >= 0.75)", ["gate-failed"]),
    }
    assert "register-model" not in tasks  # only inside the gate


def test_a_missed_gate_fails_the_run(compiled):
    """Issue 9 item 9, the whole class: a model under the gate ends the run Failed (as on SageMaker
    and Azure ML), never Succeeded with a skipped branch. The branch the gate takes when missed
    runs a task, and that task's code raises."""
    spec, _ = compiled
    missed = [tasks for condition, tasks in _branches(spec).values() if condition.startswith("!(")]
    assert missed == [["gate-failed"]]
    executor = spec["deploymentSpec"]["executors"]["exec-gate-failed"]["container"]
    assert "raise RuntimeError" in "\n".join(executor["command"])
    with pytest.raises(RuntimeError, match=r"quality gate missed: roc_auc=0\.7000 < 0\.75"):
        pd._gate_failed_component().python_func(metric="roc_auc", value=0.7, threshold=0.75)


def test_steps_with_side_effects_are_never_cached(compiled):
    """A cached register step registers nothing on a re-run; a cached metric gates on an old score."""
    spec, _ = compiled

    def tasks(node):
        for component in [spec["root"], *spec["components"].values()]:
            yield from (component.get("dag") or {}).get("tasks", {}).items()

    caching = {name: task.get("cachingOptions") for name, task in tasks(spec)}
    for name in ("read-metric", "register-model", "gate-failed"):
        assert caching[name] == {}, name  # kfp writes {"enableCache": true} when caching is on
    assert all(option == {} for option in caching.values() if option is not None)


def test_containers_run_the_pipeline_def_command_lines(compiled):
    spec, _ = compiled
    executors = spec["deploymentSpec"]["executors"]
    for step in PIPELINE.steps:
        container = executors[f"exec-churn-{step.name.replace('_', '-')}"]["container"]
        assert container["image"] == pd.STEP_IMAGE  # swapped for the resolved digest at deploy time
        assert container["command"] == ["sh", "-c", pd.STEP_PROLOGUE, "mlops-step"]
        names = [*step.inputs, *step.outputs]
        paths = {n: f"<{n}>" for n in names}
        params = {p.name: f"<param {p.name}>" for p in PIPELINE.params}
        expected = PIPELINE.command(step.name, paths, params)
        assert expected[0] == "python"
        expected = ["python3", *expected[1:]]  # the interpreter the step image has
        resolved = [
            _placeholder(
                t,
                {
                    **paths,
                    "code_uri": "<code>",
                    **{a: f"<param {s.removeprefix('param:')}>" for a, s in step.params.items()},
                    **{n: f"<{n}>" for n in step.inputs},
                },
                {n: f"<{n}>" for n in step.outputs},
            )
            for t in container["args"]
        ]
        # inputs that are pipeline params resolve to the param's name in PipelineDef.command
        for name, source in step.inputs.items():
            if source.startswith("param:"):
                expected = [f"<{name}>" if t == f"<param {source[6:]}>" else t for t in expected]
        assert resolved == ["<code>", *expected]


# A command word `python` at the start of a shell script line or after ; & | ( then do else exec.
_BARE_PYTHON_IN_SHELL = re.compile(r"(?:^|[;&|(]|\bthen\b|\bdo\b|\belse\b|\bexec\b)\s*python(?=\s|$)", re.M)


def _bare_python_calls(spec: dict) -> list[str]:
    """Every place a compiled executor would start a bare `python` (not `python3`)."""
    found = []
    for name, executor in spec["deploymentSpec"]["executors"].items():
        container = executor["container"]
        argv = [t for t in [*container.get("command", []), *container.get("args", [])] if isinstance(t, str)]
        for i, token in enumerate(argv):
            if token == "python" or token.startswith("python "):
                found.append(f"{name}: argv[{i}] = {token!r}")
            is_script = i >= 2 and argv[i - 2] in ("sh", "bash", "/bin/sh") and argv[i - 1] in ("-c", "-ec", "-euc")
            if is_script and _BARE_PYTHON_IN_SHELL.search(token):
                found.append(f"{name}: shell script calls python: {_BARE_PYTHON_IN_SHELL.search(token).group(0)!r}")
    return found


@pytest.mark.parametrize("pipeline_name", ["churn", "fraud", "drift"])
def test_no_container_starts_a_bare_python(pipeline_name):
    """The prebuilt images are only relied on for `python3`: no command, argument list or shell
    script line of any compiled executor (steps, lightweight components, drift) calls `python`."""
    if pipeline_name == "drift":
        spec = pd.compile_spec(pd.build_drift_pipeline("churn-dev-drift", 0.2, 1, 3600))
    else:
        pdef = get_pipeline(pipeline_name)
        spec = pd.compile_spec(
            pd.build_training_pipeline(pdef, display_name="x", gate_metric=pdef.metrics[0], gate_threshold=0.5)
        )
    assert _bare_python_calls(spec) == []
    steps = [e["container"] for n, e in spec["deploymentSpec"]["executors"].items() if "mlops-step" in str(e)]
    assert all(c["args"][1] == "python3" for c in steps)


def test_the_bare_python_check_sees_every_form():
    """The check itself: each way a bare `python` can hide in an executor is reported."""

    def spec(command, args=()):
        return {"deploymentSpec": {"executors": {"exec-x": {"container": {"command": command, "args": list(args)}}}}}

    assert _bare_python_calls(spec(["python", "train.py"])) != []
    assert _bare_python_calls(spec(["sh", "-c", 'set -eu\nexec "$@"', "x"], ["gs://c", "python", "t.py"])) != []
    assert _bare_python_calls(spec(["sh", "-c", "set -eu\npython -m pip install -r r.txt\n"])) != []
    assert _bare_python_calls(spec(["sh", "-ec", "cd x && python t.py"])) != []
    assert _bare_python_calls(spec(["sh", "-c", "set -eu\npython3 -m pip install 'a; python_version<\"3.9\"'\n"])) == []
    assert _bare_python_calls(spec(["python3", "-c", "print('python is fine in a program')"])) == []


@pytest.mark.parametrize("approval", ["manual", "auto"])
def test_the_approval_mode_is_compiled_into_the_register_task(approval):
    spec = pd.compile_spec(
        pd.build_training_pipeline(
            PIPELINE, display_name="churn-dev-churn", gate_metric="roc_auc", gate_threshold=0.75, approval=approval
        )
    )
    assert "approval" not in spec["root"]["inputDefinitions"]["parameters"]
    (register,) = [
        task
        for component in spec["components"].values()
        for name, task in (component.get("dag") or {}).get("tasks", {}).items()
        if name == "register-model"
    ]
    assert register["inputs"]["parameters"]["approval"] == {"runtimeValue": {"constant": approval}}
    source = "\n".join(spec["deploymentSpec"]["executors"]["exec-register-model"]["container"]["command"])
    assert "google-cloud-aiplatform==2.7.0" in source
    assert "merge_version_aliases" not in source and "update_model" not in source  # never changes a version


class _Artifact:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.path = uri


@pytest.fixture()
def vertex():
    from tests.gcp.fake_vertex import FakeVertex

    fake = FakeVertex()
    fake.url = fake.start()
    yield fake
    fake.stop()


KMS_KEY = "projects/p/locations/europe-west4/keyRings/churn-dev-mlops/cryptoKeys/churn-dev-cmek"


BASELINE_ROWS = "tenure_months,contract_type\n3,one_year\n"


def _register(vertex, approval: str, value: float = 0.8, root: Path | None = None) -> str:
    register = pd._register_component()
    baseline = root / "run" / "training_data" / "baseline" if root else Path("/nonexistent")
    if root:
        baseline.mkdir(parents=True, exist_ok=True)
        (baseline / "baseline.csv").write_text(BASELINE_ROWS)
    return register.python_func(
        model=_Artifact("gs://bucket/pipeline-root/run/train/model"),
        baseline=_Artifact(str(baseline)),
        baseline_root=str(root / "baselines" / "churn-dev-churn") if root else "/nonexistent",
        project="p",
        location="europe-west4",
        model_id="churn-dev-churn",
        serving_image="img",
        kms_key=KMS_KEY,
        approval=approval,
        gate_metric="roc_auc",
        gate_value=value,
        serving_spec=json.dumps(vertex_server.container_spec()),
        api_endpoint=vertex.url,
    )


def test_register_step_creates_then_versions_the_model(vertex, tmp_path):
    """The register step's code, run here against the fake Vertex API with the real client."""
    model = "projects/p/locations/europe-west4/models/churn-dev-churn"
    assert _register(vertex, "manual", root=tmp_path) == f"{model}@1"
    # the version's drift baseline: what the drift job of this version compares requests with
    assert (tmp_path / "baselines" / "churn-dev-churn" / "v1" / "baseline.csv").read_text() == BASELINE_ROWS
    first = next(r for r in vertex.requests if r.path.endswith("models:upload"))
    assert first.body["modelId"] == "churn-dev-churn" and "parentModel" not in first.body
    assert first.body["model"]["artifactUri"] == "gs://bucket/pipeline-root/run/train/model"
    spec = first.body["model"]["containerSpec"]
    # not the prebuilt sklearn server: the kit's server running the model's own serve.py
    assert spec["imageUri"] == "img"
    assert spec["command"][:2] == ["python3", "-c"]
    assert spec["command"][2] == Path(vertex_server.__file__).read_text(encoding="utf-8")
    assert spec["ports"] == [{"containerPort": 8080}]
    assert (spec["predictRoute"], spec["healthRoute"]) == ("/predict", "/health")
    assert first.body["model"]["labels"] == {"approval": "pending", "managed-by": "mlops"}
    assert first.body["model"]["versionDescription"] == "roc_auc=0.8000"
    assert first.body["model"]["encryptionSpec"] == {"kmsKeyName": KMS_KEY}  # under the platform's key
    # only reads and the upload: the pipeline identity never changes an existing version
    assert {r.method for r in vertex.requests} == {"GET", "POST"}
    assert [r.path for r in vertex.requests if r.method == "POST"] == [
        "/v1/projects/p/locations/europe-west4/models:upload"
    ]

    vertex.requests.clear()
    assert _register(vertex, "manual", root=tmp_path) == f"{model}@2"
    assert (tmp_path / "baselines" / "churn-dev-churn" / "v2" / "baseline.csv").is_file()
    second = next(r for r in vertex.requests if r.path.endswith("models:upload"))
    assert second.body["parentModel"] == model and "modelId" not in second.body


def test_register_step_auto_registers_approved_without_touching_other_versions(vertex, tmp_path):
    model = "projects/p/locations/europe-west4/models/churn-dev-churn"
    _register(vertex, "auto", root=tmp_path)
    _register(vertex, "auto", root=tmp_path)
    assert vertex.models[f"{model}@1"]["labels"]["approval"] == "approved"
    assert vertex.models[f"{model}@2"]["labels"]["approval"] == "approved"
    assert [r.method for r in vertex.requests if r.method not in ("GET", "POST")] == []  # no PATCH
    assert [r.path for r in vertex.requests if r.method == "POST"] == [
        f"/v1/{model.rsplit('/', 2)[0]}/models:upload"
    ] * 2


def test_step_commands_run_locally_with_the_prologue(tmp_path):
    """What each container runs, on this machine: prologue + PipelineDef.command, step by step."""
    code = bundle(PIPELINE).write(tmp_path / "code")  # the layout the bucket holds
    (code / "requirements.txt").write_text("# installed in the venv already\n")
    data = write_dataset(tmp_path / "raw", rows=400, seed=3).parent
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PIP_NO_INDEX": "1",
    }
    produced: dict[str, dict[str, Path]] = {}
    for step in PIPELINE.steps:
        paths: dict[str, str] = {}
        for name, source in step.inputs.items():
            a, _, b = source.partition(".")
            paths[name] = str(data) if source.startswith("param:") else str(produced[a][b])
        outputs = {n: tmp_path / step.name / n for n in step.outputs}
        paths.update({n: str(p) for n, p in outputs.items()})
        argv = pd.container_argv(PIPELINE.command(step.name, paths, {}))
        proc = subprocess.run(
            ["sh", "-c", pd.STEP_PROLOGUE, "mlops-step", str(code), *argv],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        produced[step.name] = outputs
    metrics = json.loads((produced["evaluate"]["metrics"] / PIPELINE.metrics_file).read_text())["metrics"]
    assert 0.5 < metrics["roc_auc"] <= 1.0


def test_prologue_maps_gs_uris_to_the_gcs_mount(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "requirements.txt").write_text("")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PIP_NO_INDEX": "1",
    }
    proc = subprocess.run(
        [
            "sh",
            "-c",
            pd.STEP_PROLOGUE,
            "x",
            str(code),
            "echo",
            "--raw",
            "gs://b/data/",
            "--x",
            "keep gs://in-middle",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "--raw /gcs/b/data/ --x keep gs://in-middle"


def test_gate_metric_must_be_produced():
    with pytest.raises(ValueError, match="not produced"):
        pd.build_training_pipeline(PIPELINE, display_name="x", gate_metric="mae", gate_threshold=0.5)


# --- drift pipeline -------------------------------------------------------------------------------


def test_drift_pipeline_runs_the_kits_drift_step_from_the_code_bundle():
    spec = pd.compile_spec(pd.build_drift_pipeline("churn-dev-drift", 0.2, 150, 21600, io_config={"kind": "gcp"}))
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert {k: v.get("defaultValue") for k, v in params.items()} == {
        "code_uri": None,
        "baseline_uri": None,
        "drift_threshold": 0.2,
        "min_samples": 150,
        "window_seconds": 21600,
    }
    (executor,) = spec["deploymentSpec"]["executors"].values()
    container = executor["container"]
    assert container["command"] == ["sh", "-c", pd.STEP_PROLOGUE, "mlops-step"]
    assert container["args"] == [
        "{{$.inputs.parameters['code_uri']}}",
        "python3",
        "mlops_gcp_drift.py",
        "--baseline",
        "{{$.inputs.parameters['baseline_uri']}}",
        "--out",
        "{{$.outputs.artifacts['drift'].path}}",
        "--threshold",
        "{{$.inputs.parameters['drift_threshold']}}",
        "--min_samples",
        "{{$.inputs.parameters['min_samples']}}",
        "--window_seconds",
        "{{$.inputs.parameters['window_seconds']}}",
        "--scheduled",
        "{{$.inputs.parameters['scheduled']}}",
        "--created",
        "{{$.inputs.parameters['created']}}",
    ]
    assert container["env"] == [{"name": "MLOPS_IO", "value": '{"kind":"gcp"}'}]
    (task,) = spec["root"]["dag"]["tasks"].values()
    assert task["cachingOptions"] == {}  # never a cached drift result
    assert task["inputs"]["parameters"]["scheduled"] == {
        "runtimeValue": {"constant": "{{$.pipeline_job_schedule_time_utc}}"}
    }
    assert task["inputs"]["parameters"]["created"] == {
        "runtimeValue": {"constant": "{{$.pipeline_job_create_time_utc}}"}
    }


def test_the_drift_window_ends_at_the_scheduled_time():
    from providers.gcp import drift_job

    assert [t.isoformat() for t in drift_job.window("2025-01-06T03:00:00Z", "2025-01-06T03:02:41Z", 3600)] == [
        "2025-01-06T02:00:00+00:00",
        "2025-01-06T03:00:00+00:00",
    ]
    # a run started by hand has no schedule time: its window ends when it was created
    for unfilled in ("", "{{$.pipeline_job_schedule_time_utc}}"):
        assert [t.isoformat() for t in drift_job.window(unfilled, "2025-01-06T03:02:41Z", 900)] == [
            "2025-01-06T02:47:41+00:00",
            "2025-01-06T03:02:41+00:00",
        ]
    assert drift_job.whole("100.0") == 100  # how Vertex may render an integer parameter
    with pytest.raises(ValueError):
        drift_job.window("2025-01-06T03:00:00Z", "", 0)


def test_the_kit_steps_get_the_gcp_step_io_and_the_other_steps_do_not():
    io = {"kind": "gcp", "project": "p"}
    spec = pd.compile_spec(
        pd.build_training_pipeline(
            PIPELINE, display_name="churn-dev-churn", gate_metric="roc_auc", gate_threshold=0.75, io_config=io
        )
    )
    envs = {
        name.removeprefix("exec-"): {e["name"]: e["value"] for e in executor["container"].get("env", [])}
        for name, executor in spec["deploymentSpec"]["executors"].items()
    }
    with_io = {name for name, env in envs.items() if "MLOPS_IO" in env}
    assert with_io == {"churn-store-features", "churn-training-data"}
    assert {json.dumps(envs[n]["MLOPS_IO"]) for n in with_io} == {json.dumps('{"kind":"gcp","project":"p"}')}
    code = pd.code_bundle(PIPELINE)
    assert code.content("mlops_io_requirements.txt").decode() == (
        "google-cloud-bigquery==3.47.0\ngoogle-cloud-logging==3.17.0\n"
    )
    assert code.content("mlops_io.py") == Path(pd.STEP_IO).read_bytes()


def test_the_step_io_pins_are_the_versions_its_tests_run_against():
    """What the kit steps install on Vertex is what `tests/gcp/test_step_io.py` exercises here:
    each pin of `providers/gcp/step_requirements.txt` is the constraints file's pin."""
    root = Path(__file__).resolve().parents[2]
    pins = dict(line.split("==") for line in (root / "constraints.txt").read_text().splitlines() if "==" in line)
    shipped = [line for line in (root / "providers/gcp/step_requirements.txt").read_text().splitlines() if line]
    assert shipped == ["google-cloud-bigquery==3.47.0", "google-cloud-logging==3.17.0"]
    for line in shipped:
        name, version = line.split("==")
        assert pins[name] == version, f"{name}: ships {version}, constraints.txt pins {pins[name]}"


@pytest.fixture(scope="module")
def local_kfp(tmp_path_factory):
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path_factory.mktemp("kfp-root")))
    yield


def test_read_metric_runs_locally_under_kfp(local_kfp, tmp_path):
    from kfp import dsl

    read_metric = pd._read_metric_component()

    @dsl.component(base_image="python:3.11")  # kfp.local runs it in this venv, the image is not pulled
    def fake_evaluate(metrics: dsl.Output[dsl.Artifact]):
        import json
        import os

        os.makedirs(metrics.path, exist_ok=True)
        with open(os.path.join(metrics.path, "evaluation.json"), "w") as handle:
            json.dump({"metrics": {"roc_auc": 0.81}}, handle)

    @dsl.pipeline(name="gate")
    def gate() -> float:
        evaluated = fake_evaluate()
        return read_metric(
            metrics=evaluated.outputs["metrics"], metrics_file="evaluation.json", metric="roc_auc"
        ).output

    assert gate().output == pytest.approx(0.81)


def test_compiled_register_step_gets_the_serving_container_spec(compiled):
    spec, _ = compiled

    def find(node):
        if isinstance(node, dict):
            if "serving_spec" in node and "runtimeValue" in node["serving_spec"]:
                yield node["serving_spec"]["runtimeValue"]["constant"]
            for value in node.values():
                yield from find(value)
        elif isinstance(node, list):
            for value in node:
                yield from find(value)

    assert [json.loads(v) for v in find(spec)] == [vertex_server.container_spec()]
