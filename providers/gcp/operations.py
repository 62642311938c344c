"""Day-two operations on a GCP stack, with google-cloud-aiplatform (v1 clients, REST) and
google-cloud-logging only.

What the stack outputs hold (`providers/base.py`) and how each command reads them:

- `model_registry`: `projects/<p>/locations/<r>/models/<id>`. A version is `<model>@<n>`
  (ModelService.ListModelVersions); its status is the label `approval` the register step sets
  (`pending` | `approved`; `rejected` set here); the gate metric is the `version_description` the
  register step writes (`roc_auc=0.8123`). Approving and rejecting first write an approval record to
  the platform's approvals bucket (`<project>-<platform>-gate`, providers/gcp/dynamic.py), which is
  what the deploy-time gate trusts with `registry.approval: manual`; a promotion from a manual
  registry requires that record too.
- `endpoint`: `projects/<p>/locations/<r>/endpoints/<id>`; served versions are its deployed models
  (`model` + `model_version_id`) and their share is the endpoint's `traffic_split`.
- `training_schedule`: the Vertex AI schedule whose `create_pipeline_job_request` is what a run is
  created from (the compiled spec and its deploy-time parameters); a person's run is the same
  request with the label `trigger=manual`. Runs are the pipeline jobs of the training pipeline's
  display name (the folder of `training_pipeline`), their label `trigger` says who started them.
- drift: the kit drift job's run entry (`logs/mlops-drift`, `jsonPayload.kind="check"`, its `features`).

Promotion to another stack's model: ModelService.CopyModel into the target's location, as a new
version of the target model (or a new model with the target's id), encrypted with the target's
key; then the copy's labels say its approval (the target's `registry.approval`) and provenance.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from providers.operations import (
    UNKNOWN,
    AlertState,
    DriftReport,
    FeatureDrift,
    ModelVersion,
    NotApproved,
    OperationError,
    Operations,
    Prediction,
    Promotion,
    Run,
    UnknownVersion,
    Unsupported,
    iso,
    stack_slug,
    traffic_shares,
)

API_ENDPOINT: str | None = None
"""Vertex AI API endpoint override (None: `<region>-aiplatform.googleapis.com`); tests set a fake."""
LOGGING_ENDPOINT: str | None = None
"""Cloud Logging API endpoint override (None: the default); tests set a fake."""
STORAGE_ENDPOINT: str | None = None
"""Cloud Storage API endpoint override (None: the default); tests set a fake."""
OPERATION_TIMEOUT_S = 1800
APPROVAL_LABEL = "approval"
PROMOTED_LABEL = "promoted-from"
STATUS = {"approved": "approved", "pending": "pending", "rejected": "rejected", "revoked": "rejected"}
RUN_STATE = {
    "PIPELINE_STATE_QUEUED": "running",
    "PIPELINE_STATE_PENDING": "running",
    "PIPELINE_STATE_RUNNING": "running",
    "PIPELINE_STATE_CANCELLING": "running",
    "PIPELINE_STATE_PAUSED": "running",
    "PIPELINE_STATE_SUCCEEDED": "succeeded",
    "PIPELINE_STATE_FAILED": "failed",
    "PIPELINE_STATE_CANCELLED": "stopped",
}
TRIGGERS = {"manual": "person", "schedule": "schedule", "drift": "drift"}
PERSON = "manual"
DRIFT_LOG = "mlops-drift"
_METRIC_RE = re.compile(r"\b([a-z][a-z0-9_]*)=(-?[0-9]+(?:\.[0-9]+)?)")
_RESOURCE_RE = re.compile(r"^projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/")


def _where(resource: str, what: str) -> tuple[str, str]:
    match = _RESOURCE_RE.match(str(resource))
    if match is None:
        raise OperationError(f"{what} {resource!r} is not a projects/<p>/locations/<r>/... resource name")
    return match["project"], match["region"]


def _joined(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def same_model(a: str, b: str) -> bool:
    """Two model names are one model whether they name the project by id or by number (Vertex AI
    answers with the project number where the outputs hold the project id)."""
    return a.split("/locations/", 1)[-1] == b.split("/locations/", 1)[-1]


def client_kwargs(region: str) -> dict[str, Any]:
    from providers.gcp.dynamic import _client_kwargs

    return _client_kwargs(region, API_ENDPOINT)


def drift_log_view(project: str, region: str, platform: str) -> str:
    """Where the drift entries are read: the `_AllLogs` view of the platform's CMEK log bucket
    (foundation `_log_bucket`, `GcpSettings.log_bucket_id`). The sink routes them there and the
    exclusion keeps them out of `_Default`, so `projects/<p>` would not find them: a user-defined
    bucket is read through one of its views (logging_v2 `ListLogEntriesRequest.resource_names`:
    "projects/[PROJECT_ID]/locations/[LOCATION_ID]/buckets/[BUCKET_ID]/views/[VIEW_ID]")."""
    return f"projects/{project}/locations/{region}/buckets/{platform}-mlops-logs/views/_AllLogs"


def read_drift_result(logging_client: Any, project: str, platform: str, view: str) -> dict[str, Any] | None:
    """The latest drift result: the run entry (`jsonPayload.kind="check"`) the kit's drift job
    publishes in `logs/mlops-drift` (providers/gcp/step_io.py `drift_entries`), read from `view`
    (`drift_log_view`): its status (ok | skipped), threshold, `features` ({request column: value}),
    request counts and window."""
    from google.cloud import logging as cloud_logging

    log_filter = (
        f'logName="projects/{project}/logs/{DRIFT_LOG}" AND jsonPayload.mlops_platform="{platform}" '
        'AND jsonPayload.kind="check"'
    )
    for entry in logging_client.list_entries(
        resource_names=[view], filter_=log_filter, order_by=cloud_logging.DESCENDING, max_results=1
    ):
        payload = dict(entry.payload or {})
        payload["_timestamp"] = iso(entry.timestamp)
        return payload
    return None


class GcpOperations(Operations):
    cloud = "gcp"

    @cached_property
    def model(self) -> str:
        name = self.registry_id
        _where(name, "model_registry")
        return name

    @property
    def project(self) -> str:
        return _where(self.model, "model_registry")[0]

    @property
    def region(self) -> str:
        return _where(self.model, "model_registry")[1]

    @property
    def location(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    def _client(self, kind: str) -> Any:
        from google.cloud import aiplatform_v1 as v1

        cache = self.__dict__.setdefault("_clients", {})
        if kind not in cache:
            cls = {
                "model": v1.ModelServiceClient,
                "endpoint": v1.EndpointServiceClient,
                "pipeline": v1.PipelineServiceClient,
                "schedule": v1.ScheduleServiceClient,
                "prediction": v1.PredictionServiceClient,
            }[kind]
            cache[kind] = cls(**client_kwargs(self.region))
        return cache[kind]

    # -- the registry
    def versions(self) -> list[ModelVersion]:
        """Every version as its label says (`mlops model list`); `version(n)` gives the gate's verdict."""
        return self._listed(self._served())

    def _listed(self, served: dict[int, int]) -> list[ModelVersion]:
        from google.api_core import exceptions

        try:
            models = list(self._client("model").list_model_versions(name=self.model))
        except exceptions.NotFound:
            return []  # the first run that passes the gate creates the model
        found = [self._version(m, served) for m in models]
        return sorted(found, key=lambda v: v.version, reverse=True)

    def _labelled(self, number: int) -> ModelVersion:
        """Version `number` as its label says. Its traffic is unknown (None, said in the note) when
        the caller may not read the endpoint: an approver holds no aiplatform.endpoints.get, and
        approving needs no traffic."""
        from google.api_core import exceptions

        unknown = ""
        try:
            served = self._served()
        except exceptions.Forbidden:
            served = {}
            unknown = "traffic unknown (these credentials cannot read the endpoint: aiplatform.endpoints.get)"
        every = self._listed(served)
        for found in every:
            if found.version == number:
                return replace(found, note=_joined(found.note, unknown)) if unknown else found
        numbers = sorted(v.version for v in every)
        known = f"versions: {', '.join(map(str, numbers))}" if numbers else "no version registered yet"
        raise UnknownVersion(f"stack {self.stack}: no version {number} in {self.registry_id} ({known})")

    def version(self, number: int) -> ModelVersion:
        """Version `number`, its status as the deploy-time gate sees it: a version labelled approved
        that the gate does not approve (manual registry and no approval record for this very upload,
        or a newer revocation) is `pending`, with the gate's reason in the note; when the records
        cannot be read with these credentials (an approver holds roles/storage.objectCreator, which
        cannot list), its status is `unknown`. So `mlops model approve` writes a record whenever the
        gate does not already approve this upload, and skips only when it does."""
        from google.api_core import exceptions

        from providers.gcp.dynamic import approval_state

        found = self._labelled(number)
        if found.status != "approved":
            return found
        try:
            approved, why = approval_state(self._client("model"), self.records, found.id, self.approval)
        except exceptions.Forbidden:
            return replace(
                found,
                status=UNKNOWN,
                note=_joined(
                    found.note,
                    f"labelled approved; whether an approval record approves it is unknown: these credentials "
                    f"cannot list gs://{self.records.bucket}",
                ),
            )
        if approved:
            return found
        return replace(found, status="pending", note=_joined(found.note, f"labelled approved, not by the gate: {why}"))

    def _version(self, model: Any, served: dict[int, int]) -> ModelVersion:
        number = int(model.version_id)
        labels = dict(model.labels)
        description = model.version_description or ""
        parts = [p.strip() for p in description.split(";")]
        metrics = {k: float(v) for k, v in _METRIC_RE.findall(parts[0])} if parts else {}
        return ModelVersion(
            version=number,
            status=STATUS.get(labels.get(APPROVAL_LABEL, "pending"), UNKNOWN),
            metrics=metrics,
            created=iso(model.version_create_time or model.create_time),
            # The register step records no trigger on the model (its pipeline job's labels hold it).
            trigger=UNKNOWN,
            traffic=served.get(number),
            id=f"{self.model}@{number}",
            note="; ".join(parts[1:]),
        )

    def _served(self) -> dict[int, int]:
        endpoint = self.outputs.get("endpoint")
        if not endpoint:
            return {}
        got = self._client("endpoint").get_endpoint(name=str(endpoint))
        shares = traffic_shares({k: float(v) for k, v in dict(got.traffic_split).items()})
        out: dict[int, int] = {}
        for deployed in got.deployed_models:
            base = deployed.model.split("@", 1)[0]
            if same_model(base, self.model) and deployed.model_version_id.isdigit() and deployed.id in shares:
                number = int(deployed.model_version_id)
                out[number] = out.get(number, 0) + shares[deployed.id]
        return out

    @cached_property
    def records(self) -> Any:
        """The platform's approval records (providers/gcp/dynamic.py ApprovalRecords)."""
        from providers.gcp.dynamic import ApprovalRecords, approvals_bucket

        platform = str(self.outputs.require("platform", "the platform prefix (the approvals bucket's name)"))
        return ApprovalRecords(approvals_bucket(self.project, platform), self.project, STORAGE_ENDPOINT)

    def require_approved(self, number: int) -> ModelVersion:
        """Approved by its label, and, in a manual registry, by an approval record: a version the
        uploader labelled approved itself is not promoted (it could become approved elsewhere)."""
        from providers.gcp.dynamic import approval_state

        found = self._labelled(number)
        if found.status != "approved":
            raise NotApproved(
                f"stack {self.stack}: version {number} is {found.status}, not approved; only an approved version "
                f"is promoted (mlops model approve {number} --stack {self.stack})"
            )
        approved, why = approval_state(self._client("model"), self.records, found.id, self.approval)
        if not approved:
            raise NotApproved(
                f"stack {self.stack}: version {number} is not approved by the approval gate ({why}); "
                f"only an approved version is promoted (mlops model approve {number} --stack {self.stack})"
            )
        return found

    def set_status(self, number: int, status: str, reason: str = "") -> ModelVersion:
        from providers.gcp.dynamic import set_approval

        found = self._labelled(number)
        client = self._client("model")
        if status == "approved":
            set_approval(client, found.id, approved=True, records=self.records, reason=reason)
        else:
            # the record first (the gate trusts it), then what people see
            self.records.write(found.id, "rejected", client.get_model(name=found.id), reason)
            got = client.get_model(name=found.id)
            if "approved" in got.version_aliases:
                client.merge_version_aliases(name=found.id, version_aliases=["-approved"])
            text = f"rejected with mlops model reject: {reason}" if reason else "rejected with mlops model reject"
            self._update(found.id, {APPROVAL_LABEL: "rejected"}, text)
        # as labelled now: the record was just written (an approver could not read it back)
        return self._labelled(number)

    def _update(self, name: str, labels: dict[str, str], note: str = "") -> None:
        from google.cloud import aiplatform_v1 as v1
        from google.protobuf import field_mask_pb2

        client = self._client("model")
        got = client.get_model(name=name)
        model = v1.Model(name=name, labels={**dict(got.labels), **labels})
        paths = ["labels"]
        if note:
            model.version_description = f"{got.version_description}; {note}"[:1000]
            paths.append("version_description")
        client.update_model(model=model, update_mask=field_mask_pb2.FieldMask(paths=paths))

    # -- promotion
    def promote(self, number: int, target: Operations, source_stack: str) -> Promotion:
        from google.api_core import exceptions
        from google.cloud import aiplatform_v1 as v1

        if not isinstance(target, GcpOperations):
            raise OperationError(f"stack {target.stack} is on {target.cloud}, not gcp: promote copies within one cloud")
        source = self.require_approved(number)
        if target.model == self.model:
            return Promotion(source.id, source.id, number, False, source.status, ("same model: nothing copied",))
        client = target._client("model")
        request = v1.CopyModelRequest(parent=target.location, source_model=source.id)
        key = target.outputs.get("encryption_key")
        if key:
            request.encryption_spec = v1.EncryptionSpec(kms_key_name=str(key))
        try:
            client.get_model(name=target.model)
            request.parent_model = target.model
        except exceptions.NotFound:
            request.model_id = target.model.rsplit("/", 1)[-1]
        result = client.copy_model(request=request).result(timeout=OPERATION_TIMEOUT_S)
        copied = f"{result.model.split('@', 1)[0]}@{result.model_version_id}"
        status = target.initial_status()
        steps = [f"copied {source.id} to {copied} (ModelService.CopyModel, the target's key)"]
        labels = {APPROVAL_LABEL: "pending", "managed-by": "mlops", PROMOTED_LABEL: stack_slug(source_stack)[:63]}
        target._update(copied, labels, f"promoted from {source_stack} version {number} ({source.id})")
        if status == "approved":
            from providers.gcp.dynamic import set_approval

            # named by the target's project id (Vertex may answer with its number)
            set_approval(client, f"{target.model}@{result.model_version_id}", approved=True, records=target.records)
        steps.append(f"labelled it approval={status} in {target.model}")
        return Promotion(source.id, copied, int(result.model_version_id), True, status, tuple(steps))

    # -- the training pipeline
    @property
    def pipeline_display_name(self) -> str:
        template = str(self.outputs.require("training_pipeline", "the compiled training pipeline"))
        parts = template.rstrip("/").split("/")
        if len(parts) < 3 or parts[-1] != "pipeline.json":
            raise OperationError(f"training_pipeline {template!r} is not gs://<bucket>/pipelines/<name>/pipeline.json")
        return parts[-2]

    def start_run(self) -> Run:
        from google.cloud import aiplatform_v1 as v1

        schedule_name = self.outputs.get("training_schedule")
        if not schedule_name:
            raise Unsupported(
                f"stack {self.stack} has no training schedule: on gcp `mlops run` starts a run from the schedule's "
                "pipeline job request (the spec and its deploy-time parameters); set pipeline.schedule"
            )
        schedule = self._client("schedule").get_schedule(name=str(schedule_name))
        job = v1.PipelineJob(schedule.create_pipeline_job_request.pipeline_job)
        job.labels = {**dict(job.labels), "trigger": PERSON}
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        job_id = f"{self.pipeline_display_name}-manual-{stamp}-{uuid.uuid4().hex[:6]}"[:128]
        created = self._client("pipeline").create_pipeline_job(
            parent=self.location, pipeline_job=job, pipeline_job_id=job_id
        )
        return self._run(created)

    def run(self, run_id: str) -> Run:
        return self._run(self._client("pipeline").get_pipeline_job(name=run_id))

    def _run(self, job: Any) -> Run:
        state = job.state.name if hasattr(job.state, "name") else str(job.state)
        status = RUN_STATE.get(state, UNKNOWN)
        error = job.error.message if job.error and job.error.message else ""
        return Run(
            id=job.name,
            status=status,
            trigger=TRIGGERS.get(dict(job.labels).get("trigger", ""), UNKNOWN),
            started=iso(job.start_time or job.create_time),
            ended=iso(job.end_time) if status != "running" else None,
            detail=state + (f": {error}" if error else ""),
        )

    def runs(self, limit: int = 10) -> list[Run]:
        pager = self._client("pipeline").list_pipeline_jobs(
            request={
                "parent": self.location,
                "filter": f'display_name="{self.pipeline_display_name}"',
                "order_by": "create_time desc",
                "page_size": limit,
            }
        )
        jobs = []
        for job in pager:
            jobs.append(self._run(job))
            if len(jobs) == limit:
                break
        return jobs

    # -- the endpoint
    def invoke(self, records: list[dict[str, Any]]) -> Prediction:
        from google.protobuf import json_format, struct_pb2

        endpoint = self.outputs.endpoint()
        instances = [json_format.ParseDict(r, struct_pb2.Value()) for r in records]
        answer = self._client("prediction").predict(endpoint=endpoint, instances=instances)
        full = type(answer).to_dict(answer)  # proto-plus: plain JSON values, snake_case keys
        output = {k: full.get(k) for k in ("predictions", "deployed_model_id", "model_version_id")}
        return Prediction(output=output, endpoint=endpoint)

    # -- drift
    def drift(self) -> DriftReport:
        from google.cloud import logging as cloud_logging

        self.outputs.endpoint()
        kwargs: dict[str, Any] = {"project": self.project, "_use_grpc": False}
        if LOGGING_ENDPOINT:
            from google.auth.credentials import AnonymousCredentials

            kwargs.update(client_options={"api_endpoint": LOGGING_ENDPOINT}, credentials=AnonymousCredentials())
        client = cloud_logging.Client(**kwargs)
        platform = str(self.outputs.get("platform") or "")
        result = read_drift_result(client, self.project, platform, drift_log_view(self.project, self.region, platform))
        threshold = float(result["threshold"]) if result and result.get("threshold") is not None else None
        values = dict((result or {}).get("features") or {})
        # the kit's rule (pipelines/kit/mlops_drift.py): a column drifts when its value is ABOVE the threshold
        features = tuple(
            FeatureDrift(name, float(value), None if threshold is None else float(value) > threshold)
            for name, value in sorted(values.items())
        )
        alerts = tuple(
            AlertState(
                id=str(policy),
                state=UNKNOWN,
                detail="open incidents are not readable through the Cloud Monitoring API; the policy counts drift log "
                "entries over the threshold",
            )
            for policy in self.outputs.get("drift_alarm") or []
        )
        notes = ["alert state: Cloud Monitoring exposes no incident API; see the policy's incidents in the console"]
        if result is None:
            notes.append(f"no drift result logged yet (logs/{DRIFT_LOG} of project {self.project})")
        elif result.get("status") == "skipped":
            notes.append(f"the latest window was not judged: {result.get('reason') or 'too few requests'}")
        return DriftReport(
            checked=(result or {}).get("_timestamp"),
            threshold=threshold,
            features=features,
            alerts=alerts,
            last_retraining=self.last_drift_run(),
            notes=tuple(notes),
        )

    # -- errors
    @classmethod
    def describe_error(cls, exc: BaseException) -> str | None:
        from google.api_core import exceptions
        from google.auth import exceptions as auth_exceptions

        if isinstance(exc, exceptions.GoogleAPICallError):
            return f"gcp: {type(exc).__name__} ({exc.code}): {exc.message}"
        if isinstance(exc, auth_exceptions.GoogleAuthError):
            return f"gcp: credentials: {exc}"
        if isinstance(exc, exceptions.RetryError | TimeoutError):
            return f"gcp: {exc}"
        return None


OPERATIONS = GcpOperations
