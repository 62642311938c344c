"""Portable values -> GCP values, and GCP's own rules, checked before any resource is declared."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from pipelines.spec import Framework
from providers.base import Target
from providers.cron import parse as parse_cron
from providers.spec import SpecError

KEY = "mlops:platform"

# Portable sizes -> one Vertex AI machine shape, the same for training steps and for serving:
# (machine type, vCPUs, memory GB, accelerator). Each machine type is in Vertex AI's list of
# machine types for online prediction ("Configure compute resources for prediction",
# https://cloud.google.com/vertex-ai/docs/predictions/configure-compute); a pipeline step asks
# for the same vCPUs and memory (and GPU) as limits, and Vertex AI Pipelines "automatically
# selects the closest match from the supported machine types" ("Specify the machine
# configuration for a pipeline step", https://cloud.google.com/vertex-ai/docs/pipelines/machine-types;
# its default, e2-standard-4, is `medium`). NVIDIA T4 attaches to N1 machines only, hence gpu =
# n1-highmem-4 (4 vCPUs, 26 GB: n1-standard-4 has 15 GB, under the portable 16 GB).
SIZES: dict[str, tuple[str, int, int, tuple[str, int] | None]] = {
    "small": ("e2-standard-2", 2, 8, None),
    "medium": ("e2-standard-4", 4, 16, None),
    "large": ("e2-standard-8", 8, 32, None),
    "gpu": ("n1-highmem-4", 4, 26, ("NVIDIA_TESLA_T4", 1)),
}
GPU = ("NVIDIA_TESLA_T4", 1)
# Regions where Vertex AI offers NVIDIA T4 for training and online prediction (Vertex AI
# "locations" page); `gpu` elsewhere is a SpecError rather than a failed deployment.
GPU_REGIONS = frozenset(
    {
        "us-central1",
        "us-east1",
        "us-east4",
        "us-west1",
        "us-west2",
        "us-west4",
        "northamerica-northeast1",
        "southamerica-east1",
        "europe-west1",
        "europe-west2",
        "europe-west3",
        "europe-west4",
        "asia-east1",
        "asia-northeast1",
        "asia-northeast3",
        "asia-south1",
        "asia-southeast1",
        "australia-southeast1",
    }
)
# BigQuery column types for the portable feature types (legacy names: what the API echoes back,
# so a plan shows no perpetual diff).
BQ_TYPES = {
    "int": "INTEGER",
    "float": "FLOAT",
    "string": "STRING",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP",
}
CPU_METRIC = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
# Feature Store v2 reads a BigQuery source's time series from a column of this name ("If not
# provided, column named `feature_timestamp` of type `TIMESTAMP` will be used": proto
# FeatureGroup.BigQuery.TimeSeries.timestamp_column); pulumi_gcp's AiFeatureGroup cannot name
# another, so each group's feature group reads a view exposing the event time under this name.
FEATURE_TIMESTAMP = "feature_timestamp"
SOURCE_VIEW_SUFFIX = "_vertex_source"
_TIMESTAMP_NAME_TAKEN = (
    f"{FEATURE_TIMESTAMP!r} is the column Vertex AI Feature Store reads the event time from (the kit exposes "
    "event_time under that name): name this column otherwise, or name the event_time column feature_timestamp"
)
# Every write appends its rows to the group's table stamped with the write time in this column; a
# read (training, and the view Feature Store syncs from) keeps the last write of each (entity, event
# time). Not a feature: Vertex AI registers only the declared features of a group.
WRITTEN_AT = "mlops_written_at"
_WRITTEN_AT_TAKEN = f"{WRITTEN_AT!r} is the column the kit stamps each feature-store write with: rename this column"
# Where the endpoint's request-response logging writes (the drift job reads it): a table of the
# platform's request-log dataset.
REQUEST_LOG_TABLE = "request_response_logging"
# The log the drift check writes its result to (`projects/<p>/logs/mlops-drift`); routed, with the
# platform's entries only, to the platform's CMEK log bucket.
DRIFT_LOG = "mlops-drift"
LOG_RETENTION_DAYS = 30
# The subnet of the kit's VPC that holds the Private Service Connect endpoint's internal address
# (outside 10.128.0.0/9, the ranges of an auto-mode VPC, so the network can be peered with one).
PSC_SUBNET_CIDR = "10.201.0.0/28"

_REGION_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]{1,2}$")
_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_SA_ID_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# AiFeatureOnlineStore and feature view ids: at most 60 of [a-z0-9_], not starting with a digit.
_FS_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,59}$")
# AiFeatureGroup ids (CreateFeatureGroupRequest.feature_group_id): at most 128 of [a-z0-9_], not
# starting with a digit, unique in the project and region (hence `<prefix>_<group>`).
FEATURE_GROUP_ID_MAX = 128
_FG_ID_RE = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class GcpSettings:
    project: str
    region: str
    prefix: str
    labels: dict[str, str]
    bucket_name: str
    approvals_bucket: str
    """The approval records' bucket (`dynamic.approvals_bucket`): only approvers may write to it."""
    approvers: tuple[str, ...]
    """`registry.approvers`: IAM members granted objectCreator on the approvals bucket (and the approver role)."""
    service_account_id: str
    workflow_account_id: str
    dataset_id: str
    logs_dataset_id: str
    online_store_name: str | None
    feature_views: dict[str, str]
    feature_group_ids: dict[str, str]
    """group -> AiFeatureGroup id `<prefix with underscores>_<group>` (one project holds many envs)."""
    bq_schemas: dict[str, list[dict[str, str]]]
    """group -> BigQuery schema (entity, event time, features in order)."""
    source_views: dict[str, str]
    """group -> id of the BigQuery view the feature group reads: the table's columns, with the
    event time also exposed as `feature_timestamp` (Feature Store v2's time-series column)."""
    training_size: tuple[str, int, int, tuple[str, int] | None]
    """The pipeline's `SIZES` row: (machine type, vCPUs, memory GB, accelerator)."""
    serving_size: tuple[str, int, int, tuple[str, int] | None]
    step_limits: tuple[str, str]
    """What a pipeline step asks for: (vCPUs, memory), e.g. ("4", "16G")."""
    step_accelerator: tuple[str, int] | None
    serving_machine: str
    serving_accelerator: tuple[str, int] | None
    model_id: str
    endpoint_id: str
    pipeline_display_name: str
    training_schedule: str | None
    monitor_schedule: str
    drift_window_seconds: int
    """The drift job's window: `monitor.schedule`'s interval (its longest, if irregular)."""
    drift_window_regular: bool
    sampling_rate: float
    serving_image: str
    """Vertex AI's prebuilt prediction image of the pipeline's framework minor (a `:latest` tag)."""
    image_lookup: dict[str, str]
    """artifactregistry.getDockerImage arguments resolving `serving_image` to its digest."""
    io_config: dict[str, object]
    """`$MLOPS_IO` of the kit steps (providers/gcp/step_io.py): tables per group, capture table, log."""
    log_bucket_id: str
    """The CMEK Cloud Logging bucket the platform's drift-check log entries are routed to."""
    drift_log_filter: str
    """The platform's own drift-check entries: what the sink routes there and `_Default` excludes."""
    private: bool
    """Private Service Connect endpoint, reached through the kit's VPC (network.public_access false)."""
    vpc_name: str
    psc_subnet_cidr: str


