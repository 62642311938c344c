"""The kit's MLClient calls (approve, and the gate step's register) against a local fake ARM."""

from __future__ import annotations

import types

import pytest

from providers.azure import pipeline_definition as pdef
from providers.azure.model_registry import approve
from tests.azure.fake_arm import WS, FakeArm, ml_client

MODEL_URI = "azureml://subscriptions/sub/resourcegroups/rg/workspaces/ws/datastores/workspaceblobstore/paths/m/"


@pytest.fixture()
def arm(monkeypatch):
    # azure-core refuses bearer tokens over plain http; the fake has no TLS. Test-only relaxation.
    import azure.core.pipeline.policies._authentication as auth

    monkeypatch.setattr(auth, "_enforce_https", lambda request: request.context.options.pop("enforce_https", None))
    with FakeArm() as fake:
        yield fake


def _gate_module() -> types.ModuleType:
    module = types.ModuleType("gate_register")
    exec(compile(pdef.GATE_SCRIPT.read_text(), pdef.GATE_SCRIPT_NAME, "exec"), module.__dict__)  # noqa: S102
    return module


def test_approve_sets_only_the_approval_tag(arm):
    arm.add_model("churn-dev-churn", "3", {"approval": "pending", "roc_auc": "0.8100"}, MODEL_URI)
    model = approve(ml_client(arm.url), "churn-dev-churn", 3, approver="alice")
    assert model.tags["approval"] == "approved"
    puts = [(path, body) for method, path, body in arm.requests if method == "PUT"]
    assert len(puts) == 1
    path, body = puts[0]
    assert path.split("?")[0] == f"{WS}/models/churn-dev-churn/versions/3"
    assert body["properties"]["tags"] == {"approval": "approved", "roc_auc": "0.8100", "approved-by": "alice"}
    assert body["properties"]["modelUri"] == MODEL_URI  # same files, nothing uploaded
    assert all(path.startswith(f"{WS}/models/") for _, path, _ in arm.requests)


@pytest.mark.parametrize(("approval", "tag"), [("manual", "pending"), ("auto", "approved")])
def test_register_step_tags_next_version(arm, approval, tag):
    gate = _gate_module()
    arm.add_model("churn-dev-churn", "1", {"approval": "approved"}, MODEL_URI)
    arm.add_model("churn-dev-churn", "2", {"approval": "pending"}, MODEL_URI)
    model = gate.register(
        ml_client(arm.url), "churn-dev-churn", MODEL_URI, {"roc_auc": 0.83}, approval, "run-7", "drift"
    )
    assert model.version == "3"
    method, path, body = next(r for r in arm.requests if r[0] == "PUT")
    assert path.split("?")[0] == f"{WS}/models/churn-dev-churn/versions/3"
    assert body["properties"]["tags"] == {"approval": tag, "roc_auc": "0.8300", "run": "run-7", "trigger": "drift"}
    # The number is the container's nextVersion (a server read), not a listing of versions.
    assert ("GET", f"{WS}/models/churn-dev-churn") in [(m, p.split("?")[0]) for m, p, _ in arm.requests]
    assert body["properties"]["modelType"] == "custom_model"
    assert body["properties"]["modelUri"] == MODEL_URI


def test_two_registrations_at_once_get_two_versions(arm):
    """B read nextVersion 3 before A registered 3: Azure refuses B's PUT on the existing version 3
    (versions are immutable), B asks again and registers 4. Nothing is overwritten."""
    gate = _gate_module()
    arm.add_model("churn-dev-churn", "2", {"approval": "approved"}, MODEL_URI)
    client = ml_client(arm.url)
    a = gate.register(client, "churn-dev-churn", MODEL_URI + "a/", {"roc_auc": 0.8}, "manual", "run-a")
    arm.stale_next_version["churn-dev-churn"] = 3  # B's read happened before A's write
    b = gate.register(client, "churn-dev-churn", MODEL_URI + "b/", {"roc_auc": 0.9}, "manual", "run-b")
    assert (a.version, b.version) == ("3", "4")
    assert arm.models[("churn-dev-churn", "3")]["properties"]["modelUri"] == MODEL_URI + "a/"
    assert arm.models[("churn-dev-churn", "4")]["properties"]["modelUri"] == MODEL_URI + "b/"
    puts = [p.split("?")[0].rsplit("/", 1)[-1] for m, p, _ in arm.requests if m == "PUT"]
    assert puts == ["3", "3", "4"]


def test_gate_blocks_registration(tmp_path, capsys):
    gate = _gate_module()
    (tmp_path / "evaluation.json").write_text('{"metrics": {"roc_auc": 0.61}}')
    rc = gate.main(
        [
            "--metrics",
            str(tmp_path),
            "--model",
            MODEL_URI,
            "--metric",
            "roc_auc",
            "--threshold",
            "0.75",
            "--model_name",
            "m",
            "--approval",
            "manual",
        ]
    )
    assert rc == 1  # the pipeline run fails; no client is even built
    assert "quality gate failed" in capsys.readouterr().err
    assert gate.gate(tmp_path, "roc_auc", 0.6)[0] is True


@pytest.mark.parametrize(("metric", "registered"), [(0.75, True), (0.7499, False), (0.7501, True)])
def test_the_gate_is_at_least_the_threshold_a_metric_exactly_at_it_registers(
    arm, tmp_path, monkeypatch, metric, registered
):
    import azure.ai.ml
    import azure.identity

    gate = _gate_module()
    client = ml_client(arm.url)
    monkeypatch.setattr(azure.ai.ml, "MLClient", lambda *args, **kwargs: client)
    monkeypatch.setattr(azure.identity, "ManagedIdentityCredential", lambda **kwargs: None)
    for name, value in (("SUBSCRIPTION", "sub"), ("RESOURCEGROUP", "rg"), ("WORKSPACE_NAME", "ws")):
        monkeypatch.setenv(f"AZUREML_ARM_{name}", value)
    (tmp_path / "evaluation.json").write_text(f'{{"metrics": {{"roc_auc": {metric}}}}}')
    argv = ["--metrics", str(tmp_path), "--model", MODEL_URI, "--metric", "roc_auc", "--threshold", "0.75"]
    rc = gate.main([*argv, "--model_name", "churn-dev-churn", "--approval", "manual"])
    puts = [path for method, path, _ in arm.requests if method == "PUT"]
    assert (rc, len(puts)) == ((0, 1) if registered else (1, 0))
    if registered:
        assert puts[0].split("?")[0] == f"{WS}/models/churn-dev-churn/versions/1"
