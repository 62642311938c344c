"""Pulumi dynamic providers for the two Vertex AI objects pulumi-gcp cannot declare.

- `ModelVersionApproval`: the approval gate of Vertex Model Registry. A version is approved when it
  carries the version alias `approved` (and the label approval=approved). With `approval: auto`
  the resource sets them; with `approval: manual` it only checks them and fails the deployment
  with the command a person runs to approve (`python -m providers.gcp.dynamic approve ...`).
- `DeployedModel`: a registry version deployed to a `vertex.AiEndpoint` with replica bounds and a
  CPU autoscaling target (EndpointService.DeployModel / MutateDeployedModel / UndeployModel).

Both call the real google-cloud-aiplatform v1 clients over REST. `api_endpoint` is normally
`<region>-aiplatform.googleapis.com`; tests point it at a local fake server (an `http://` endpoint
is only ever a local fake, so it gets anonymous credentials).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

APPROVED_ALIAS = "approved"
APPROVAL_LABEL = "approval"
CPU_METRIC = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
OPERATION_TIMEOUT_S = 3600


def _client_kwargs(region: str, api_endpoint: str | None) -> dict[str, Any]:
    from google.api_core.client_options import ClientOptions

    endpoint = api_endpoint or f"{region}-aiplatform.googleapis.com"
    kwargs: dict[str, Any] = {"transport": "rest", "client_options": ClientOptions(api_endpoint=endpoint)}
    if endpoint.startswith("http://"):
        from google.auth.credentials import AnonymousCredentials

        kwargs["credentials"] = AnonymousCredentials()
    return kwargs


def model_service(region: str, api_endpoint: str | None = None):
    from google.cloud import aiplatform_v1

    return aiplatform_v1.ModelServiceClient(**_client_kwargs(region, api_endpoint))


def endpoint_service(region: str, api_endpoint: str | None = None):
    from google.cloud import aiplatform_v1

    return aiplatform_v1.EndpointServiceClient(**_client_kwargs(region, api_endpoint))


def model_name(project: str, region: str, model_id: str) -> str:
    return f"projects/{project}/locations/{region}/models/{model_id}"


# --- approval -----------------------------------------------------------------------------------


def is_approved(client: Any, name: str) -> bool:
    """The gate: the version's label approval=approved (labels are per version, aliases are not)."""
    return client.get_model(name=name).labels.get(APPROVAL_LABEL) == "approved"


def _label(client: Any, name: str, value: str) -> None:
    from google.cloud import aiplatform_v1
    from google.protobuf import field_mask_pb2

    labels = dict(client.get_model(name=name).labels) | {APPROVAL_LABEL: value}
    client.update_model(
        model=aiplatform_v1.Model(name=name, labels=labels),
        update_mask=field_mask_pb2.FieldMask(paths=["labels"]),
    )


def set_approval(client: Any, name: str, approved: bool) -> None:
    """Approve (or revoke) one version: label approval=approved|revoked, and the alias `approved`.

    An alias names one version of a model at a time, so approving moves `approved` to this version
    (it then marks the latest approval); the label keeps every approved version deployable.
    """
    from google.api_core import exceptions

    base = name.split("@", 1)[0]
    if approved:
        try:
            holder = client.get_model(name=f"{base}@{APPROVED_ALIAS}")
            if holder.version_id and f"{base}@{holder.version_id}" != name:
                client.merge_version_aliases(name=f"{base}@{holder.version_id}", version_aliases=[f"-{APPROVED_ALIAS}"])
        except exceptions.NotFound:
            pass
        client.merge_version_aliases(name=name, version_aliases=[APPROVED_ALIAS])
    elif APPROVED_ALIAS in client.get_model(name=name).version_aliases:
        client.merge_version_aliases(name=name, version_aliases=[f"-{APPROVED_ALIAS}"])
    _label(client, name, "approved" if approved else "revoked")


