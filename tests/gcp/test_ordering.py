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
