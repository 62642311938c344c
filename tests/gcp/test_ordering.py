"""What must exist before what, on a fresh project: read from the dependencies each resource
declares to the Pulumi engine (the RegisterResource request), under the offline mocks."""

from __future__ import annotations

import re

import pytest

from infra.config import load_stack_file
from infra.plan import _RecordingMonitor, plan
from tests.gcp.conftest import STACK, write_stack

# Google creates a service agent when something first needs it. The grant to an agent must wait for
# what creates it, else `pulumi up` on a fresh project fails with "service account does not exist".
# agent domain -> the resource types (with a distinguishing input) that create it.
AGENT_CREATORS = {
    # "Create and manage notification channels", Pub/Sub section
    # (https://cloud.google.com/monitoring/support/notification-options#pubsub): the agent exists
    # once the project has a Pub/Sub notification channel.
    "gcp-sa-monitoring-notification": {("gcp:monitoring/notificationChannel:NotificationChannel", "pubsub")},
    # projects.ServiceIdentity (generateServiceIdentity) creates these agents
    "gcp-sa-aiplatform": {("gcp:projects/serviceIdentity:ServiceIdentity", "aiplatform.googleapis.com")},
    "gcp-sa-pubsub": {("gcp:projects/serviceIdentity:ServiceIdentity", "pubsub.googleapis.com")},
    "gcp-sa-workflows": {("gcp:projects/serviceIdentity:ServiceIdentity", "workflows.googleapis.com")},
}
# Agents whose e-mail the provider gets from a data source that also creates them (no resource):
# storage (getProjectServiceAccount), BigQuery (getDefaultServiceAccount), Cloud Logging (getProjectCmekSettings).
CREATED_BY_LOOKUP = ("gs-project-accounts", "bigquery-encryption", "gcp-sa-logging")
AGENT_RE = re.compile(r"^serviceAccount:service-\d+@(?P<domain>[a-z-]+)\.iam\.gserviceaccount\.com$")


def _planned_with_dependencies(path, monkeypatch):
    deps: dict[str, set[str]] = {}
    original = _RecordingMonitor.RegisterResource

    def record(self, request):
        response = original(self, request)
        deps[request.name] = {urn.rsplit("::", 1)[-1] for urn in request.dependencies}
        for prop in request.propertyDependencies.values():
            deps[request.name] |= {urn.rsplit("::", 1)[-1] for urn in prop.urns}
        return response

    monkeypatch.setattr(_RecordingMonitor, "RegisterResource", record)
    result = plan(load_stack_file(path))
    return result, deps


def _kind(resource) -> str:
    return resource.inputs.get("type") or resource.inputs.get("service") or ""


@pytest.mark.parametrize("retrain", [True, False])
def test_every_grant_to_a_service_agent_waits_for_what_creates_the_agent(retrain, tmp_path, monkeypatch):
    def change(config):
        config["mlops:platform"]["monitor"]["retrain_on_drift"] = retrain

    path = STACK if retrain else write_stack(tmp_path, "gcp-noretrain", change)
    result, deps = _planned_with_dependencies(path, monkeypatch)
    by_name = {r.name: r for r in result.resources}
    grants = [r for r in result.resources if AGENT_RE.match(str(r.inputs.get("member", "")))]
    checked = 0
    for grant in grants:
        domain = AGENT_RE.match(grant.inputs["member"])["domain"]
        if domain in CREATED_BY_LOOKUP:
            continue
        assert domain in AGENT_CREATORS, f"{grant.name}: a grant to {domain}, whose creator this test does not know"
        creators = {
            name for name in deps[grant.name] if (by_name[name].type, _kind(by_name[name])) in AGENT_CREATORS[domain]
        }
        assert creators, f"{grant.name} grants {grant.inputs['role']} to the {domain} agent before it exists"
        checked += 1
    assert checked >= (4 if retrain else 2)


# --- every resource and invoke of a Google API waits for that API (audit finding 4) ---------------

# pulumi_gcp type-token module -> the API its calls go to (resources and invokes alike). Written
# here, not read from providers/gcp: a resource of a module missing from both tables fails the test.
API_OF_MODULE = {
    "vertex": "aiplatform.googleapis.com",
    "colab": "aiplatform.googleapis.com",  # colab.Schedule: projects.locations.schedules of Vertex AI
    "bigquery": "bigquery.googleapis.com",
    "kms": "cloudkms.googleapis.com",
    "storage": "storage.googleapis.com",
    "serviceaccount": "iam.googleapis.com",
    "pubsub": "pubsub.googleapis.com",
    "monitoring": "monitoring.googleapis.com",
    "logging": "logging.googleapis.com",
    "eventarc": "eventarc.googleapis.com",
    "workflows": "workflows.googleapis.com",
    "compute": "compute.googleapis.com",
    "artifactregistry": "artifactregistry.googleapis.com",
}
# Full type tokens whose API is not their module's (the projects module spans several APIs).
API_OF_TOKEN = {
    "gcp:projects/iAMCustomRole:IAMCustomRole": "iam.googleapis.com",
    # the kit's dynamic providers (DeployedModel, the approval check) call the Vertex AI API
    "pulumi-python:dynamic:Resource": "aiplatform.googleapis.com",
}
# Tokens outside the kit's API list: project IAM bindings and project look-ups go to Cloud Resource
# Manager, which Pulumi itself needs before it can do anything; Service is the API itself.
NO_LISTED_API = {
    "gcp:projects/iAMMember:IAMMember",
    "gcp:projects/service:Service",
    "gcp:organizations/getProject:getProject",
}
SERVICE = "gcp:projects/service:Service"