def check_name(pattern: re.Pattern[str], value: str, key: str, what: str) -> str:
    if not pattern.match(value):
        raise SpecError(key, f"{what} {value!r} breaks the GCP naming rule {pattern.pattern}")
    return value


def check_service_account_id(value: str, key: str) -> str:
    if not 6 <= len(value) <= 30:
        raise SpecError(
            key,
            f"service account id {value!r} is {len(value)} characters; GCP allows 6 to 30 "
            "(shorten the platform name or environment)",
        )
    return check_name(_SA_ID_RE, value, key, "service account id")


# IAM principal identifiers a role can be granted to ("Principal identifiers",
# https://cloud.google.com/iam/docs/principal-identifiers): a Google account, group or service account
# by e-mail, a Cloud Identity / Workspace domain, a workforce or workload identity federation principal.
_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_MEMBER_RE = re.compile(
    rf"^(?:(?:user|group|serviceAccount):{_EMAIL}"
    r"|domain:[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}"
    r"|principal(?:Set)?://iam\.googleapis\.com/\S+)$"
)


def check_approvers(members: list[str], kit_accounts: tuple[str, ...], key: str) -> tuple[str, ...]:
    """`registry.approvers`: IAM members, each once; never public, never an identity the kit runs
    pipelines or retraining as (an approver must be someone other than the uploader)."""
    seen: set[str] = set()
    for i, member in enumerate(members):
        where = f"{key}[{i}]"
        if member in ("allUsers", "allAuthenticatedUsers"):
            raise SpecError(where, f"{member!r} would let anyone approve; name users, groups or service accounts")
        if not _MEMBER_RE.match(member):
            raise SpecError(
                where,
                f"{member!r} is not an IAM principal: user:EMAIL, group:EMAIL, serviceAccount:EMAIL, domain:DOMAIN "
                "or principal://iam.googleapis.com/... (https://cloud.google.com/iam/docs/principal-identifiers)",
            )
        if member in kit_accounts:
            raise SpecError(
                where, f"{member} is an identity the kit runs pipelines as; an approver must be someone else"
            )
        if member in seen:
            raise SpecError(where, f"{member} is listed twice")
        seen.add(member)
    return tuple(members)


