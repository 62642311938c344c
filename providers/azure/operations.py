"""Day-two operations on an Azure stack, with azure-ai-ml (MLClient) and azure-core only.

What the stack outputs hold (`providers/base.py`) and how each command reads them:

- `model_registry`: the model container's ARM id (`.../workspaces/<ws>/models/<name>`); a version's
  status is its `approval` tag (`pending` | `approved` set by the gate step, `rejected` set here),
  the tag the Endpoint checks before deploying; the gate step also writes every metric as a tag
  (`roc_auc: "0.8123"`).
- `endpoint`: the online endpoint's ARM id; served versions are its deployments' models, their
  share the endpoint's `traffic`.
- `training_schedule`: the Azure ML schedule that creates the training job. `mlops run` triggers it
  once (ScheduleOperations.trigger) and tags the job `trigger=manual` (JobOperations.update); runs
  are the jobs of the training experiment (named like the model); a job the schedule created is
  `schedule`, a job tagged `trigger` says so.
- `monitor`: the drift check's schedule. `monitor.engine: kit`: its runs publish one row per request
  column into the Log Analytics table `MlopsDrift_CL`; `mlops drift` reads the newest check's rows
  back (Log Analytics query API, on the workspace the drift alert is scoped to). `builtin`: Azure
  ML's monitoring schedule, whose runs are listed (its per-feature distances are not readable).
- `drift_alarm`: kit: the log search alerts (drift, drift check missing); their fired alerts come
  from Azure Monitor's Alerts Management API (read with azure-core, the MLClient's credential).
  builtin: the Event Grid subscription of the breach tag.

Promotion to another workspace: a new version of the target's model whose path is the source
version's files (the source datastore's https URL: azure-ai-ml rewrites any `azureml://` datastore
path to the current workspace, so a cross-workspace `azureml://` reference cannot be registered),
tagged with the target's approval and the provenance. The files stay in the source workspace's
storage account: the target's endpoint identity needs read access to it.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
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
    Unsupported,
    iso,
    metrics_of,
    resource_name,
    traffic_shares,
)

ARM_URL = "https://management.azure.com"
BLOB_URL: str | None = None
"""The approvals account's blob endpoint override (None: https://<account>.blob.core.windows.net); tests set a fake."""
ALERTS_API = "2019-05-05-preview"
APPROVAL_TAG = "approval"
NOT_METRICS = {
    APPROVAL_TAG,
    "run",
    "approved-by",
    "rejected-by",
    "rejected-reason",
    "promoted-from",
    "promoted-from-stack",
}
STATUS = {"approved": "approved", "pending": "pending", "rejected": "rejected"}
RUN_STATE = {
    "NotStarted": "running",
    "Starting": "running",
    "Provisioning": "running",
    "Preparing": "running",
    "Queued": "running",
    "Running": "running",
    "Finalizing": "running",
    "CancelRequested": "running",
    "Completed": "succeeded",
    "Failed": "failed",
    "Canceled": "stopped",
    "NotResponding": "failed",
    "Paused": "running",
}
TRIGGERS = {"manual": "person", "schedule": "schedule", "drift": "drift"}
PERSON = "manual"
_ARM_RE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)/(?P<kind>[^/]+)/(?P<name>[^/]+)",
    re.IGNORECASE,
)
_DATASTORE_RE = re.compile(r"^azureml://.*?/datastores/(?P<store>[^/]+)/paths/(?P<path>.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class Scope:
    subscription: str
    resource_group: str
    workspace: str
    name: str

    @classmethod
    def parse(cls, arm_id: str, what: str) -> Scope:
        match = _ARM_RE.match(str(arm_id))
        if match is None:
            raise OperationError(f"{what} {arm_id!r} is not an Azure ML workspace resource id")
        return cls(match["sub"], match["rg"], match["ws"], match["name"])


def client_for(subscription: str, resource_group: str, workspace: str) -> Any:
    """An MLClient for one workspace with the default credential chain. Tests replace it."""
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    return MLClient(DefaultAzureCredential(), subscription, resource_group, workspace)


LOGS_URL = "https://api.loganalytics.azure.com"
LOGS_SCOPE = "https://api.loganalytics.io/.default"
RULES_API = "2023-03-15-preview"
"""Log search alert rules (Scheduled Query Rules - Get) and the Log Analytics query API
(Microsoft Learn "Query Azure Monitor Logs via the API": resource-centric `POST /v1{resource id}/query`,
token audience https://api.loganalytics.io)."""
DRIFT_TABLE = "MlopsDrift_CL"
"""The kit engine's table (providers/azure/model_monitor.py): one row per request column per check."""


def drift_result_query(monitor: str) -> str:
    """The rows of the newest drift check of `monitor` (one publish stamps them all alike)."""
    return (
        f'let last = toscalar({DRIFT_TABLE} | where Monitor == "{monitor}" | summarize max(TimeGenerated));\n'
        f'{DRIFT_TABLE}\n| where Monitor == "{monitor}" and TimeGenerated == last\n'
        "| project TimeGenerated, Feature, Statistic, Value, Threshold, Drifted, Status, Samples, "
        "WindowStart, WindowEnd"
    )


def read_drift_result(send: Any, logs_workspace: str, monitor: str) -> dict[str, Any] | None:
    """The kit's newest drift check of `monitor`, read back from the Log Analytics table the drift
    job publishes to (`send(method, url, json) -> dict`, bearer-authenticated by the caller):
    `{"checked", "window", "threshold", "status", "samples", "features": [(column, value, drifted)]}`,
    or None when no check has written a row."""
    answer = send("POST", f"{LOGS_URL}/v1{logs_workspace}/query", {"query": drift_result_query(monitor)})
    tables = answer.get("tables") or []
    if not tables:
        return None
    names = [c["name"] for c in tables[0].get("columns") or []]
    rows = [dict(zip(names, row, strict=True)) for row in tables[0].get("rows") or []]
    if not rows:
        return None
    rows.sort(key=lambda r: str(r.get("Feature")))
    first = rows[0]
    skipped = any(str(r.get("Status")) != "ok" for r in rows)
    return {
        "checked": iso(first.get("TimeGenerated")),
        "window": (iso(first.get("WindowStart")), iso(first.get("WindowEnd"))),
        "threshold": float(first["Threshold"]) if first.get("Threshold") is not None else None,
        "status": "skipped" if skipped else "ok",
        "samples": int(first["Samples"]) if first.get("Samples") is not None else None,
        "features": [
            (
                str(r["Feature"]),
                None if skipped or r.get("Value") is None else float(r["Value"]),
                None if skipped or r.get("Drifted") is None else bool(r["Drifted"]),
            )
            for r in rows
        ],
    }


def latest_monitor_run(ml: Any, monitor: str) -> Any | None:
    """`monitor.engine: builtin`: the newest run of Azure ML's monitoring schedule (Azure ML keeps the
    per-feature distances in the run's signal outputs, which azure-ai-ml does not read)."""
    runs = [j for j in ml.jobs.list(scheduled_job_name=monitor)]
    runs.sort(key=lambda j: _created(j) or "", reverse=True)
    return runs[0] if runs else None


def _created(job: Any) -> str | None:
    context = getattr(job, "creation_context", None)
    return iso(getattr(context, "created_at", None)) if context else None


class AzureOperations(Operations):
    cloud = "azure"

    @cached_property
    def scope(self) -> Scope:
        return Scope.parse(self.registry_id, "model_registry")

    @cached_property
    def ml(self) -> Any:
        scope = self.scope
        return client_for(scope.subscription, scope.resource_group, scope.workspace)

    @property
    def model_name(self) -> str:
        return self.scope.name

    @property
    def records(self) -> Any:
        """The platform's approval records (providers/azure/dynamic.py ApprovalRecords), in the
        approvals account named from the stack output `platform` and the registry's resource group."""
        from providers.azure.dynamic import ApprovalRecords
        from providers.azure.translate import global_names, unique_suffix

        prefix = str(self.outputs.require("platform", "the platform prefix (the approvals account's name)"))
        scope = self.scope
        account = global_names(prefix, unique_suffix(scope.subscription, scope.resource_group)).approvals_account
        return ApprovalRecords(account, "approvals", BLOB_URL and f"{BLOB_URL.rstrip('/')}/{account}")

    def require_approved(self, number: int) -> ModelVersion:
        """Approved by its tag and, in a manual registry, by an approval record: a version the runtime
        identity tagged approved itself is not promoted (it could become approved elsewhere)."""
        from providers.azure.dynamic import approval_state

        found = super().require_approved(number)
        model = self.ml.models.get(name=self.model_name, version=str(number))
        approved, why = approval_state(model, str(model.id), self.records, self.approval)
        if not approved:
            raise NotApproved(
                f"stack {self.stack}: version {number} is not approved by the approval gate ({why}); "
                f"only an approved version is promoted (mlops model approve {number} --stack {self.stack})"
            )
        return found

    # -- the registry
    def version(self, number: int) -> ModelVersion:
        """Version `number`, its status as the deploy-time gate sees it: a version tagged approved that
        the gate does not approve (a manual registry and no approval record for this registration, or
        a newer rejection) is `pending`, with the gate's reason in the note. So `mlops model approve`
        writes a record whenever the gate does not already approve the version, and skips only when
        it does (a version the runtime identity tagged approved itself is not "already approved")."""
        from providers.azure.dynamic import approval_state

        found = super().version(number)
        if found.status != "approved":
            return found
        model = self.ml.models.get(name=self.model_name, version=str(number))
        approved, why = approval_state(model, str(model.id), self.records, self.approval)
        if approved:
            return found
        note = f"tagged approved, not by the gate: {why}"
        return replace(found, status="pending", note=f"{found.note}; {note}" if found.note else note)

    def versions(self) -> list[ModelVersion]:
        from azure.core.exceptions import ResourceNotFoundError

        served = self._served()
        try:
            models = list(self.ml.models.list(name=self.model_name))
        except ResourceNotFoundError:
            return []
        found = [self._version(m, served) for m in models if str(m.version).isdigit()]
        return sorted(found, key=lambda v: v.version, reverse=True)

    def _version(self, model: Any, served: dict[int, int]) -> ModelVersion:
        tags = dict(model.tags or {})
        number = int(model.version)
        note = ""
        if tags.get("rejected-reason"):
            note = f"rejected: {tags['rejected-reason']}"
        if tags.get("promoted-from"):
            note = f"promoted from {tags.get('promoted-from-stack', '?')}: {tags['promoted-from']}"
        return ModelVersion(
            version=number,
            status=STATUS.get(tags.get(APPROVAL_TAG, "pending"), UNKNOWN),
            metrics=metrics_of({k: v for k, v in tags.items() if k not in NOT_METRICS}),
            created=_created(model),
            trigger=UNKNOWN,  # the gate step tags the run id, not who started the run
            traffic=served.get(number),
            id=str(model.id),
            note=note,
        )

    def _served(self) -> dict[int, int]:
        endpoint = self.outputs.get("endpoint")
        if not endpoint:
            return {}
        name = resource_name(str(endpoint))
        got = self.ml.online_endpoints.get(name)
        shares = traffic_shares({k: float(v) for k, v in (got.traffic or {}).items()})
        out: dict[int, int] = {}
        for deployment in self.ml.online_deployments.list(name):
            model = str(deployment.model or "")
            match = re.search(r"/models/([^/]+)/versions/([0-9]+)$", model) or re.search(
                r"^azureml:([^:]+):([0-9]+)$", model
            )
            if match and match.group(1) == self.model_name and deployment.name in shares:
                number = int(match.group(2))
                out[number] = out.get(number, 0) + shares[deployment.name]
        return out

    def set_status(self, number: int, status: str, reason: str = "") -> ModelVersion:
        self.version(number)
        model = self.ml.models.get(name=self.model_name, version=str(number))
        # The record first (what the deploy-time check trusts), then the tag people see.
        self.records.write(str(model.id), status, model, reason)
        tags = dict(model.tags or {})
        tags[APPROVAL_TAG] = status
        if status == "rejected":
            tags["rejected-reason"] = reason or "rejected with mlops model reject"
        else:
            tags.pop("rejected-reason", None)
        model.tags = tags
        self.ml.models.create_or_update(model)
        return self.version(number)

    # -- promotion
    def promote(self, number: int, target: Operations, source_stack: str) -> Promotion:
        from azure.ai.ml.entities import Model

        if not isinstance(target, AzureOperations):
            raise OperationError(
                f"stack {target.stack} is on {target.cloud}, not azure: promote copies within one cloud"
            )
        source = self.require_approved(number)
        if target.registry_id.lower() == self.registry_id.lower():
            return Promotion(source.id, source.id, number, False, source.status, ("same model: nothing copied",))
        model = self.ml.models.get(name=self.model_name, version=str(number))
        path = self._https_path(str(model.path))
        existing = [int(m.version) for m in target.ml.models.list(name=target.model_name) if str(m.version).isdigit()]
        version = max(existing, default=0) + 1
        status = target.initial_status()
        tags = {k: v for k, v in dict(model.tags or {}).items() if k not in NOT_METRICS}
        tags.update({APPROVAL_TAG: status, "promoted-from": source.id, "promoted-from-stack": source_stack})
        created = target.ml.models.create_or_update(
            Model(
                name=target.model_name,
                version=str(version),
                path=path,
                type=model.type,
                tags=tags,
                description=f"promoted from stack {source_stack}, version {number} ({source.id})",
            )
        )
        steps = (
            f"registered version {version} of {target.registry_id} ({status}) on the files of {source.id}",
            f"the files stay in {path.split('/')[2]}: the target's endpoint identity needs read access to it",
        )
        return Promotion(source.id, str(created.id), version, True, status, steps)

    def _https_path(self, path: str) -> str:
        """A datastore path of this workspace as the https URL another workspace can register."""
        match = _DATASTORE_RE.match(path)
        if match is None:
            return path  # already a URL (https://, abfss://): no workspace in it
        store = self.ml.datastores.get(match["store"])
        endpoint = getattr(store, "endpoint", None) or "core.windows.net"
        protocol = getattr(store, "protocol", None) or "https"
        return f"{protocol}://{store.account_name}.blob.{endpoint}/{store.container_name}/{match['path']}"

    # -- the training pipeline
    def _schedule(self, key: str, what: str) -> str | None:
        value = self.outputs.get(key)
        return Scope.parse(str(value), what).name if value else None

    def start_run(self) -> Run:
        schedule = self._schedule("training_schedule", "training_schedule")
        if schedule is None:
            raise Unsupported(
                f"stack {self.stack} has no training schedule: on azure `mlops run` triggers the training "
                "schedule once (its job definition); set pipeline.schedule"
            )
        started = self.ml.schedules.trigger(schedule)
        self.ml.jobs.update(started.job_name, tags={"trigger": PERSON})
        return self.run(started.job_name)

    def run(self, run_id: str) -> Run:
        return self._run(self.ml.jobs.get(run_id), self._scheduled())

    def _scheduled(self) -> set[str]:
        schedule = self._schedule("training_schedule", "training_schedule")
        return {j.name for j in self.ml.jobs.list(scheduled_job_name=schedule)} if schedule else set()

    def _run(self, job: Any, scheduled: set[str]) -> Run:
        state = str(getattr(job.status, "value", job.status) or "")
        state = {s.lower(): s for s in RUN_STATE}.get(state.lower(), state)
        status = RUN_STATE.get(state, UNKNOWN)
        tags = dict(job.tags or {})
        trigger = TRIGGERS.get(tags.get("trigger", ""), "schedule" if job.name in scheduled else UNKNOWN)
        context = job.creation_context
        return Run(
            id=job.name,
            status=status,
            trigger=trigger,
            started=_created(job),
            # Azure ML reports no end time on a job: its last modification is when it ended.
            ended=iso(getattr(context, "last_modified_at", None)) if status != "running" else None,
            detail=state,
        )

    def runs(self, limit: int = 10) -> list[Run]:
        scheduled = self._scheduled()
        jobs = [j for j in self.ml.jobs.list() if getattr(j, "experiment_name", None) == self.model_name]
        jobs.sort(key=lambda j: _created(j) or "", reverse=True)
        return [self._run(j, scheduled) for j in jobs[:limit]]

    # -- the endpoint
    def invoke(self, records: list[dict[str, Any]]) -> Prediction:
        endpoint = self.outputs.endpoint()
        with tempfile.TemporaryDirectory() as tmp:
            request = Path(tmp) / "request.json"
            request.write_text(json.dumps(records), encoding="utf-8")
            answer = self.ml.online_endpoints.invoke(endpoint_name=resource_name(endpoint), request_file=str(request))
        try:
            output: Any = json.loads(answer) if isinstance(answer, str | bytes) else answer
        except ValueError:
            output = answer
        return Prediction(output=output, endpoint=endpoint)

    # -- drift
    def drift(self) -> DriftReport:
        self.outputs.endpoint()
        monitor = self._schedule("monitor", "monitor")
        alarms = [str(rule) for rule in self.outputs.get("drift_alarm") or []]
        logs = self._drift_table_workspace(alarms)
        notes: list[str] = []
        checked: str | None = None
        threshold: float | None = None
        features: tuple[FeatureDrift, ...] = ()
        if logs is not None and monitor:  # monitor.engine: kit
            result = read_drift_result(self._send, logs, monitor)
            if result is None:
                notes.append(f"no drift check has written a result yet (table {DRIFT_TABLE}, monitor {monitor})")
            else:
                checked, threshold = result["checked"], result["threshold"]
                features = tuple(FeatureDrift(f, v, d) for f, v, d in result["features"])
                start, end = result["window"]
                if result["status"] == "skipped":
                    notes.append(
                        f"latest drift check: window {start} to {end} skipped, {result['samples']} requests "
                        "(under monitor.min_samples): no verdict"
                    )
                else:
                    notes.append(f"latest drift check: window {start} to {end}, {result['samples']} requests")
        else:  # monitor.engine: builtin (or nothing served)
            latest = latest_monitor_run(self.ml, monitor) if monitor else None
            notes.append(
                "per-feature distances: Azure ML keeps them in the monitor run's signal output, which azure-ai-ml "
                "does not read; a breach tags the run azureml_modelmonitor_threshold_breached"
            )
            if latest is None:
                notes.append(f"no drift check has run yet (monitoring schedule {monitor})")
            else:
                state = str(getattr(latest.status, "value", latest.status))
                notes.append(f"latest drift check {latest.name}: {state}")
                checked = _created(latest)
        alerts = tuple(self._alert(rule) for rule in alarms if "/scheduledqueryrules/" in rule.lower())
        last = next((r for r in self.runs(limit=50) if r.trigger == "drift"), None)
        return DriftReport(
            checked=checked,
            threshold=threshold,
            features=features,
            alerts=alerts,
            last_retraining=last,
            notes=tuple(notes),
        )

    def _client(self, audience: str) -> Any:
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy

        credential = self.ml._credential  # noqa: SLF001 - the same identity as every other call
        return PipelineClient(base_url=ARM_URL, policies=[BearerTokenCredentialPolicy(credential, audience)])

    def _send(self, method: str, url: str, body: Any = None) -> dict[str, Any]:
        from azure.core.rest import HttpRequest

        audience = LOGS_SCOPE if url.startswith(LOGS_URL) else ARM_URL.rstrip("/") + "/.default"
        response = self._client(audience).send_request(HttpRequest(method, url, json=body))
        response.raise_for_status()
        return dict(response.json())

    def _drift_table_workspace(self, alarms: list[str]) -> str | None:
        """The Log Analytics workspace the kit's drift alert reads (its scope), when the stack's drift
        alarm is a log search alert over the kit's table; None for Azure ML's own monitor."""
        for rule in alarms:
            if "/scheduledqueryrules/" not in rule.lower():
                continue
            found = self._send("GET", f"{ARM_URL.rstrip('/')}{rule}?api-version={RULES_API}")
            props = found.get("properties") or {}
            queries = [str(c.get("query") or "") for c in (props.get("criteria") or {}).get("allOf") or []]
            if any(q.split("|", 1)[0].strip() == DRIFT_TABLE for q in queries) and props.get("scopes"):
                return str(props["scopes"][0])
        return None

    def _alert(self, rule: str) -> AlertState:
        """The rule's alerts of the last 30 days (Alerts Management: Alerts - Get All)."""
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy
        from azure.core.rest import HttpRequest, HttpResponse

        credential = self.ml._credential  # noqa: SLF001 - the same identity as every other call
        client: PipelineClient[HttpRequest, HttpResponse] = PipelineClient(
            base_url=ARM_URL, policies=[BearerTokenCredentialPolicy(credential, ARM_URL.rstrip("/") + "/.default")]
        )
        request = HttpRequest(
            "GET",
            f"{ARM_URL.rstrip('/')}/subscriptions/{self.scope.subscription}/providers/Microsoft.AlertsManagement/alerts",
            params={"api-version": ALERTS_API, "alertRule": rule, "timeRange": "30d"},
        )
        response = client.send_request(request)
        response.raise_for_status()
        essentials = [a.get("properties", {}).get("essentials", {}) for a in response.json().get("value", [])]
        fired = [e for e in essentials if e.get("monitorCondition") == "Fired" and e.get("alertState") != "Closed"]
        if fired:
            since = min(iso(e.get("startDateTime")) or "" for e in fired) or None
            return AlertState(rule, "alarm", since, f"{len(fired)} fired alert(s) not closed")
        latest = max((iso(e.get("lastModifiedDateTime")) or "" for e in essentials), default="") or None
        return AlertState(rule, "ok", latest, f"{len(essentials)} alert(s) in 30 days, none firing")

    # -- errors
    @classmethod
    def describe_error(cls, exc: BaseException) -> str | None:
        from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

        if isinstance(exc, HttpResponseError):
            message = (exc.message or str(exc)).splitlines()[0]
            return f"azure: HTTP {exc.status_code}: {message}"
        if isinstance(exc, ClientAuthenticationError | AzureError):
            return f"azure: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        try:
            from azure.ai.ml.exceptions import MlException
        except ImportError:  # pragma: no cover - azure-ai-ml is the extra's
            return None
        if isinstance(exc, MlException):
            return f"azure: {str(exc).splitlines()[0]}"
        return None


OPERATIONS = AzureOperations
