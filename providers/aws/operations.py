"""Day-two operations on an AWS stack, with boto3 only (SageMaker, SageMaker Runtime, S3, CloudWatch).

What the stack outputs hold (`providers/base.py`) and how each command reads them:

- `model_registry`: the model package group ARN. A version is a model package
  (`...:model-package/<group>/<n>`); its status is `ModelApprovalStatus` (PendingManualApproval,
  Approved, Rejected); the gate metrics are the evaluation report the pipeline's register step
  attaches as `ModelMetrics.ModelQuality.Statistics` (the sagemaker SDK's `model_statistics`, an
  S3 JSON `{"metrics": {...}}`); who started the
  run is the `trigger` customer metadata property (the pipeline parameter: manual, schedule, drift).
- `endpoint`: the endpoint ARN. Served versions: each production variant's model names a model
  package; its share of traffic is the variant's weight.
- `training_pipeline`: the SageMaker pipeline ARN; a person's run passes `trigger=manual`.
- `drift_alarm`: the CloudWatch alarms on Model Monitor's `feature_baseline_drift_<feature>`
  metrics; `mlops drift` reads those metrics as the alarms' own queries name them.

Promotion to another stack's group: the artifacts (model archive, evaluation report) are copied
into the target stack's bucket under its KMS key, and a new model package is created in the
target group with the same inference specification, carrying its provenance in customer metadata.
When the target is another account, the source group gets a resource policy statement letting
that account describe and list its versions (PutModelPackageGroupPolicy), merged with any policy
already there. Each stack is read with its own credentials: `aws:profile` from its stack file
when set, else the default chain.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    iso,
    metrics_of,
    traffic_shares,
)

STATUS = {"PendingManualApproval": "pending", "Approved": "approved", "Rejected": "rejected"}
STATUS_OF = {v: k for k, v in STATUS.items()}
RUN_STATE = {
    "Executing": "running",
    "Stopping": "running",
    "Stopped": "stopped",
    "Failed": "failed",
    "CompletedWithFailures": "failed",
    "Succeeded": "succeeded",
}
TRIGGER_PARAM = "trigger"
"""The pipeline parameter (providers/aws/pipeline_definition.py) the register step records."""
TRIGGERS = {"manual": "person", "schedule": "schedule", "drift": "drift"}
PERSON = "manual"
DRIFT_METRIC_PREFIX = "feature_baseline_drift_"
KIT_DRIFT_METRIC, KIT_FEATURE_DIMENSION = "feature_drift", "Feature"
"""What the kit's drift job publishes (step_io.py spells them; tests/ops hold the two together)."""
DRIFT_LOOKBACK = timedelta(days=14)
POLICY_SID = "MlopsPromoteTo"
POLICY_ACTIONS = [
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:DescribeModelPackage",
    "sagemaker:ListModelPackages",
]


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, value: str, what: str) -> Arn:
        parts = str(value).split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            raise OperationError(f"{what} {value!r} is not an ARN")
        return cls(*parts[1:])

    @property
    def name(self) -> str:
        return self.resource.split("/", 1)[-1] if "/" in self.resource else self.resource.split(":", 1)[-1]


def session_for(profile: str | None, region: str):
    """A boto3 session for one stack (its `aws:profile`, else the default chain). Tests replace it."""
    import boto3

    return boto3.Session(profile_name=profile or None, region_name=region)


def drift_column(metric: dict[str, Any]) -> str | None:
    """The request column a drift metric is about: the kit's drift job publishes `feature_drift` with
    a `Feature` dimension (providers/aws/step_io.py); Model Monitor (builtin) names it in the metric,
    `feature_baseline_drift_<column>`. None for any other metric (the silent-check heartbeat)."""
    name = metric["MetricName"]
    if name == KIT_DRIFT_METRIC:
        return next((d["Value"] for d in metric.get("Dimensions") or [] if d["Name"] == KIT_FEATURE_DIMENSION), None)
    if name.startswith(DRIFT_METRIC_PREFIX):
        return name.removeprefix(DRIFT_METRIC_PREFIX)
    return None