def check_online_store_name(value: str, key: str) -> str:
    if len(value) > 60:
        raise SpecError(
            key,
            f"feature online store / view id {value!r} is {len(value)} characters; "
            "Vertex AI allows at most 60 of [a-z0-9_]",
        )
    return check_name(_FS_NAME_RE, value, key, "feature online store / view id")


def check_feature_group_id(value: str, key: str) -> str:
    if len(value) > FEATURE_GROUP_ID_MAX:
        raise SpecError(
            key,
            f"feature group id {value!r} (<name>_<environment>_<group>) is {len(value)} characters; "
            f"Vertex AI allows at most {FEATURE_GROUP_ID_MAX} of [a-z0-9_] (shorten the group name)",
        )
    return check_name(_FG_ID_RE, value, key, "feature group id")


def check_region(value: str, key: str = "gcp:region") -> str:
    """A region Vertex AI is offered in: the installed google-cloud-aiplatform SDK's own list."""
    if not _REGION_RE.match(value):
        raise SpecError(key, f"must be a GCP region such as europe-west4 (not a zone), got {value!r}")
    if value not in vertex_regions():
        raise SpecError(
            key,
            f"Vertex AI is not offered in {value!r} (google-cloud-aiplatform's SUPPORTED_REGIONS), e.g. europe-west4",
        )
    return value


def vertex_regions() -> frozenset[str]:
    """`google.cloud.aiplatform.constants.base.SUPPORTED_REGIONS`, read from the installed SDK's
    source without importing it (importing aiplatform takes seconds)."""
    import ast
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("google.cloud.aiplatform")
    if spec is None or not spec.submodule_search_locations:
        raise SpecError("mlops:cloud", "the gcp provider needs google-cloud-aiplatform: pip install -e '.[gcp]'")
    source = Path(next(iter(spec.submodule_search_locations))) / "constants" / "base.py"
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SUPPORTED_REGIONS" for t in node.targets):
            return frozenset(
                c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant) and isinstance(c.value, str)
            )
    raise SpecError("mlops:cloud", f"google-cloud-aiplatform changed: no SUPPORTED_REGIONS in {source}")


WINDOW_SAMPLE_FIRES = 400
"""How many fires of `monitor.schedule` are looked at to find its interval (16 days of an hourly one)."""


MAX_SLEEP_S = 31_536_000
"""sys.sleep "suspends execution for the given number of seconds to a maximum of 31536000 (one year)"
("Wait using polling", https://cloud.google.com/workflows/docs/sleeping): the retraining workflow
sleeps one drift window while a run is in flight, so a longer window could never be kept."""


def schedule_window(cron: str) -> tuple[int, bool]:
    """(seconds, regular): the drift window of a schedule = its interval; a schedule whose fires
    are not evenly spaced (`0 3 * * 1-5`) gets its LONGEST interval, so no logged request is left
    out of every window (the windows after a shorter interval overlap the one before)."""
    from datetime import UTC, datetime

    from croniter import croniter

    fires = croniter(cron, datetime(2025, 1, 6, tzinfo=UTC))
    times = [fires.get_next(float) for _ in range(WINDOW_SAMPLE_FIRES)]
    gaps = {round(b - a) for a, b in zip(times, times[1:], strict=False)}
    return max(gaps), len(gaps) == 1


def endpoint_id(prefix: str) -> str:
    """`AiEndpoint.name` must be numeric (at most 10 digits): a stable number derived from the prefix."""
    return str(zlib.crc32(f"mlops-endpoint-{prefix}".encode()) % 9_000_000_000 + 1_000_000_000)


# PipelineDef.framework.name -> the framework part of Vertex AI's prebuilt prediction image tags.
FRAMEWORK_TAGS = {"scikit-learn": "sklearn", "xgboost": "xgboost"}
PREBUILT_REPOSITORY = ("vertex-ai", "prediction")
"""The Artifact Registry project and repository of Vertex AI's prebuilt prediction images."""


def image_area(region: str) -> str:
    """The multi-region mirror of Vertex AI's prebuilt images nearest to `region`."""
    return {"europe": "europe", "asia": "asia", "australia": "asia", "me": "europe"}.get(region.split("-", 1)[0], "us")