class ApprovalProvider(ResourceProvider):
    """inputs: project, region, model_id, version, mode ("manual" | "auto"), api_endpoint."""

    def _version_name(self, props: dict[str, Any]) -> str:
        return f"{model_name(props['project'], props['region'], props['model_id'])}@{props['version']}"

    def _ensure(self, props: dict[str, Any]) -> dict[str, Any]:
        from google.api_core import exceptions

        client = model_service(props["region"], props.get("api_endpoint"))
        name = self._version_name(props)
        try:
            approved = is_approved(client, name)
        except exceptions.NotFound:
            raise Exception(  # noqa: B904, TRY002 - the message Pulumi shows the operator
                f"model version {name} does not exist: the training pipeline registers versions when "
                "they pass the quality gate; set endpoint.model_version to a registered version"
            )
        if approved:
            return {**props, "version_name": name, "approved": True}
        if props["mode"] == "auto":
            set_approval(client, name, approved=True)
            return {**props, "version_name": name, "approved": True}
        raise Exception(  # noqa: TRY002 - the message Pulumi shows the operator
            f"model version {name} is not approved (registry.approval is manual). A reviewer approves "
            f"it with: python -m providers.gcp.dynamic approve --project {props['project']} "
            f"--region {props['region']} --model {props['model_id']} --version {props['version']}"
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._ensure(props)
        return CreateResult(id_=outs["version_name"], outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("project", "region", "model_id", "version", "mode")
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        replaces = [k for k in changed if k != "mode"]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._ensure(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # Only an approval Pulumi gave (auto) is Pulumi's to take back; a person's approval stays.
        if props.get("mode") == "auto":
            client = model_service(props["region"], props.get("api_endpoint"))
            set_approval(client, self._version_name(props), approved=False)


class ModelVersionApproval(pulumi.dynamic.Resource):
    version_name: pulumi.Output[str]
    approved: pulumi.Output[bool]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ApprovalProvider(), name, {"version_name": None, "approved": None, **props}, opts)


# --- deployed model -----------------------------------------------------------------------------

_SCALING_KEYS = ("min_replicas", "max_replicas", "cpu_target")
_IDENTITY_KEYS = (
    "project",
    "region",
    "endpoint",
    "model_id",
    "version",
    "machine_type",
    "accelerator_type",
    "accelerator_count",
    "service_account",
    "display_name",
)


def _dedicated_resources(props: dict[str, Any]):
    from google.cloud import aiplatform_v1 as v1

    machine = v1.MachineSpec(machine_type=props["machine_type"])
    if props.get("accelerator_type"):
        machine.accelerator_type = props["accelerator_type"]
        machine.accelerator_count = int(props.get("accelerator_count") or 1)
    return v1.DedicatedResources(
        machine_spec=machine,
        min_replica_count=int(props["min_replicas"]),
        max_replica_count=int(props["max_replicas"]),
        autoscaling_metric_specs=[v1.AutoscalingMetricSpec(metric_name=CPU_METRIC, target=int(props["cpu_target"]))],
    )


def _endpoint_name(props: dict[str, Any]) -> str:
    """The endpoint's full resource path, as the `vertex.AiEndpoint` resource reports it (its id).

    Taken from the endpoint resource's Output, not rebuilt from a fixed name, so a replaced endpoint
    changes this input and the model is deployed again to the new one.
    """
    return str(props["endpoint"])


class DeployedModelProvider(ResourceProvider):
    """inputs: project, region, endpoint (full resource path), model_id, version, machine_type, accelerator_type,
    accelerator_count, min_replicas, max_replicas, cpu_target, service_account, display_name,
    api_endpoint."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        from google.cloud import aiplatform_v1 as v1

        client = endpoint_service(props["region"], props.get("api_endpoint"))
        version = f"{model_name(props['project'], props['region'], props['model_id'])}@{props['version']}"
        deployed = v1.DeployedModel(
            model=version,
            display_name=props["display_name"],
            dedicated_resources=_dedicated_resources(props),
            service_account=props.get("service_account") or "",
        )
        # "0" is the model being deployed: it takes all traffic, the previous one (if any) none.
        operation = client.deploy_model(
            endpoint=_endpoint_name(props), deployed_model=deployed, traffic_split={"0": 100}
        )
        deployed_id = operation.result(timeout=OPERATION_TIMEOUT_S).deployed_model.id
        outs = {**props, "deployed_model_id": deployed_id, "model_version_name": version}
        return CreateResult(id_=f"{_endpoint_name(props)}/deployedModels/{deployed_id}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in _IDENTITY_KEYS if olds.get(k) != news.get(k)]
        scaling = [k for k in _SCALING_KEYS if olds.get(k) != news.get(k)]
        # A new version deploys next to the old one and takes the traffic before the old one goes.
        return DiffResult(changes=bool(replaces or scaling), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        from google.cloud import aiplatform_v1 as v1
        from google.protobuf import field_mask_pb2

        client = endpoint_service(news["region"], news.get("api_endpoint"))
        resources = _dedicated_resources(news)
        deployed = v1.DeployedModel(id=olds["deployed_model_id"], dedicated_resources=resources)
        mask = field_mask_pb2.FieldMask(
            paths=[
                "dedicated_resources.min_replica_count",
                "dedicated_resources.max_replica_count",
                "dedicated_resources.autoscaling_metric_specs",
            ]
        )
        client.mutate_deployed_model(endpoint=_endpoint_name(news), deployed_model=deployed, update_mask=mask).result(
            timeout=OPERATION_TIMEOUT_S
        )
        return UpdateResult(outs={**olds, **news, "deployed_model_id": olds["deployed_model_id"]})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        client = endpoint_service(props["region"], props.get("api_endpoint"))
        client.undeploy_model(endpoint=_endpoint_name(props), deployed_model_id=props["deployed_model_id"]).result(
            timeout=OPERATION_TIMEOUT_S
        )


class DeployedModel(pulumi.dynamic.Resource):
    deployed_model_id: pulumi.Output[str]
    model_version_name: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        outs = {"deployed_model_id": None, "model_version_name": None}
        super().__init__(DeployedModelProvider(), name, {**outs, **props}, opts)


# --- the documented approval command ------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m providers.gcp.dynamic",
        description="Approve (or revoke) a Vertex Model Registry version for deployment.",
    )
    parser.add_argument("action", choices=("approve", "revoke", "status"))
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--model", required=True, help="model id, e.g. churn-dev-churn")
    parser.add_argument("--version", required=True, type=int)
    parser.add_argument("--api-endpoint", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    client = model_service(args.region, args.api_endpoint)
    name = f"{model_name(args.project, args.region, args.model)}@{args.version}"
    if args.action != "status":
        set_approval(client, name, approved=args.action == "approve")
    print(f"{name}: {'approved' if is_approved(client, name) else 'not approved'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