def _api_of(token: str, inputs: dict) -> str | None:
    if token == "gcp:projects/serviceIdentity:ServiceIdentity":
        return inputs["service"]  # generateServiceIdentity of a service that must be enabled first
    if token in API_OF_TOKEN:
        return API_OF_TOKEN[token]
    if token in NO_LISTED_API:
        return None
    module = token.split(":")[1].split("/")[0]
    assert module in API_OF_MODULE, f"{token}: which Google API does it call? add it to this test's tables"
    return API_OF_MODULE[module]


def _closure(name: str, deps: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in deps.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def _planned_with_invokes(path, monkeypatch):
    """The plan, each resource's dependencies, and each invoke's token with what it waits for."""
    import pulumi

    invokes: list[tuple[str, set[str]]] = []
    original = pulumi.runtime.invoke_output

    def record(tok, props, opts=None, typ=None, package_ref=None):
        waits = opts.depends_on if opts is not None and opts.depends_on is not None else []
        waits = waits if isinstance(waits, list | tuple) else [waits]
        invokes.append((tok, {r._name for r in waits}))
        return original(tok, props, opts=opts, typ=typ, package_ref=package_ref)

    monkeypatch.setattr(pulumi.runtime, "invoke_output", record)
    result, deps = _planned_with_dependencies(path, monkeypatch)
    return result, deps, invokes


@pytest.mark.parametrize("stack", ["gcp-dev", "every-option-private", "every-option-public"])
def test_everything_of_a_google_api_waits_for_that_api(stack, tmp_path, monkeypatch):
    """On a fresh project each API is enabled by a `projects.Service`: every resource of that API's
    service has it among its transitive dependencies, every invoke waits for it (at preview too)."""
    import yaml

    from tests.gcp.conftest import ROOT, STACKS

    if STACKS[stack] is None:
        path = ROOT / f"Pulumi.{stack}.yaml"
    else:
        path = tmp_path / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump({"config": STACKS[stack]}), encoding="utf-8")
    result, deps, invokes = _planned_with_invokes(path, monkeypatch)
    services = {r.inputs["service"]: r.name for r in result.resources if r.type == SERVICE}
    missing = []
    for resource in result.resources:
        if not resource.custom:
            continue
        api = _api_of(resource.type, resource.inputs)
        if api is None:
            continue
        assert api in services, f"{resource.name} ({resource.type}) needs {api}, which the kit does not enable"
        if services[api] not in _closure(resource.name, deps):
            missing.append(f"{resource.name} ({resource.type}) does not wait for {api}")
    for tok, waits in invokes:
        api = _api_of(tok, {})
        if api is not None and services.get(api) not in waits:
            missing.append(f"invoke {tok} does not wait for {api}")
    assert missing == [], "\n".join(missing)
    assert len(invokes) >= 4  # storage and BigQuery agents, Cloud Logging's CMEK settings, the image


def test_the_api_wait_check_sees_a_missing_dependency():
    """The check itself, on a hand-made graph."""
    deps = {"topic": {"key"}, "key": {"ring"}, "ring": {"api-kms", "api-pubsub"}, "channel": set()}
    assert "api-pubsub" in _closure("topic", deps)
    assert "api-monitoring" not in _closure("channel", deps)
    assert _api_of("gcp:monitoring/notificationChannel:NotificationChannel", {}) == "monitoring.googleapis.com"
    assert _api_of("gcp:projects/serviceIdentity:ServiceIdentity", {"service": "workflows.googleapis.com"}) == (
        "workflows.googleapis.com"
    )
    with pytest.raises(AssertionError, match="which Google API"):
        _api_of("gcp:dns/managedZone:ManagedZone", {})


def test_the_metadata_store_waits_for_vertex_ais_key_grant(monkeypatch):
    """Vertex AI's agent encrypts the store with the key: CreateMetadataStore only after that grant."""
    result, deps = _planned_with_dependencies(STACK, monkeypatch)
    (store,) = [r for r in result.resources if r.type == "pulumi-python:dynamic:Resource" and "kms_key" in r.inputs]
    grants = {
        r.name
        for r in result.resources
        if r.type == "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember" and "gcp-sa-aiplatform" in str(r.inputs["member"])
    }
    assert grants == {"churn-dev-foundation-key-vertex"}
    assert grants <= _closure(store.name, deps)


def test_the_approval_check_waits_for_the_approvers_grants(tmp_path, monkeypatch):
    """Upgrading (or a first deploy with a served version): the check fails until a record exists,
    and Pulumi then starts nothing new. It waits for every approver's grants, so a failed `up` never
    leaves the approvers without the rights to write that record."""

    def change(config):
        config["mlops:platform"]["registry"]["approvers"] = ["group:ml-reviewers@example.com", "user:ana@example.com"]

    result, deps = _planned_with_dependencies(write_stack(tmp_path, "gcp-approvers", change), monkeypatch)
    (check,) = [r.name for r in result.resources if r.name.startswith("churn-dev-model-registry-approval-v")]
    grants = {
        r.name
        for r in result.resources
        if r.name.startswith("churn-dev-model-registry-approver-") and not r.name.endswith("-role")
    }
    assert len(grants) == 4  # per approver: objectCreator on the bucket, the approver role on the project
    assert grants <= deps[check]