def serving_image(region: str, framework: Framework) -> str:
    """Vertex AI's prebuilt CPU prediction image of exactly `framework.minor`, looked up in the
    installed aiplatform SDK's table (`constants/prediction.py` SERVING_CONTAINER_URIS); training
    steps run on the same image, so the model is trained and served on one runtime.

    The tag is `:latest` because Google supports no other tag for these images ("Prebuilt
    containers for inference": "Using image names without the latest tag isn't supported"); every
    `pulumi up` resolves it to a digest (`image_lookup` -> artifactregistry.getDockerImage) and only
    the digest is used, so a run never floats."""
    from providers.gcp.vendor_rules import prebuilt_serving_containers

    tag = FRAMEWORK_TAGS.get(framework.name)
    version = framework.minor.replace(".", "-")
    image = f"{image_area(region)}-docker.pkg.dev/{'/'.join(PREBUILT_REPOSITORY)}/{tag}-cpu.{version}:latest"
    table = prebuilt_serving_containers()
    if image not in table:
        offered = sorted(
            {v for f, a, v in table.values() if f == tag and a == "cpu"}, key=lambda v: [int(x) for x in v.split(".")]
        )
        raise SpecError(
            f"{KEY}.pipeline.name",
            f"trains with {framework.name} {framework.version}, but Vertex AI has no prebuilt prediction image for "
            f"{framework.name} {framework.minor} (google-cloud-aiplatform's SERVING_CONTAINER_URIS offers "
            f"{', '.join(offered) or 'none'}): pin the pipeline's framework to one of those",
        )
    return image


def image_lookup(image: str) -> dict[str, str]:
    """`artifactregistry.getDockerImage` arguments that resolve `image` (a tag) to its digest."""
    host, project, repository, name = image.split("/", 3)
    return {
        "location": host.removesuffix("-docker.pkg.dev"),
        "project": project,
        "repository_id": repository,
        "image_name": name,
    }


def _gpu(size: str, region: str, key: str) -> tuple[str, int] | None:
    if size != "gpu":
        return None
    if region not in GPU_REGIONS:
        raise SpecError(
            key,
            f"'gpu' maps to {GPU[0]}, which Vertex AI does not offer in {region}; "
            f"use one of {', '.join(sorted(GPU_REGIONS))}",
        )
    return GPU


