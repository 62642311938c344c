"""Portable values -> GCP values, and GCP's own rules, checked before any resource is declared."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from providers.base import Target
from providers.cron import parse as parse_cron
from providers.spec import SpecError

KEY = "mlops:platform"

# Portable instance classes -> Compute Engine machine types (training steps and serving).
MACHINE_TYPES = {
    "small": "n1-standard-2",
    "medium": "n1-standard-4",
    "large": "n1-standard-8",
    "gpu": "n1-standard-8",
}
# What a KFP step may use of its machine (Vertex picks a machine that fits the limits).
STEP_LIMITS = {
    "small": ("2", "7G"),
    "medium": ("4", "15G"),
    "large": ("8", "30G"),
    "gpu": ("8", "30G"),
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
    step_limits: tuple[str, str]
    step_accelerator: tuple[str, int] | None
    serving_machine: str
    serving_accelerator: tuple[str, int] | None
    model_id: str
    endpoint_id: str
    pipeline_display_name: str
    training_schedule: str | None
    monitor_schedule: str
    sampling_rate: float
    serving_image: str


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


def endpoint_id(prefix: str) -> str:
    """`AiEndpoint.name` must be numeric (at most 10 digits): a stable number derived from the prefix."""
    return str(zlib.crc32(f"mlops-endpoint-{prefix}".encode()) % 9_000_000_000 + 1_000_000_000)


def serving_image(region: str) -> str:
    """Vertex's prebuilt scikit-learn serving container, from the nearest multi-region mirror."""
    area = {"europe": "europe", "asia": "asia", "australia": "asia", "me": "europe"}.get(region.split("-", 1)[0], "us")
    return f"{area}-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"


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
    for i, group in enumerate(platform.feature_store.feature_groups):
        gkey = f"{KEY}.feature_store.feature_groups[{i}]"
        schemas[group.name] = [
            {"name": group.entity, "type": "STRING", "mode": "REQUIRED"},
            {"name": group.event_time, "type": "TIMESTAMP", "mode": "REQUIRED"},
            *({"name": f.name, "type": BQ_TYPES[f.type], "mode": "NULLABLE"} for f in group.features),
        ]
        group_ids[group.name] = check_feature_group_id(f"{ident}_{group.name}", f"{gkey}.name")
        if group.online:
            # Views live inside the (prefixed) online store: the group name is unique there.
            views[group.name] = check_online_store_name(group.name, f"{gkey}.name")
    if views:
        store = check_online_store_name(f"{ident}_online", f"{KEY}.name")

    bucket = f"{project}-{prefix}-mlops"
    if not _BUCKET_RE.match(bucket):
        raise SpecError(f"{KEY}.name", f"bucket name {bucket!r} breaks the Cloud Storage rule {_BUCKET_RE.pattern}")
    schedule = platform.pipeline.schedule
    return GcpSettings(
        project=project,
        region=region,
        prefix=prefix,
        labels=dict(platform.all_tags),
        bucket_name=bucket,
        service_account_id=check_service_account_id(f"{prefix}-ml", f"{KEY}.name"),
        workflow_account_id=check_service_account_id(f"{prefix}-retrain", f"{KEY}.name"),
        dataset_id=f"{ident}_features",
        logs_dataset_id=f"{ident}_serving_logs",
        online_store_name=store,
        feature_views=views,
        feature_group_ids=group_ids,
        bq_schemas=schemas,
        step_limits=STEP_LIMITS[platform.pipeline.instance],
        step_accelerator=_gpu(platform.pipeline.instance, region, f"{KEY}.pipeline.instance"),
        serving_machine=MACHINE_TYPES[platform.endpoint.instance],
        serving_accelerator=_gpu(platform.endpoint.instance, region, f"{KEY}.endpoint.instance"),
        model_id=f"{prefix}-{platform.pipeline.name}".replace("_", "-"),
        endpoint_id=endpoint_id(prefix),
        pipeline_display_name=f"{prefix}-{platform.pipeline.name}",
        training_schedule=parse_cron(schedule, f"{KEY}.pipeline.schedule").unix() if schedule else None,
        monitor_schedule=parse_cron(platform.monitor.schedule, f"{KEY}.monitor.schedule").unix(),
        sampling_rate=platform.endpoint.data_capture_percent / 100,
        serving_image=serving_image(region),
    )
