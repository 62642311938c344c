"""The azure-ai-ml pipeline job built offline: SDK validation, dump/load round trip, own binding checks."""

from __future__ import annotations

import copy
import shlex

import pytest
import yaml

import pipelines
from providers.azure import pipeline_definition as pdef

PIPELINE = pipelines.get_pipeline("churn")
ROOT = "azureml://datastores/workspaceblobstore/paths"


@pytest.fixture(scope="module")
def built():
    return pdef.build(
        PIPELINE,
        prefix="churn-dev",
        code=pdef.code_ref("churn-dev-steps", "abc"),
        environment=pdef.environment_ref("churn-dev-steps-env", "def"),
        instance_type="Standard_D4s_v3",
        gate_metric="roc_auc",
        gate_threshold=0.75,
        approval="manual",
        model_name="churn-dev-churn",
        data_root=ROOT,
        tags={"mlops-platform": "churn"},
    )


WID = "/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w"
UAI = "/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id"


def test_sdk_validates_the_job(built):
    result = built.job._validate()
    assert result.passed, result.error_messages


def test_each_step_runs_exactly_the_portable_command(built):
    spec = pdef.job_yaml(built)
    for step in PIPELINE.steps:
        paths = {n: f"${{{{inputs.{n}}}}}" for n in step.inputs} | {n: f"${{{{outputs.{n}}}}}" for n in step.outputs}
        params = {p.name: f"${{{{inputs.{p.name}}}}}" for p in PIPELINE.params if p.name != "input_data"}
        expected = PIPELINE.command(
            step.name,
            paths,
            {k: v for k, v in params.items() if any(s == f"param:{k}" for s in step.params.values())},
        )
        assert shlex.split(spec["jobs"][step.name]["component"]["command"]) == expected
    assert list(spec["jobs"]) == [*(s.name for s in PIPELINE.steps), pdef.GATE_STEP]
    gate = spec["jobs"][pdef.GATE_STEP]
    assert gate["inputs"]["metric"] == "roc_auc" and gate["inputs"]["threshold"] == 0.75
    assert gate["inputs"]["metrics"]["path"] == "${{parent.jobs.evaluate.outputs.metrics}}"
    assert gate["inputs"]["model"]["path"] == "${{parent.jobs.train.outputs.model}}"


def test_dump_and_load_round_trip(built, tmp_path):
    from azure.ai.ml import load_job

    path = tmp_path / "pipeline.yaml"
    built.job.dump(path)
    loaded = load_job(path)
    assert loaded._validate().passed
    again = loaded._to_dict()
    assert set(again["jobs"]) == set(pdef.job_yaml(built)["jobs"])
    assert pdef.check_bindings(again) == []
    assert again["outputs"]["training_data"]["path"] == f"{ROOT}/churn/training/"


def test_own_binding_check_passes(built):
    assert pdef.check_bindings(pdef.job_yaml(built)) == []


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda j: j["jobs"]["train"]["inputs"]["train"].update(path="${{parent.jobs.features.outputs.trian}}"),
            "declares no output 'trian'",
        ),
        (
            lambda j: j["jobs"]["evaluate"]["inputs"]["model"].update(path="${{parent.jobs.training.outputs.model}}"),
            "names no job 'training'",
        ),
        (
            lambda j: j["jobs"]["training_data"]["inputs"]["seed"].update(path="${{parent.inputs.sed}}"),
            "names no pipeline input",
        ),
        (
            lambda j: j["jobs"]["train"]["inputs"].update(extra={"path": "${{parent.inputs.seed}}"}),
            "input 'extra' is not declared",
        ),
        (lambda j: j["jobs"]["evaluate"]["inputs"].pop("test"), "required input 'test' is not bound"),
        (
            lambda j: j["jobs"]["train"]["component"].update(command="python train.py --x ${{inputs.nope}}"),
            "command uses inputs.nope",
        ),
    ],
)
def test_own_check_catches_broken_bindings_the_sdk_misses(built, tmp_path, mutate, message):
    from azure.ai.ml import load_job

    broken = copy.deepcopy(pdef.job_yaml(built))
    mutate(broken)
    problems = pdef.check_bindings(broken)
    assert any(message in p for p in problems), problems
    if message.startswith("declares no output"):
        # the SDK accepts this very job: that is why the kit checks bindings itself
        path = tmp_path / "broken.yaml"
        path.write_text(yaml.safe_dump(broken))
        assert load_job(path)._validate().passed


def test_rest_job_points_at_registered_components_in_the_sdks_wire_format(built):
    versions = {name: "v" + name[-3:] for name in built.components}
    rest = pdef.rest_job(built, versions)
    filled = pdef.fill(rest, WID, UAI, "client-1")
    for node, cname in built.node_components.items():
        # azure-ai-ml sends a node's component as its ARM id, without `azureml:`
        assert filled["jobs"][node]["componentId"] == f"{WID}/components/{cname}/versions/{versions[cname]}"
    assert filled["jobType"] == "Pipeline"
    assert filled["identity"] == {"identityType": "Managed", "clientId": "client-1", "resourceId": UAI}
    assert filled["inputs"]["input_data"]["uri"] == f"{ROOT}/churn/raw/"
    assert "mlops-template" not in str(filled) and "0000000c1e17" not in str(filled)
    # the SDK's own component objects were restored after the REST rendering
    assert not isinstance(built.job.jobs["train"]._component, str)


def test_code_asset_is_content_addressed():
    code = pdef.code_bundle(PIPELINE)
    assert {s.script for s in PIPELINE.steps} | {pdef.GATE_SCRIPT_NAME, pdef.SCORE_SCRIPT_NAME} <= set(code.files)
    files = {name: code.content(name) for name in code.files}
    changed = dict(files, **{"train.py": files["train.py"] + b"\n# changed\n"})
    assert pdef.digest(files) == code.digest
    assert pdef.digest(files) != pdef.digest(changed)


def test_components_reference_code_and_environment_as_the_sdk_resolves_them(built):
    from azure.ai.ml._utils._arm_id_utils import is_ARM_id_for_resource

    for component in built.components.values():
        spec = pdef.fill(pdef.component_spec(component), WID, UAI, "client-1")
        assert spec["code"] == f"azureml:{WID}/codes/churn-dev-steps/versions/abc"
        assert spec["environment"] == f"azureml:{WID}/environments/churn-dev-steps-env/versions/def"
        assert is_ARM_id_for_resource(spec["code"].removeprefix("azureml:"), "codes")
        assert is_ARM_id_for_resource(spec["environment"].removeprefix("azureml:"), "environments")
        assert spec["tags"] == {"mlops-platform": "churn"}