def translate(target: Target) -> GcpSettings:
    platform = target.platform
    region = check_region(target.region)
    project = str(target.cloud_config["project"])
    if not _PROJECT_RE.match(project):
        raise SpecError("gcp:project", f"must be a GCP project id (6-30 of a-z, 0-9, '-'), got {project!r}")
    prefix = platform.prefix
    ident = prefix.replace("-", "_")

    store = None
    views: dict[str, str] = {}
    group_ids: dict[str, str] = {}
    schemas: dict[str, list[dict[str, str]]] = {}
    sources: dict[str, str] = {}
    for i, group in enumerate(platform.feature_store.feature_groups):
        gkey = f"{KEY}.feature_store.feature_groups[{i}]"
        schemas[group.name] = [
            {"name": group.entity, "type": "STRING", "mode": "REQUIRED"},
            {"name": group.event_time, "type": "TIMESTAMP", "mode": "REQUIRED"},
            *({"name": f.name, "type": BQ_TYPES[f.type], "mode": "NULLABLE"} for f in group.features),
            {"name": WRITTEN_AT, "type": "TIMESTAMP", "mode": "NULLABLE"},
        ]
        for column, ckey in ((group.entity, f"{gkey}.entity"), (group.event_time, f"{gkey}.event_time")):
            if column == WRITTEN_AT:
                raise SpecError(ckey, _WRITTEN_AT_TAKEN)
        for j, feature in enumerate(group.features):
            if feature.name == WRITTEN_AT:
                raise SpecError(f"{gkey}.features[{j}].name", _WRITTEN_AT_TAKEN)
        if group.event_time != FEATURE_TIMESTAMP:
            # The view adds `feature_timestamp`: no other column of the group may have that name.
            if group.entity == FEATURE_TIMESTAMP:
                raise SpecError(f"{gkey}.entity", _TIMESTAMP_NAME_TAKEN)
            for j, feature in enumerate(group.features):
                if feature.name == FEATURE_TIMESTAMP:
                    raise SpecError(f"{gkey}.features[{j}].name", _TIMESTAMP_NAME_TAKEN)
        sources[group.name] = f"{group.name}{SOURCE_VIEW_SUFFIX}"
        group_ids[group.name] = check_feature_group_id(f"{ident}_{group.name}", f"{gkey}.name")
        if group.online:
            # Views live inside the (prefixed) online store: the group name is unique there.
            views[group.name] = check_online_store_name(group.name, f"{gkey}.name")
    tables = [*sources, *sources.values()]
    for i, group in enumerate(platform.feature_store.feature_groups):
        if tables.count(group.name) > 1:
            raise SpecError(
                f"{KEY}.feature_store.feature_groups[{i}].name",
                f"{group.name!r} is also the BigQuery view of another group (<group>{SOURCE_VIEW_SUFFIX}): rename it",
            )
    if views:
        store = check_online_store_name(f"{ident}_online", f"{KEY}.name")

    bucket = f"{project}-{prefix}-mlops"
    if not _BUCKET_RE.match(bucket):
        raise SpecError(f"{KEY}.name", f"bucket name {bucket!r} breaks the Cloud Storage rule {_BUCKET_RE.pattern}")
    account_ids = (f"{prefix}-ml", f"{prefix}-retrain")
    approvers = check_approvers(
        list(platform.registry.approvers),
        tuple(f"serviceAccount:{a}@{project}.iam.gserviceaccount.com" for a in account_ids),
        f"{KEY}.registry.approvers",
    )
    schedule = platform.pipeline.schedule
    training, serving = SIZES[platform.pipeline.instance], SIZES[platform.endpoint.instance]
    image = serving_image(region, target.pipeline.framework)
    monitor_cron = parse_cron(platform.monitor.schedule, f"{KEY}.monitor.schedule").unix()
    window, regular = schedule_window(monitor_cron)
    if platform.monitor.retrain_on_drift and window > MAX_SLEEP_S:
        raise SpecError(
            f"{KEY}.monitor.schedule",
            f"{platform.monitor.schedule!r} leaves up to {window} s between drift checks; with retrain_on_drift the "
            f"retraining workflow sleeps one window and Workflows' sys.sleep allows at most {MAX_SLEEP_S} s "
            "(one year): run the drift check at least once a year",
        )
    dataset, logs_dataset = f"{ident}_features", f"{ident}_serving_logs"
    groups = {g.name: g for g in platform.feature_store.feature_groups}
    io_config: dict[str, object] = {
        "kind": "gcp",
        "project": project,
        "location": region,
        "platform": prefix,
        "features": {
            read.group: {
                "table": f"{project}.{dataset}.{read.group}",
                "schema": schemas[read.group],
                "entity": groups[read.group].entity,
                "event_time": groups[read.group].event_time,
            }
            for read in target.pipeline.contract.reads
            if read.group in groups
        },
        "written_at": WRITTEN_AT,
        "capture": f"{project}.{logs_dataset}.{REQUEST_LOG_TABLE}",
        "drift_log": DRIFT_LOG,
    }
    return GcpSettings(
        project=project,
        region=region,
        prefix=prefix,
        labels=dict(platform.all_tags),
        bucket_name=bucket,
        approvals_bucket=f"{project}-{prefix}-gate",
        approvers=approvers,
        service_account_id=check_service_account_id(f"{prefix}-ml", f"{KEY}.name"),
        workflow_account_id=check_service_account_id(f"{prefix}-retrain", f"{KEY}.name"),
        dataset_id=dataset,
        logs_dataset_id=logs_dataset,
        online_store_name=store,
        feature_views=views,
        feature_group_ids=group_ids,
        bq_schemas=schemas,
        source_views=sources,
        training_size=training,
        serving_size=serving,
        step_limits=(str(training[1]), f"{training[2]}G"),
        step_accelerator=_gpu(platform.pipeline.instance, region, f"{KEY}.pipeline.instance"),
        serving_machine=serving[0],
        serving_accelerator=_gpu(platform.endpoint.instance, region, f"{KEY}.endpoint.instance"),
        model_id=f"{prefix}-{platform.pipeline.name}".replace("_", "-"),
        endpoint_id=endpoint_id(prefix),
        pipeline_display_name=f"{prefix}-{platform.pipeline.name}",
        training_schedule=parse_cron(schedule, f"{KEY}.pipeline.schedule").unix() if schedule else None,
        monitor_schedule=monitor_cron,
        drift_window_seconds=window,
        drift_window_regular=regular,
        sampling_rate=platform.endpoint.data_capture_percent / 100,
        serving_image=image,
        image_lookup=image_lookup(image),
        io_config=io_config,
        log_bucket_id=f"{prefix}-mlops-logs",
        drift_log_filter=f'logName="projects/{project}/logs/{DRIFT_LOG}" AND jsonPayload.mlops_platform="{prefix}"',
        private=not platform.network.public_access,
        vpc_name=f"{prefix}-mlops",
        psc_subnet_cidr=PSC_SUBNET_CIDR,
    )
