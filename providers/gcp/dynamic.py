"""Pulumi dynamic providers for the two Vertex AI objects pulumi-gcp cannot declare.

- `ApprovedVersionCheck`: the approval gate of Vertex Model Registry, as a check. With
  `registry.approval: manual` a version is approved when its newest approval record in the
  platform's approvals bucket says so (written by a reviewer with their own identity:
  `python -m providers.gcp.dynamic approve ...` or `mlops model approve`, which also set the label
  approval=approved and move the alias `approved`); the label alone is not enough, because the
  pipeline identity, which uploads versions, could upload one already labelled. With `auto` the
  label the pipeline sets at registration is enough, unless a newer record revokes it. The check
  only reads: an unapproved, revoked or unknown version fails `pulumi up` before anything is
  deployed, and neither a deploy nor a destroy ever approves or revokes anything.
- `DeployedModel`: a registry version deployed to a `vertex.AiEndpoint` with replica bounds and a
  CPU autoscaling target (EndpointService.DeployModel / MutateDeployedModel / UndeployModel). Its
  DeployedModel id is derived from what identifies the deployment, so a create interrupted after
  Vertex accepted it finds and adopts that deployment instead of deploying (and billing) a second
  one; `read` reports what is live (`pulumi refresh`), `delete` of what is already gone succeeds.
  With `endpoint.rollout` canary or linear it is deployed with 0 % of the traffic and then takes
  it in steps (`roll_out`): each step bakes, the new deployed model's error rate and p99 latency
  are read from Cloud Monitoring, and a breach of `rollback_on` gives the previous split back,
  undeploys the new model and fails the update (`RolloutReverted`).

Both call the real google-cloud-aiplatform v1 clients over REST. `api_endpoint` is normally
`<region>-aiplatform.googleapis.com`; tests point it at a local fake server (an `http://` endpoint
is only ever a local fake, so it gets anonymous credentials).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import zlib
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

APPROVED_ALIAS = "approved"
APPROVAL_LABEL = "approval"
CPU_METRIC = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
OPERATION_TIMEOUT_S = 3600
POLL_S = 10.0


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
#
# Two things say whether a version may be deployed:
# - its label approval=approved|pending|revoked|rejected, which people see in the console and which
#   the register step sets at upload (approved in auto mode, pending in manual mode);
# - an approval RECORD: an object in the platform's approvals bucket, written by the approval command
#   (`python -m providers.gcp.dynamic approve|revoke`, `mlops model approve|reject`) with the
#   approver's own credentials. The pipeline identity (which uploads versions, and could upload one
#   already labelled approved: UploadModelRequest.model carries `labels` and `version_aliases`) and
#   the served model's identity hold no role on that bucket, so they cannot write a record.
# In manual mode a version is approved only when its newest record says "approved" (and is about this
# very version: same artifact uri and creation time) and its label agrees; the label alone is not an
# approval. In auto mode the pipeline approving at registration is the configured behaviour: the label
# suffices, unless a newer record revokes it.

RECORD_KIND = "mlops-approval"


def approvals_bucket(project: str, prefix: str) -> str:
    """The approvals bucket of platform `prefix` (GcpSettings.approvals_bucket; day two derives it
    from the stack outputs `platform` and the model's project). Never longer than the kit's main
    bucket `<project>-<prefix>-mlops`, so every valid stack has a valid one."""
    return f"{project}-{prefix}-gate"


def storage_client(project: str, storage_endpoint: str | None = None):
    import google.cloud.storage as storage

    if storage_endpoint:  # only ever a local fake (tests)
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(
            project=project, credentials=AnonymousCredentials(), client_options={"api_endpoint": storage_endpoint}
        )
    return storage.Client(project=project)


def _stamp(value: Any) -> str:
    return value.rfc3339() if value and hasattr(value, "rfc3339") else (str(value) if value else "")


def _whoami(client: Any) -> str:
    """Who the approving credentials say they are (informative: what authorises a record is the
    bucket's IAM; Cloud Storage's Data Access audit logs say who wrote it)."""
    credentials = getattr(client, "_credentials", None)
    for attribute in ("service_account_email", "account", "signer_email"):
        value = getattr(credentials, attribute, None)
        if isinstance(value, str) and value and value != "default":
            return value
    return "unknown (the credentials do not name their principal)"


class ApprovalsBucketMissing(RuntimeError):
    """The platform's approvals bucket does not exist (yet): one line naming it and what to do."""

    def __init__(self, bucket: str) -> None:
        super().__init__(
            f"the approvals bucket gs://{bucket} does not exist: it is the ModelRegistry's, created by `pulumi up` "
            "(run `pulumi up` once with this revision of the kit, then approve)"
        )


def _now() -> Any:
    """The approver's clock: only in the record's name and `at`, for people; never what orders records."""
    from datetime import UTC, datetime

    return datetime.now(UTC)


class ApprovalRecords:
    """The approval records of one platform: `gs://<bucket>/<model>/versions/<n>/<time>-<decision>.json`.

    Append-only: each decision is a new object, created with `ifGenerationMatch=0` (create, never
    overwrite), so an approver needs only `storage.objects.create` (roles/storage.objectCreator,
    which can neither overwrite nor delete).

    Which record is the newest is decided by what Cloud Storage assigns, never by the approver's
    clock in the name (objectCreator can create any name, and clocks drift): each object generation's
    `timeCreated` (then its `generation`), listed with `versions=True` so that a record deleted or
    overwritten by someone holding storage.objects.delete (project owners/editors, see docs/gcp.md)
    still counts as the noncurrent version the bucket's versioning keeps."""

    def __init__(self, bucket: str, project: str, storage_endpoint: str | None = None) -> None:
        self.bucket, self.project, self.storage_endpoint = bucket, project, storage_endpoint

    @property
    def client(self) -> Any:
        if not hasattr(self, "_client"):
            self._client = storage_client(self.project, self.storage_endpoint)
        return self._client

    @staticmethod
    def prefix(version_name: str) -> str:
        base, _, version = version_name.partition("@")
        return f"{base}/versions/{version}/"

    def write(self, version_name: str, decision: str, model: Any, reason: str = "") -> dict[str, Any]:
        from google.api_core import exceptions

        now = _now()
        base, _, version = version_name.partition("@")
        record = {
            "kind": RECORD_KIND,
            "model": base,
            "version": version,
            "decision": decision,
            "by": _whoami(self.client),
            "at": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "artifact_uri": model.artifact_uri,
            "version_create_time": _stamp(model.version_create_time),
            "reason": reason,
        }
        name = f"{self.prefix(version_name)}{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{decision}.json"
        try:
            self.client.bucket(self.bucket).blob(name).upload_from_string(
                json.dumps(record, sort_keys=True), content_type="application/json", if_generation_match=0
            )
        except exceptions.NotFound as error:
            raise ApprovalsBucketMissing(self.bucket) from error
        return {**record, "object": f"gs://{self.bucket}/{name}"}

    def latest(self, version_name: str) -> dict[str, Any] | None:
        """The version's newest record by the server's clock (every generation, deleted or not), or None.
        A newest record that is not a readable JSON object reads as decision "unreadable" (approves nothing)."""
        from google.api_core import exceptions

        try:
            blobs = [
                b
                for b in self.client.list_blobs(self.bucket, prefix=self.prefix(version_name), versions=True)
                if b.name.endswith(".json")
            ]
        except exceptions.NotFound as error:
            raise ApprovalsBucketMissing(self.bucket) from error
        if not blobs:
            return None
        newest = max(blobs, key=lambda b: (b.time_created, b.generation or 0))
        where = f"gs://{self.bucket}/{newest.name}#{newest.generation}"
        try:
            record = json.loads(newest.download_as_bytes())
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return {"decision": "unreadable", "object": where}
        return {**record, "object": where}


def approval_of(client: Any, name: str) -> str:
    """The version's approval label: "approved", "pending", "revoked" or "" (labels are per version)."""
    return str(client.get_model(name=name).labels.get(APPROVAL_LABEL, ""))


def approval_state(client: Any, records: ApprovalRecords, name: str, mode: str) -> tuple[bool, str]:
    """(approved, why) for version `name` (`<model>@<n>`) under `registry.approval` `mode`.
    GetModel's NotFound propagates (the version does not exist)."""
    model = client.get_model(name=name)
    label = str(model.labels.get(APPROVAL_LABEL, ""))
    record = records.latest(name)
    where = f"gs://{records.bucket}/{records.prefix(name)}"
    if record is not None and record.get("decision") != "approved":
        return False, f"its newest approval record ({record['object']}) says {record.get('decision')!r}"
    if label != "approved":
        return False, f"approval={label or 'none'}"
    if mode == "auto" and record is None:
        return True, "approved at registration (registry.approval: auto)"
    if record is None:
        return False, (
            f"it carries the label approval=approved but there is no approval record under {where}: with "
            "registry.approval manual the label alone is not an approval (whoever can upload a model can set it)"
        )
    live = {"artifact_uri": model.artifact_uri, "version_create_time": _stamp(model.version_create_time)}
    stale = [k for k, v in live.items() if str(record.get(k, "")) != v]
    if stale or record.get("kind") != RECORD_KIND:
        return False, (
            f"its approval record {record['object']} is about another upload ({', '.join(stale) or 'kind'} differ): "
            "approve this version again"
        )
    return True, f"approved by {record.get('by')} at {record.get('at')} ({record['object']})"


def _label(client: Any, name: str, value: str) -> None:
    from google.cloud import aiplatform_v1
    from google.protobuf import field_mask_pb2

    labels = dict(client.get_model(name=name).labels) | {APPROVAL_LABEL: value}
    client.update_model(
        model=aiplatform_v1.Model(name=name, labels=labels),
        update_mask=field_mask_pb2.FieldMask(paths=["labels"]),
    )


def set_approval(
    client: Any, name: str, approved: bool, records: ApprovalRecords | None = None, reason: str = ""
) -> dict[str, Any] | None:
    """A reviewer approves (or revokes) one version, with their own identity: first the approval
    record (what the deploy gate trusts in manual mode; a revocation takes effect with it), then the
    label approval=approved|revoked and the alias `approved`, for people to see. Only the approval
    commands call this; no Pulumi resource and no pipeline identity does.

    An alias names one version of a model at a time, so approving moves `approved` to this version
    (it then marks the latest approval); the label keeps every approved version deployable.
    Returns the record written (None without `records`).
    """
    from google.api_core import exceptions

    written = None
    if records is not None:
        written = records.write(name, "approved" if approved else "revoked", client.get_model(name=name), reason)
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
    return written


class ApprovalCheckProvider(ResourceProvider):
    """inputs: project, region, model_id, version, mode ("manual" | "auto"), approvals_bucket,
    api_endpoint, storage_endpoint.

    Reads the version's approval (its label and its newest approval record) and refuses an
    unapproved one; never writes to the registry or the bucket."""

    def _version_name(self, props: dict[str, Any]) -> str:
        return f"{model_name(props['project'], props['region'], props['model_id'])}@{props['version']}"

    def _records(self, props: dict[str, Any]) -> ApprovalRecords | None:
        bucket = props.get("approvals_bucket")
        return ApprovalRecords(bucket, props["project"], props.get("storage_endpoint")) if bucket else None

    def _state(self, props: dict[str, Any]) -> tuple[bool, str]:
        client = model_service(props["region"], props.get("api_endpoint"))
        name = self._version_name(props)
        records = self._records(props)
        if records is None:  # a check declared before the approvals bucket existed: the label's rule
            state = approval_of(client, name)
            return state == "approved", f"approval={state or 'none'}"
        return approval_state(client, records, name, props["mode"])

    def _check(self, props: dict[str, Any]) -> dict[str, Any]:
        from google.api_core import exceptions

        name = self._version_name(props)
        try:
            approved, why = self._state(props)
        except exceptions.NotFound:
            raise Exception(  # noqa: B904, TRY002 - the message Pulumi shows the operator
                f"model version {name} does not exist: the training pipeline registers versions when "
                "they pass the quality gate; set endpoint.model_version to a registered version"
            )
        if approved:
            return {**props, "version_name": name, "approved": True}
        how = (
            "registry.approval is auto: the pipeline approves a version when it registers it, and this one was "
            "registered or since marked otherwise"
            if props["mode"] == "auto"
            else "registry.approval is manual: a person approves each version"
        )
        raise Exception(  # noqa: TRY002 - the message Pulumi shows the operator
            f"model version {name} is not approved ({why}; {how}). Deploying never approves: a "
            f"reviewer approves it with: python -m providers.gcp.dynamic approve --project {props['project']} "
            f"--region {props['region']} --model {props['model_id']} --version {props['version']}"
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._check(props)
        return CreateResult(id_=outs["version_name"], outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("project", "region", "model_id", "version", "mode", "approvals_bucket")
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        replaces = [k for k in changed if k not in ("mode", "approvals_bucket")]
        # A refresh that found the version unapproved (revoked) makes the next `up` check again, and fail.
        stale = olds.get("approved") is not True
        return DiffResult(changes=bool(changed) or stale, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._check(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """`pulumi refresh`: the version's approval as it is now (revoked, or in manual mode without
        an approval record, reads False)."""
        from google.api_core import exceptions

        try:
            approved, _why = self._state(props)
        except exceptions.NotFound:
            return ReadResult("", {})  # the version is gone
        return ReadResult(id_, {**props, "approved": approved})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """A check leaves nothing behind: the version keeps whatever approval it has."""


class ApprovedVersionCheck(pulumi.dynamic.Resource):
    version_name: pulumi.Output[str]
    approved: pulumi.Output[bool]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ApprovalCheckProvider(), name, {"version_name": None, "approved": None, **props}, opts)


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
    "display_name",
)


def deployed_model_id(props: dict[str, Any]) -> str:
    """The DeployedModel id, derived from everything that identifies the deployment (a change to
    any of them replaces it, so old and new never share an id): 10 digits, no leading zero
    (proto DeployedModel.id: "1-10 characters, and valid characters are /[0-9]/")."""
    key = "|".join(str(props.get(k, "")) for k in _IDENTITY_KEYS)
    return str(zlib.crc32(f"mlops-deployed-model|{key}".encode()) % 9_000_000_000 + 1_000_000_000)


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


def _live(client: Any, endpoint: str, deployed_id: str) -> tuple[Any, Any] | None:
    """(endpoint, its deployed model with that id), or None when either is gone."""
    from google.api_core import exceptions

    try:
        found = client.get_endpoint(name=endpoint)
    except exceptions.NotFound:
        return None
    model = next((d for d in found.deployed_models if d.id == deployed_id), None)
    return (found, model) if model is not None else None


def _scaling(deployed: Any) -> dict[str, Any]:
    resources = deployed.dedicated_resources
    cpu = next((m.target for m in resources.autoscaling_metric_specs if m.metric_name == CPU_METRIC), 0)
    machine = resources.machine_spec
    return {
        "min_replicas": resources.min_replica_count,
        "max_replicas": resources.max_replica_count,
        "cpu_target": cpu,
        "machine_type": machine.machine_type,
        "accelerator_type": machine.accelerator_type.name if machine.accelerator_count else "",
        "accelerator_count": machine.accelerator_count,
    }


# --- safe rollout: the traffic split shifts in steps, watching the new deployed model -------------

MONITORING_URL = "https://monitoring.googleapis.com"
"""Cloud Monitoring API v3, `projects.timeSeries.list` (GET /v3/projects/{project}/timeSeries)."""
# Vertex AI's built-in metrics of the monitored resource `aiplatform.googleapis.com/Endpoint`, each
# labelled by `deployed_model_id` (Google Cloud metrics, "aiplatform" section; docs/gcp.md cites them).
PREDICTION_METRIC = "aiplatform.googleapis.com/prediction/online/prediction_count"
ERROR_METRIC = "aiplatform.googleapis.com/prediction/online/error_count"
LATENCY_METRIC = "aiplatform.googleapis.com/prediction/online/prediction_latencies"


class RolloutReverted(Exception):  # noqa: N818 - what `pulumi up` shows
    """A canary or linear step breached `rollback_on`: the previous split is back."""


def steps(rollout: dict[str, Any]) -> list[int]:
    """The new deployed model's share at each step, ending at 100."""
    strategy = rollout.get("strategy", "all_at_once")
    if strategy == "canary":
        return [int(rollout["canary_percent"]), 100]
    if strategy == "linear":
        step = int(rollout["step_percent"])
        return [*range(step, 100, step), 100]
    return [100]


def breach(health: dict[str, float | None], rollback: dict[str, Any]) -> str | None:
    """Why the step is rolled back, or None. A bake without a prediction judges nothing (and passes)."""
    rate, limit = health.get("error_rate"), rollback.get("error_rate")
    if limit is not None and rate is not None and rate > float(limit):
        return f"error rate {rate:.3f} > {float(limit)}"
    latency, cap = health.get("p99_latency_ms"), rollback.get("p99_latency_ms")
    if cap is not None and latency is not None and latency > float(cap):
        return f"p99 latency {latency:.0f} ms > {int(cap)} ms"
    return None


def _session(monitoring_url: str) -> Any:
    """An authorised HTTP session for Cloud Monitoring (a local `http://` fake gets none)."""
    import requests

    if monitoring_url.startswith("http://"):
        return requests.Session()
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/monitoring.read"])
    return AuthorizedSession(credentials)


def _point_values(body: dict[str, Any]) -> list[float]:
    values = []
    for series in body.get("timeSeries") or []:
        for point in series.get("points") or []:
            value = point.get("value") or {}
            if "int64Value" in value:
                values.append(float(value["int64Value"]))
            elif "doubleValue" in value:
                values.append(float(value["doubleValue"]))
    return values


def deployed_model_health(
    project: str,
    endpoint: str,
    deployed_id: str,
    start: Any,
    end: Any,
    monitoring_url: str = MONITORING_URL,
) -> dict[str, float | None]:
    """The deployed model over [start, end]: predictions, errors, error rate, p99 latency (ms).

    Counts: each DELTA series summed over the whole bake (ALIGN_SUM, one alignment period) and
    across series (REDUCE_SUM). Latency: the distribution's 99th percentile over the bake
    (ALIGN_PERCENTILE_99), the largest of the model's series."""
    endpoint_id = endpoint.rsplit("/", 1)[-1]
    seconds = max(60, int((end - start).total_seconds()))
    session = _session(monitoring_url)
    url = f"{monitoring_url.rstrip('/')}/v3/projects/{project}/timeSeries"

    def series(metric: str, aligner: str, reducer: str) -> list[float]:
        query = {
            "filter": (
                f'metric.type="{metric}" AND resource.type="aiplatform.googleapis.com/Endpoint" AND '
                f'resource.labels.endpoint_id="{endpoint_id}" AND metric.labels.deployed_model_id="{deployed_id}"'
            ),
            "interval.startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "interval.endTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aggregation.alignmentPeriod": f"{seconds}s",
            "aggregation.perSeriesAligner": aligner,
            "aggregation.crossSeriesReducer": reducer,
            "view": "FULL",
        }
        answer = session.get(url, params=query, timeout=120)
        if answer.status_code != 200:
            raise Exception(  # noqa: TRY002 - the message Pulumi shows the operator
                f"reading {metric} of deployed model {deployed_id} from Cloud Monitoring: "
                f"HTTP {answer.status_code} {answer.text[:300]}"
            )
        return _point_values(answer.json())

    predictions = sum(series(PREDICTION_METRIC, "ALIGN_SUM", "REDUCE_SUM"))
    errors = sum(series(ERROR_METRIC, "ALIGN_SUM", "REDUCE_SUM"))
    latencies = series(LATENCY_METRIC, "ALIGN_PERCENTILE_99", "REDUCE_NONE")
    return {
        "predictions": predictions,
        "errors": errors,
        "error_rate": errors / predictions if predictions else None,
        "p99_latency_ms": max(latencies) if latencies else None,
    }


def traffic_split(client: Any, endpoint: str) -> dict[str, int]:
    """The endpoint's live split, deployed models without a share left out ({} for no endpoint)."""
    from google.api_core import exceptions

    try:
        found = client.get_endpoint(name=endpoint)
    except exceptions.NotFound:
        return {}
    return {k: int(v) for k, v in found.traffic_split.items() if int(v) > 0}


def set_split(client: Any, endpoint: str, split: dict[str, int]) -> None:
    """UpdateEndpoint with only `traffic_split` in the mask: the split is replaced as a whole."""
    from google.cloud import aiplatform_v1 as v1
    from google.protobuf import field_mask_pb2

    client.update_endpoint(
        endpoint=v1.Endpoint(name=endpoint, traffic_split={k: int(v) for k, v in split.items()}),
        update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]),
    )


def roll_out(
    client: Any,
    endpoint: str,
    new: str,
    rollout: dict[str, Any] | None,
    before: dict[str, int],
    health: Any,
    sleep: Any = None,
    now: Any = None,
) -> dict[str, int]:
    """Move the endpoint's traffic to the deployed model `new` by `rollout`'s steps. `before` is the
    split before the rollout (without `new`); each step but the last bakes `bake_minutes`, then
    `health(new, start, end)` is held against `rollback_on`; a breach puts `before` back and raises."""
    wait = sleep or time.sleep  # looked up at call time (a test may replace time.sleep)
    clock = now or _now
    rollout = rollout or {}
    plan = steps(rollout)
    old = max(sorted(before), key=lambda k: before[k]) if before else None
    if old is None or plan == [100]:
        set_split(client, endpoint, {new: 100})
        return {new: 100}
    previous = before if sum(before.values()) == 100 else {old: 100}
    bake = int(rollout["bake_minutes"])
    for share in plan[:-1]:
        set_split(client, endpoint, {old: 100 - share, new: share})
        start = clock()
        wait(60 * bake)
        end = clock()
        try:
            found = health(new, start, end)
        except Exception as error:
            # Unread health is no verdict to go on with: the traffic goes back as on a breach.
            set_split(client, endpoint, previous)
            raise RolloutReverted(
                f"rollout of deployed model {new} reverted at {share}%: its health over the bake could not be "
                f"read ({str(error).splitlines()[0]}); the previous traffic split {dict(sorted(previous.items()))} "
                f"is back and {new} is undeployed"
            ) from error
        why = breach(found, rollout.get("rollback_on") or {})
        if why:
            set_split(client, endpoint, previous)
            raise RolloutReverted(
                f"rollout of deployed model {new} reverted at {share}%: {why} over {bake} min "
                f"({int(found.get('predictions') or 0)} predictions); the previous traffic split "
                f"{dict(sorted(previous.items()))} is back and {new} is undeployed"
            )
    set_split(client, endpoint, {new: 100})
    return {new: 100}


class DeployedModelProvider(ResourceProvider):
    """inputs: project, region, endpoint (full resource path), model_id, version, machine_type, accelerator_type,
    accelerator_count, min_replicas, max_replicas, cpu_target, display_name, api_endpoint, rollout
    (endpoint.rollout: strategy, canary_percent, step_percent, bake_minutes, rollback_on), monitoring_url.

    No service account: the serving container then runs as Vertex AI's own identity, which "doesn't
    have access to the resource project" (proto DeployedModel.service_account) and can read the
    model artifacts Vertex hands it (AIP_STORAGE_URI) and nothing else."""

    def _outs(self, props: dict[str, Any], endpoint: Any, deployed_id: str) -> dict[str, Any]:
        version = f"{model_name(props['project'], props['region'], props['model_id'])}@{props['version']}"
        attachment = endpoint.private_service_connect_config.service_attachment if endpoint else ""
        return {
            **props,
            "deployed_model_id": deployed_id,
            "model_version_name": version,
            "service_attachment": attachment,
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        from google.api_core import exceptions
        from google.cloud import aiplatform_v1 as v1

        client = endpoint_service(props["region"], props.get("api_endpoint"))
        endpoint = _endpoint_name(props)
        deployed_id = deployed_model_id(props)
        live = _live(client, endpoint, deployed_id)
        stepped = steps(props.get("rollout") or {}) != [100]
        before = {k: v for k, v in traffic_split(client, endpoint).items() if k != deployed_id} if stepped else {}
        if live is None:
            version = f"{model_name(props['project'], props['region'], props['model_id'])}@{props['version']}"
            deployed = v1.DeployedModel(
                id=deployed_id,
                model=version,
                display_name=props["display_name"],
                dedicated_resources=_dedicated_resources(props),
            )
            # "0" is the model being deployed: all at once, it takes all traffic and the previous one
            # none; in a canary or linear rollout it starts with none and the previous split stays.
            split = {"0": 0, **before} if before else {"0": 100}
            try:
                operation = client.deploy_model(endpoint=endpoint, deployed_model=deployed, traffic_split=split)
                operation.result(timeout=OPERATION_TIMEOUT_S)
            except exceptions.Conflict:  # ALREADY_EXISTS (HTTP 409 over REST)
                pass  # an interrupted create's deployment with this id is still under way: wait for it below
            live = self._wait(client, endpoint, deployed_id)
        elif {k: _scaling(live[1])[k] for k in _SCALING_KEYS} != self._wanted(props):
            # adopting what an interrupted create deployed: bring its scaling to what is asked
            self._mutate(client, endpoint, deployed_id, props)
        if before:
            self._roll_out(client, endpoint, deployed_id, props, before)
        outs = self._outs(props, live[0], deployed_id)
        return CreateResult(id_=f"{endpoint}/deployedModels/{deployed_id}", outs=outs)

    def _roll_out(
        self, client: Any, endpoint: str, deployed_id: str, props: dict[str, Any], before: dict[str, int]
    ) -> None:
        """The new model (at 0 %) takes the traffic by `endpoint.rollout`; on a breach the previous
        split is back (inside `roll_out`) and the new model is undeployed, so the failed update leaves
        the endpoint as it found it and nothing outside Pulumi's state."""
        monitoring_url = props.get("monitoring_url") or MONITORING_URL

        def health(new: str, start: Any, end: Any) -> dict[str, float | None]:
            return deployed_model_health(props["project"], endpoint, new, start, end, monitoring_url)

        try:
            roll_out(client, endpoint, deployed_id, props.get("rollout"), before, health)
        except RolloutReverted:
            client.undeploy_model(endpoint=endpoint, deployed_model_id=deployed_id).result(timeout=OPERATION_TIMEOUT_S)
            raise

    @staticmethod
    def _wanted(props: dict[str, Any]) -> dict[str, Any]:
        return {k: int(props[k]) for k in _SCALING_KEYS}

    def _wait(self, client: Any, endpoint: str, deployed_id: str) -> tuple[Any, Any]:
        deadline = time.monotonic() + OPERATION_TIMEOUT_S
        while True:
            live = _live(client, endpoint, deployed_id)
            if live is not None:
                return live
            if time.monotonic() > deadline:
                raise TimeoutError(f"deployed model {deployed_id} did not appear on {endpoint}")
            time.sleep(POLL_S)

    def _mutate(self, client: Any, endpoint: str, deployed_id: str, props: dict[str, Any]) -> None:
        from google.cloud import aiplatform_v1 as v1
        from google.protobuf import field_mask_pb2

        deployed = v1.DeployedModel(id=deployed_id, dedicated_resources=_dedicated_resources(props))
        mask = field_mask_pb2.FieldMask(
            paths=[
                "dedicated_resources.min_replica_count",
                "dedicated_resources.max_replica_count",
                "dedicated_resources.autoscaling_metric_specs",
            ]
        )
        client.mutate_deployed_model(endpoint=endpoint, deployed_model=deployed, update_mask=mask).result(
            timeout=OPERATION_TIMEOUT_S
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in _IDENTITY_KEYS if olds.get(k) != news.get(k)]
        scaling = [k for k in _SCALING_KEYS if olds.get(k) != news.get(k)]
        # A new version deploys next to the old one and takes the traffic before the old one goes.
        return DiffResult(changes=bool(replaces or scaling), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = endpoint_service(news["region"], news.get("api_endpoint"))
        self._mutate(client, _endpoint_name(news), olds["deployed_model_id"], news)
        return UpdateResult(outs={**olds, **news, "deployed_model_id": olds["deployed_model_id"]})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """`pulumi refresh`: the deployment as it is live (an undeployed model reads as gone)."""
        client = endpoint_service(props["region"], props.get("api_endpoint"))
        live = _live(client, _endpoint_name(props), str(props.get("deployed_model_id", "")))
        if live is None:
            return ReadResult("", {})
        endpoint, deployed = live
        version = deployed.model_version_id or str(props.get("version", ""))
        outs = {**props, **_scaling(deployed), "version": version}
        outs["service_attachment"] = endpoint.private_service_connect_config.service_attachment
        return ReadResult(id_, outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Undeploy; a deployment (or endpoint) already gone is deleted already."""
        from google.api_core import exceptions

        client = endpoint_service(props["region"], props.get("api_endpoint"))
        endpoint, deployed_id = _endpoint_name(props), str(props["deployed_model_id"])
        if _live(client, endpoint, deployed_id) is None:
            return
        try:
            client.undeploy_model(endpoint=endpoint, deployed_model_id=deployed_id).result(timeout=OPERATION_TIMEOUT_S)
        except exceptions.NotFound:
            return


class DeployedModel(pulumi.dynamic.Resource):
    deployed_model_id: pulumi.Output[str]
    model_version_name: pulumi.Output[str]
    service_attachment: pulumi.Output[str]
    """The endpoint's Private Service Connect service attachment ("" for a public endpoint): Vertex
    creates it with the first deployment, so it is known only after this resource."""

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        outs = {"deployed_model_id": None, "model_version_name": None, "service_attachment": None}
        super().__init__(DeployedModelProvider(), name, {**outs, **props}, opts)


# --- Vertex ML Metadata store -------------------------------------------------------------------

METADATA_STORE_ID = "default"
"""The store every Vertex AI Pipelines task records its artifacts and executions in (one per project
and region; a PipelineJob cannot name another)."""


def metadata_service(region: str, api_endpoint: str | None = None):
    from google.cloud import aiplatform_v1

    return aiplatform_v1.MetadataServiceClient(**_client_kwargs(region, api_endpoint))


class MetadataStoreProvider(ResourceProvider):
    """inputs: project, region, kms_key, api_endpoint.

    Creates the region's `default` ML Metadata store under the platform's key when it does not exist
    yet (proto `MetadataStore.encryption_spec`: "If set, this Metadata Store and all sub-resources of
    this Metadata Store are secured using this key"). A store that exists (a pipeline ran in the region
    before, or another stack of the project created it) is adopted as it is: the v1 API has no
    UpdateMetadataStore, so its key cannot change; the outputs `kms_key_name` / `under_platform_key`
    say which key holds it. Never deleted: every stack and pipeline of the project and region share it."""

    def _name(self, props: dict[str, Any]) -> str:
        return f"projects/{props['project']}/locations/{props['region']}/metadataStores/{METADATA_STORE_ID}"

    def _state(self, client: Any, props: dict[str, Any]) -> dict[str, Any] | None:
        from google.api_core import exceptions

        try:
            store = client.get_metadata_store(name=self._name(props))
        except exceptions.NotFound:
            return None
        key = store.encryption_spec.kms_key_name
        return {
            **props,
            "store_name": self._name(props),
            "kms_key_name": key,
            "under_platform_key": key == props["kms_key"],
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        from google.api_core import exceptions
        from google.cloud import aiplatform_v1

        client = metadata_service(props["region"], props.get("api_endpoint"))
        state = self._state(client, props)
        if state is None:
            store = aiplatform_v1.MetadataStore(
                description="Vertex AI Pipelines lineage, under the mlops platform's key",
                encryption_spec=aiplatform_v1.EncryptionSpec(kms_key_name=props["kms_key"]),
            )
            with contextlib.suppress(exceptions.AlreadyExists):  # a pipeline run created it meanwhile: adopt it
                client.create_metadata_store(
                    parent=self._name(props).rsplit("/metadataStores/", 1)[0],
                    metadata_store=store,
                    metadata_store_id=METADATA_STORE_ID,
                ).result(timeout=OPERATION_TIMEOUT_S)
            state = self._state(client, props)
        if state is None:
            raise Exception(f"{self._name(props)} was created but cannot be read back")  # noqa: TRY002
        return CreateResult(id_=state["store_name"], outs=state)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("project", "region", "kms_key") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[k for k in changed if k != "kms_key"])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        state = self._state(metadata_service(news["region"], news.get("api_endpoint")), news)
        return UpdateResult(outs=state or news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        state = self._state(metadata_service(props["region"], props.get("api_endpoint")), props)
        return ReadResult(id_, state) if state is not None else ReadResult("", {})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Left in place: shared by every pipeline of the project and region (and its lineage)."""


class MetadataStore(pulumi.dynamic.Resource):
    store_name: pulumi.Output[str]
    kms_key_name: pulumi.Output[str]
    under_platform_key: pulumi.Output[bool]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        outs = {"store_name": None, "kms_key_name": None, "under_platform_key": None}
        super().__init__(MetadataStoreProvider(), name, {**outs, **props}, opts)


# --- the documented approval command ------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m providers.gcp.dynamic",
        description="Approve (or revoke) a Vertex Model Registry version for deployment: writes an approval "
        "record to the platform's approvals bucket, then sets the version's label and alias.",
    )
    parser.add_argument("action", choices=("approve", "revoke", "status"))
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--platform", required=True, help="the stack output `platform`, e.g. churn-dev")
    parser.add_argument("--model", required=True, help="model id, e.g. churn-dev-churn")
    parser.add_argument("--version", required=True, type=int)
    parser.add_argument("--mode", choices=("manual", "auto"), default="manual", help="registry.approval (status)")
    parser.add_argument("--reason", default="", help="kept in the record")
    parser.add_argument("--api-endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--storage-endpoint", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    client = model_service(args.region, args.api_endpoint)
    records = ApprovalRecords(approvals_bucket(args.project, args.platform), args.project, args.storage_endpoint)
    name = f"{model_name(args.project, args.region, args.model)}@{args.version}"
    try:
        if args.action == "status":  # reads the bucket: storage.objects.list/get, which approvers do not hold
            approved, why = approval_state(client, records, name, args.mode)
            print(f"{name}: {'approved' if approved else 'not approved'} ({why})")
            return 0
        # An approver holds storage.objects.create only: print the record written, never read it back.
        written = set_approval(client, name, approved=args.action == "approve", records=records, reason=args.reason)
    except ApprovalsBucketMissing as missing:
        print(f"{parser.prog}: {missing}", file=sys.stderr)
        return 2
    assert written is not None
    print(f"{name}: {written['decision']} by {written['by']} at {written['at']}, recorded in {written['object']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