def drift_alarms(alarms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alarms over per-column drift metrics (not the silent-check alarm)."""
    return [
        a
        for a in alarms
        if any("MetricStat" in q and drift_column(q["MetricStat"]["Metric"]) for q in a.get("Metrics") or [])
    ]


def read_drift_result(cloudwatch: Any, alarms: list[dict[str, Any]]) -> tuple[str | None, dict[str, float]]:
    """The latest drift value per request column, and when it was published: the kit's drift job's
    `feature_drift` per column (the default engine) or Model Monitor's `feature_baseline_drift_<column>`
    (builtin), read exactly as the stack's drift alarms query them (namespace, dimensions, statistic
    from their metric queries: what was deployed, not a copy of it)."""
    stats = [q["MetricStat"] for a in drift_alarms(alarms) for q in a.get("Metrics") or [] if "MetricStat" in q]
    stats = [s for s in stats if drift_column(s["Metric"])]
    if not stats:
        return None, {}
    now = datetime.now(UTC)
    queries = [
        {"Id": f"m{i}", "Label": drift_column(s["Metric"]), "MetricStat": s, "ReturnData": True}
        for i, s in enumerate(stats)
    ]
    values: dict[str, float] = {}
    latest: datetime | None = None
    for start in range(0, len(queries), 500):  # GetMetricData takes at most 500 queries
        answer = cloudwatch.get_metric_data(
            MetricDataQueries=queries[start : start + 500],
            StartTime=now - DRIFT_LOOKBACK,
            EndTime=now,
            ScanBy="TimestampDescending",
        )
        for result in answer["MetricDataResults"]:
            if result.get("Values"):
                values[result["Label"]] = float(result["Values"][0])
                stamp = result["Timestamps"][0]
                latest = stamp if latest is None or stamp > latest else latest
    return iso(latest), values


def report_uri(model_metrics: dict[str, Any]) -> str:
    """The evaluation report the register step attaches (`ModelMetrics(model_statistics=...)` of the
    sagemaker SDK is `ModelQuality.Statistics` in the API)."""
    return str(((model_metrics.get("ModelQuality") or {}).get("Statistics") or {}).get("S3Uri") or "")


def _input_shape(service_model: Any, shape_name: str, value: Any) -> Any:
    """`value` (a Describe* answer) reduced to what the input shape `shape_name` accepts."""
    return _fit(service_model.shape_for(shape_name), value)


def _fit(shape: Any, value: Any) -> Any:
    if shape.type_name == "structure" and isinstance(value, dict):
        return {k: _fit(shape.members[k], v) for k, v in value.items() if k in shape.members}
    if shape.type_name == "list" and isinstance(value, list):
        return [_fit(shape.member, v) for v in value]
    return value


class AwsOperations(Operations):
    cloud = "aws"

    # -- ids and clients
    @cached_property
    def group(self) -> Arn:
        return Arn.parse(self.registry_id, "model_registry")

    @property
    def region(self) -> str:
        return str(self.outputs.get("region") or self.group.region)

    @cached_property
    def session(self) -> Any:
        return session_for(self.config.get("aws:profile"), self.region)

    def client(self, service: str) -> Any:
        cache = self.__dict__.setdefault("_clients", {})
        if service not in cache:
            cache[service] = self.session.client(service, region_name=self.region)
        return cache[service]

    @property
    def sm(self) -> Any:
        return self.client("sagemaker")

    # -- the registry
    def versions(self) -> list[ModelVersion]:
        served = self._served()
        found = []
        pages = self.sm.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName=self.group.name, SortBy="CreationTime", SortOrder="Descending"
        )
        for page in pages:
            for summary in page["ModelPackageSummaryList"]:
                found.append(self._version(summary["ModelPackageArn"], served))
        return sorted(found, key=lambda v: v.version, reverse=True)

    def _version(self, arn: str, served: dict[int, int]) -> ModelVersion:
        pkg = self.sm.describe_model_package(ModelPackageName=arn)
        number = int(pkg.get("ModelPackageVersion") or arn.rsplit("/", 1)[-1])
        props = pkg.get("CustomerMetadataProperties") or {}
        note = pkg.get("ApprovalDescription") or ""
        if props.get("promoted-from"):
            note = f"promoted from {props.get('promoted-from-stack', '?')}: {props['promoted-from']}"
        return ModelVersion(
            version=number,
            status=STATUS.get(pkg.get("ModelApprovalStatus", ""), UNKNOWN),
            metrics=self._metrics(pkg),
            created=iso(pkg.get("CreationTime")),
            trigger=TRIGGERS.get(props.get(TRIGGER_PARAM, ""), UNKNOWN),
            traffic=served.get(number),
            id=arn,
            note=note,
        )

    def _metrics(self, pkg: dict[str, Any]) -> dict[str, float]:
        uri = report_uri(pkg.get("ModelMetrics") or {})
        if not uri.startswith("s3://"):
            return {}
        bucket, _, key = uri[len("s3://") :].partition("/")
        body = self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            report = json.loads(body)
        except ValueError:
            return {}
        return metrics_of(report.get("metrics", report) if isinstance(report, dict) else {})

    def _served(self) -> dict[int, int]:
        """Version -> percent of the endpoint's traffic (empty when nothing is served)."""
        endpoint = self.outputs.get("endpoint")
        if not endpoint:
            return {}
        name = Arn.parse(endpoint, "endpoint").name
        described = self.sm.describe_endpoint(EndpointName=name)
        config = self.sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
        models = {v["VariantName"]: v.get("ModelName") for v in config.get("ProductionVariants", [])}
        weights: dict[str, float] = {}
        for variant in described.get("ProductionVariants") or config.get("ProductionVariants", []):
            weight = variant.get("CurrentWeight", variant.get("DesiredWeight", variant.get("InitialVariantWeight", 1)))
            weights[variant["VariantName"]] = float(weight if weight is not None else 1)
        shares = traffic_shares(weights)
        prefix = self.group.resource.replace("model-package-group/", "model-package/", 1) + "/"
        out: dict[int, int] = {}
        for variant, share in shares.items():
            model = models.get(variant)
            if not model:
                continue
            described_model = self.sm.describe_model(ModelName=model)
            containers = [described_model.get("PrimaryContainer") or {}, *(described_model.get("Containers") or [])]
            for container in containers:
                package = str(container.get("ModelPackageName") or "")
                if ":" in package and Arn.parse(package, "model package").resource.startswith(prefix):
                    number = int(package.rsplit("/", 1)[-1])
                    out[number] = out.get(number, 0) + share
        return out

    def set_status(self, number: int, status: str, reason: str = "") -> ModelVersion:
        found = self.version(number)
        who = self._caller()
        text = f"{status} by {who} (mlops model {'approve' if status == 'approved' else 'reject'})"
        self.sm.update_model_package(
            ModelPackageArn=found.id,
            ModelApprovalStatus=STATUS_OF[status],
            ApprovalDescription=(f"{text}: {reason}" if reason else text)[:1024],
        )
        return self.version(number)

    def _caller(self) -> str:
        try:
            return str(self.client("sts").get_caller_identity()["Arn"])
        except Exception as exc:  # noqa: BLE001 - who approved is a courtesy, never a reason to fail
            if self.describe_error(exc) is None:
                raise
            return "an unknown caller"

    # -- promotion
    def promote(self, number: int, target: Operations, source_stack: str) -> Promotion:
        if not isinstance(target, AwsOperations):
            raise OperationError(f"stack {target.stack} is on {target.cloud}, not aws: promote copies within one cloud")
        source = self.require_approved(number)
        if target.group == self.group:
            return Promotion(source.id, source.id, number, False, source.status, ("same registry: nothing copied",))
        pkg = self.sm.describe_model_package(ModelPackageName=source.id)
        if pkg.get("ModelApprovalStatus") != "Approved":
            raise NotApproved(f"stack {self.stack}: version {number} is not approved")
        steps: list[str] = []
        if target.group.account != self.group.account:
            steps.append(self._grant_read(target.group.account))
        model = target.sm.meta.service_model
        spec = _input_shape(model, "InferenceSpecification", pkg["InferenceSpecification"])
        where = f"models/promoted/{self.group.name}/{number}"
        for i, container in enumerate(spec.get("Containers", [])):
            if str(container.get("ModelDataUrl", "")).startswith("s3://"):
                container["ModelDataUrl"] = self._copy_object(container["ModelDataUrl"], target, f"{where}/{i}")
                steps.append(f"copied the model archive to {container['ModelDataUrl']}")
        metrics = _input_shape(model, "ModelMetrics", pkg.get("ModelMetrics") or {})
        report = report_uri(metrics)
        if report.startswith("s3://"):
            copied = self._copy_object(report, target, f"{where}/report")
            metrics["ModelQuality"]["Statistics"]["S3Uri"] = copied
            steps.append(f"copied the evaluation report to {copied}")
        props = dict(pkg.get("CustomerMetadataProperties") or {})
        props.update({"promoted-from": source.id, "promoted-from-stack": source_stack[:256]})
        status = target.initial_status()
        args: dict[str, Any] = {
            "ModelPackageGroupName": target.group.name,
            "ModelPackageDescription": f"promoted from stack {source_stack}, version {number}"[:1024],
            "InferenceSpecification": spec,
            "ModelApprovalStatus": STATUS_OF[status],
            "CustomerMetadataProperties": props,
            "ClientToken": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source.id}->{target.group}")),
        }
        if metrics:
            args["ModelMetrics"] = metrics
        created = target.sm.create_model_package(**args)["ModelPackageArn"]
        target_version = int(created.rsplit("/", 1)[-1])
        steps.append(f"created version {target_version} in {target.registry_id} ({status})")
        return Promotion(source.id, created, target_version, True, status, tuple(steps))

    def _grant_read(self, account: str) -> str:
        """Let `account` describe and list this group's versions: one statement in the group's
        resource policy (merged with what is there)."""
        from botocore.exceptions import ClientError

        group = self.group
        versions = f"arn:{group.partition}:sagemaker:{group.region}:{group.account}:model-package/{group.name}/*"
        statement = {
            "Sid": f"{POLICY_SID}{account}",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{group.partition}:iam::{account}:root"},
            "Action": POLICY_ACTIONS,
            "Resource": [self.registry_id, versions],
        }
        try:
            current = json.loads(
                self.sm.get_model_package_group_policy(ModelPackageGroupName=group.name)["ResourcePolicy"]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("ValidationException", "ResourceNotFound"):
                raise
            current = {"Version": "2012-10-17", "Statement": []}
        kept = [s for s in current.get("Statement", []) if s.get("Sid") != statement["Sid"]]
        policy = {"Version": current.get("Version", "2012-10-17"), "Statement": [*kept, statement]}
        self.sm.put_model_package_group_policy(ModelPackageGroupName=group.name, ResourcePolicy=json.dumps(policy))
        return f"granted account {account} read access to {self.registry_id} (model package group policy)"

    def _copy_object(self, uri: str, target: AwsOperations, prefix: str) -> str:
        """Copy one S3 object into the target stack's bucket, encrypted with its key."""
        bucket, _, key = uri[len("s3://") :].partition("/")
        storage = str(target.outputs.require("storage_uri", "the platform's storage"))
        target_bucket = storage[len("s3://") :].split("/", 1)[0]
        target_key = f"{prefix}/{key.rsplit('/', 1)[-1]}"
        extra = {"ServerSideEncryption": "aws:kms"}
        key_arn = target.outputs.get("encryption_key")
        if key_arn:
            extra["SSEKMSKeyId"] = str(key_arn)
        if target.group.account == self.group.account:
            target.client("s3").copy({"Bucket": bucket, "Key": key}, target_bucket, target_key, ExtraArgs=extra)
        else:  # two accounts, two sets of credentials: read with one, write with the other
            with tempfile.TemporaryFile() as buffer:
                self.client("s3").download_fileobj(bucket, key, buffer)
                buffer.seek(0)
                target.client("s3").upload_fileobj(buffer, target_bucket, target_key, ExtraArgs=extra)
        return f"s3://{target_bucket}/{target_key}"

    # -- the training pipeline
    @property
    def pipeline_name(self) -> str:
        return Arn.parse(self.outputs.require("training_pipeline", "the training pipeline"), "training_pipeline").name

    def start_run(self) -> Run:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        started = self.sm.start_pipeline_execution(
            PipelineName=self.pipeline_name,
            PipelineExecutionDisplayName=f"mlops-run-{stamp}",
            PipelineExecutionDescription=f"started by {self._caller()} with mlops run"[:3072],
            PipelineParameters=[{"Name": TRIGGER_PARAM, "Value": PERSON}],
            ClientRequestToken=str(uuid.uuid4()),
        )
        return self.run(started["PipelineExecutionArn"])

    def run(self, run_id: str) -> Run:
        described = self.sm.describe_pipeline_execution(PipelineExecutionArn=run_id)
        params = self.sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=run_id)
        values = {p["Name"]: p["Value"] for p in params.get("PipelineParameters", [])}
        state = described.get("PipelineExecutionStatus", "")
        status = RUN_STATE.get(state, UNKNOWN)
        failure = described.get("FailureReason") or ""
        return Run(
            id=run_id,
            status=status,
            trigger=TRIGGERS.get(values.get(TRIGGER_PARAM, PERSON), UNKNOWN),
            started=iso(described.get("CreationTime")),
            ended=iso(described.get("LastModifiedTime")) if status != "running" else None,
            detail=state + (f": {failure}" if failure and failure != "None" else ""),
        )

    def runs(self, limit: int = 10) -> list[Run]:
        answer = self.sm.list_pipeline_executions(
            PipelineName=self.pipeline_name, SortBy="CreationTime", SortOrder="Descending", MaxResults=limit
        )
        summaries = answer.get("PipelineExecutionSummaries", [])[:limit]
        runs = [self.run(s["PipelineExecutionArn"]) for s in summaries]
        return sorted(runs, key=lambda r: r.started or "", reverse=True)

    # -- the endpoint
    def invoke(self, records: list[dict[str, Any]]) -> Prediction:
        endpoint = self.outputs.endpoint()
        name = Arn.parse(endpoint, "endpoint").name
        answer = self.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=name, ContentType="application/json", Accept="application/json", Body=json.dumps(records)
        )
        body = answer["Body"].read().decode("utf-8", errors="replace")
        try:
            output: Any = json.loads(body)
        except ValueError:
            output = body
        return Prediction(output=output, endpoint=endpoint)

    # -- drift
    def drift(self) -> DriftReport:
        self.outputs.endpoint()
        cloudwatch = self.client("cloudwatch")
        alarms = [Arn.parse(a, "drift_alarm").resource.split(":", 1)[-1] for a in self.outputs.get("drift_alarm") or []]
        described = cloudwatch.describe_alarms(AlarmNames=alarms)["MetricAlarms"] if alarms else []
        checked, values = read_drift_result(cloudwatch, described)
        threshold = min((float(a["Threshold"]) for a in drift_alarms(described) if "Threshold" in a), default=None)
        states = {"ALARM": "alarm", "OK": "ok", "INSUFFICIENT_DATA": "insufficient data"}
        alerts = tuple(
            AlertState(
                id=a["AlarmArn"],
                state=states.get(a.get("StateValue", ""), UNKNOWN),
                since=iso(a.get("StateUpdatedTimestamp")),
                detail=a.get("StateReason", ""),
            )
            for a in described
        )
        features = tuple(
            FeatureDrift(name, value, None if threshold is None else value > threshold)
            for name, value in sorted(values.items())
        )
        notes = [] if values else ["no drift result published yet (the drift check publishes after its first window)"]
        return DriftReport(checked, threshold, features, alerts, self.last_drift_run(), tuple(notes))

    # -- errors
    @classmethod
    def describe_error(cls, exc: BaseException) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            return f"aws: {exc.operation_name} refused: {error.get('Code', '?')}: {error.get('Message', '')}".rstrip()
        if isinstance(exc, BotoCoreError):
            return f"aws: {exc}"
        return None


OPERATIONS = AwsOperations
