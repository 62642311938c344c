"""Portable values -> AWS values, and AWS's own rules, checked before any resource is declared."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipelines.spec import PipelineDef, requirement_pins
from providers.aws import approval
from providers.base import Target
from providers.cron import Field, compress
from providers.cron import parse as parse_cron
from providers.spec import SpecError

KEY = "mlops:platform"

# Portable size -> (SageMaker instance type, vCPUs, memory GiB, GPU). The same family trains and
# serves. Figures: EC2's DescribeInstanceTypes (m5.large 2/8, m5.xlarge 4/16, m5.2xlarge 8/32,
# g4dn.xlarge 4/16 + 1 NVIDIA T4: "Amazon EC2 M5 Instances", https://aws.amazon.com/ec2/instance-types/m5/,
# "Amazon EC2 G4 Instances", https://aws.amazon.com/ec2/instance-types/g4/); tests/aws/test_sizes.py
# holds them against moto's capture of DescribeInstanceTypes and the sagemaker SDK's
# instance_gpu_info.json. The portable table is in docs/aws.md.
SIZES: dict[str, tuple[str, int, int, tuple[str, int] | None]] = {
    "small": ("ml.m5.large", 2, 8, None),
    "medium": ("ml.m5.xlarge", 4, 16, None),
    "large": ("ml.m5.2xlarge", 8, 32, None),
    "gpu": ("ml.g4dn.xlarge", 4, 16, ("NVIDIA T4", 1)),
}
# Instance families whose storage is local NVMe, encrypted by the instance's hardware: SageMaker
# refuses a VolumeKmsKeyId (processing, training) or an endpoint configuration KmsKeyId for them
# (botocore's sagemaker model, ProcessingClusterConfig.VolumeKmsKeyId / ResourceConfig.VolumeKmsKeyId /
# CreateEndpointConfigInput.KmsKeyId documentation). No machine-readable list ships with botocore
# or the sagemaker SDK; the families are those of SageMaker's "Instance store volumes" page,
# https://docs.aws.amazon.com/sagemaker/latest/dg/host-instance-storage.html, and
# tests/aws/test_sizes.py checks every size against moto's capture of EC2 DescribeInstanceTypes
# (InstanceStorageSupported).
LOCAL_NVME_FAMILIES = frozenset(
    {"c5d", "c6id", "g4dn", "g5", "g6", "g6e", "m5d", "m6id", "p3dn", "p4d", "p4de", "p5", "r5d", "r6id", "trn1"}
)


def has_local_nvme(instance_type: str) -> bool:
    """True for an ``ml.<family>.<size>`` whose storage is local NVMe (no KMS key may be named)."""
    return instance_type.split(".")[1] in LOCAL_NVME_FAMILIES


def processing_instance(training_instance: str) -> str:
    """The instance of the processing steps (and the Model Monitor baseline): the training instance,
    or for a GPU size the CPU size of the same vCPUs and memory (gpu -> ml.m5.xlarge). Only the train
    step uses a GPU; the Spark analyzer and pandas steps cannot."""
    for instance, vcpus, memory, gpu in SIZES.values():
        if instance == training_instance and gpu:
            return next(t for t, v, m, g in SIZES.values() if (v, m, g) == (vcpus, memory, None))
    return training_instance


def serving_instances(image: FrameworkImage) -> tuple[str, ...]:
    """Every size's instance the image can serve on, in the size table's order: what a registered
    model package lists as supported, so a version stays deployable when ``endpoint.instance`` changes."""
    return tuple(instance for instance, _, _, gpu in SIZES.values() if image.gpu or gpu is None)


# The framework of a pipeline -> the sagemaker SDK's image table (image_uri_config/<table>.json).
FRAMEWORK_IMAGE_TABLES = {"scikit-learn": "sklearn", "xgboost": "xgboost"}

# The Python of an image whose version in the SDK's table does not say it (``-py312`` does). Each
# from the image's own Dockerfile (cited in docs/aws.md, "Framework images and their Python"):
# aws/sagemaker-xgboost-container docker/1.7-1/final/Dockerfile.cpu, ``ARG PYTHON_VERSION=3.8``.
# (Its base Dockerfile said 3.9 in its last state before the directory became ``1.7-1-1`` with 3.10,
# commit ec28c4b: the sources disagree, so the older Python is assumed; no example pipeline uses it.)
# An image of neither kind is never chosen: what its pins need could not be checked.
IMAGE_PYTHON: dict[tuple[str, str], tuple[int, int]] = {
    ("xgboost", "1.7-1"): (3, 8),
}

# Requires-Python of the pins the example pipelines use, as PyPI's metadata of each release states
# it (``pip install --dry-run --report``, docs/aws.md): the oldest Python each installs on. A pin
# missing here is not checked offline; the wheelhouse build (``pip download --python-version``)
# checks every pin for real.
REQUIRES_PYTHON: dict[tuple[str, str], tuple[int, int]] = {
    ("joblib", "1.4.2"): (3, 8),
    ("numpy", "1.26.4"): (3, 9),
    ("pandas", "2.2.3"): (3, 9),
    ("pandera", "0.20.4"): (3, 7),
    ("scikit-learn", "1.4.2"): (3, 9),
    ("scipy", "1.13.1"): (3, 9),
    ("xgboost", "1.7.6"): (3, 8),
}

# SageMaker Feature Store knows three types; bool is stored as 0/1, timestamps as ISO-8601 text
# (the format SageMaker requires for its event-time feature).
SAGEMAKER_FEATURE_TYPES = {
    "int": "Integral",
    "float": "Fractional",
    "string": "String",
    "bool": "Integral",
    "timestamp": "String",
}
# botocore's sagemaker model, CreateFeatureGroup: `Description` is a string of at most 128 characters.
FEATURE_GROUP_DESCRIPTION_MAX = 128
# SageMaker resource names: letters, digits, hyphens; 63 characters.
_SAGEMAKER_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# Feature group and feature names also allow underscores; 64 characters.
_FEATURE_NAME_RE = re.compile(r"^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}$")


@dataclass(frozen=True)
class FrameworkImage:
    """The prebuilt SageMaker image a pipeline trains and serves with, from the sagemaker SDK's table."""

    table: str
    """The SDK's image table (``sklearn``, ``xgboost``): ``image_uris.retrieve``'s framework."""
    version: str
    """The image version, e.g. ``1.4-2-py312`` (in both the training and the inference scope)."""
    python: str
    """The image's Python (``3.12``): from its version (``-py312``), else from ``IMAGE_PYTHON``."""
    gpu: bool
    """The same image runs on GPU instances (the table lists ``gpu``, or no processors at all)."""
    ships: tuple[str, ...] = ()
    """Distributions the model needs that the image lacks (the framework, when the model is served
    from the scikit-learn image): the training step copies them into the model (``mlops_model.save``)."""


@dataclass(frozen=True)
class RolloutSettings:
    """SageMaker deployment guardrails (CreateEndpoint/UpdateEndpoint ``DeploymentConfig``) for a
    canary or linear rollout: a blue/green update that shifts traffic in steps and rolls back when
    one of the kit's alarms trips ("Deployment guardrails for updating models in production",
    https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails.html)."""

    traffic: str
    """``CANARY`` or ``LINEAR`` (botocore's TrafficRoutingConfigType)."""
    step_percent: int
    """The canary's or each linear step's share (``CapacitySize`` of type ``CAPACITY_PERCENT``)."""
    wait_seconds: int
    """``WaitIntervalInSeconds`` (the bake between steps; botocore allows 0-3600)."""
    maximum_seconds: int
    """``MaximumExecutionTimeoutInSeconds`` (600-28800): longer than every wait of the rollout."""
    error_rate: float | None
    p99_latency_us: int | None
    """``ModelLatency`` is in microseconds ("Amazon SageMaker AI metrics in Amazon CloudWatch")."""


@dataclass(frozen=True)
class AwsSettings:
    region: str
    prefix: str
    training_instance: str
    endpoint_instance: str
    endpoint_vcpus: int
    training_volume_kms: bool
    """False for local-NVMe instance types: SageMaker refuses a volume key for them."""
    endpoint_volume_kms: bool
    image: FrameworkImage
    private_network: bool
    """``network.public_access: false``: jobs, model and monitor in the kit's private subnets, every
    job network-isolated, the step requirements installed from the wheelhouse."""
    feature_types: dict[str, dict[str, str]]
    """group -> feature (including entity and event time) -> SageMaker feature type."""
    feature_group_names: dict[str, str]
    model_package_group: str
    pipeline_name: str
    training_schedule: str | None
    schedule_name: str
    """Explicit: the schedule's ARN is in the starter role's KMS condition before it exists."""
    retrain_rule_name: str
    """Explicit: the rule's ARN is in the key policy and the dead-letter queue policy."""
    endpoint_name: str
    """``<prefix>-endpoint-<size>``: a new size is a new endpoint (see endpoint.py)."""
    monitor_schedule: str
    """The drift check's cron for EventBridge Scheduler (kit) or Model Monitor (builtin): the same
    string, since only the forms Model Monitor documents are accepted (a fixed interval)."""
    monitor_image: str
    image_repositories: tuple[str, ...]
    """ECR repository ARNs of the images the execution role pulls (the framework's, the analyzer's)."""
    engine: str = "kit"
    """``kit``: the kit's drift job; ``builtin``: SageMaker Model Monitor (DataQuality)."""
    drift_window_hours: int = 1
    """The schedule's interval: each check compares the requests captured since the previous one."""
    drift_schedule_name: str = ""
    drift_schedule_group: str = ""
    drift_namespace: str = ""
    """The CloudWatch namespace the kit's drift job publishes to and the alarms watch."""
    retrain_cooldown_hours: int = 24
    guard_function_name: str = ""
    """The Lambda that starts at most one drift retraining per episode (retrain_guard.py)."""
    rollout: RolloutSettings | None = None
    """None: ``all_at_once`` (SageMaker's default blue/green update, no bake, no rollback)."""
    shadow_version: int | None = None
    shadow_weight: float | None = None
    registration_status: str = "PendingManualApproval"
    """The one `ModelApprovalStatus` the execution role may register a version with (approval.py)."""
    approvers: tuple[str, ...] = ()
    """`registry.approvers`: IAM role/user/group ARNs the approver policy is attached to."""
    approver_policy_name: str = ""
    evaluation_reports: str = ""
    """Object key pattern of the evaluation reports the register step attaches to each version."""
    """The shadow variant's ``InitialVariantWeight`` next to the production variant's 1.0."""


def to_eventbridge_cron(cron: str, key: str) -> str:
    """Portable cron -> EventBridge `cron(min hour dom month dow year)`.

    EventBridge needs `?` in one of day-of-month / day-of-week, numbers days 1-7 from Sunday and
    allows no `/` in day-of-week (a step there is written out as a list). Rendered from the parsed
    values (providers/cron.py), never from the text, so `0-7` is every day and `1-fri` Monday to
    Friday.
    """
    parsed = parse_cron(cron, key)
    minute, hour, dom, month = (_aws_field(f) for f in parsed.fields[:4])
    if parsed.day_of_week.every:
        dow = "?"
    else:
        dom = "?"
        dow = compress(sorted(day + 1 for day in parsed.day_of_week.values))  # Sunday = 1
    return f"cron({minute} {hour} {dom} {month} {dow} *)"


def _aws_field(field: Field) -> str:
    """`*`, `start/step` (EventBridge's documented increment form) or a list of values/ranges."""
    if field.every:
        return "*"
    progression = field.progression()
    return f"{progression[0]}/{progression[1]}" if progression else compress(field.sorted())


def to_monitor_cron(cron: str, key: str) -> str:
    """SageMaker Model Monitor documents only `cron(0 * ? * * *)`, `cron(0 H ? * * *)` and
    `cron(0 H/N ? * * *)` (hourly, daily at H, every N hours from H; the API reference's
    ScheduleConfig): anything else is refused. The kit's drift job keeps the same forms: each check
    compares the window since the previous one, so the interval must be fixed."""
    parsed = parse_cron(cron, key)
    refuse = SpecError(
        key,
        f"{cron!r}: on AWS the drift check runs on the hour at a fixed interval (its window), hourly, every N "
        "hours (N dividing 24) or daily, as SageMaker Model Monitor's ScheduleConfig documents: use "
        "'0 * * * *', '0 */N * * *' or '0 H * * *'",
    )
    if parsed.minute.values != {0} or not all(f.every for f in parsed.fields[2:]):
        raise refuse
    hours = parsed.hour.sorted()
    if parsed.hour.every:
        return "cron(0 * ? * * *)"
    if len(hours) == 1:
        return f"cron(0 {hours[0]} ? * * *)"
    # `H/N`: every N hours from H. Only where N divides 24 and H < N, so that "every N hours" and
    # the hours of the day the portable cron names are the same runs, today and tomorrow.
    start, step = hours[0], hours[1] - hours[0]
    if 24 % step or start >= step or hours != list(range(start, 24, step)):
        raise refuse
    return f"cron(0 {start}/{step} ? * * *)"


def drift_window_hours(monitor_cron: str) -> int:
    """The interval of a schedule `to_monitor_cron` accepted: 1 (hourly), N (`H/N`) or 24 (daily)."""
    hours = monitor_cron.removeprefix("cron(").split()[1]
    if hours == "*":
        return 1
    if "/" in hours:
        return int(hours.split("/")[1])
    return 24


# Deployment guardrails' limits (botocore's sagemaker model: WaitIntervalInSeconds 0-3600,
# MaximumExecutionTimeoutInSeconds 600-28800; LinearStepSize "must be 10-50% of the variant's total
# instance count", CanarySize "less than or equal to 50%").
WAIT_MAX_SECONDS = 3600
EXECUTION_MAX_SECONDS = 28800
EXECUTION_MIN_SECONDS = 600
LINEAR_STEP_MIN_PERCENT = 10
PROVISIONING_SECONDS = 1800
"""Room in the execution timeout for SageMaker to bring up the new fleet before the first step."""


def rollout_settings(platform: Any) -> RolloutSettings | None:
    rollout = platform.endpoint.rollout
    key = f"{KEY}.endpoint.rollout"
    if rollout.strategy == "all_at_once":
        return None
    wait = rollout.bake_minutes * 60
    if wait > WAIT_MAX_SECONDS:
        raise SpecError(
            f"{key}.bake_minutes",
            f"is {rollout.bake_minutes}; SageMaker bakes at most {WAIT_MAX_SECONDS // 60} minutes between traffic "
            "steps (TrafficRoutingConfig WaitIntervalInSeconds, 0-3600)",
        )
    if rollout.strategy == "linear":
        if rollout.step_percent < LINEAR_STEP_MIN_PERCENT:
            raise SpecError(
                f"{key}.step_percent",
                f"is {rollout.step_percent}; a SageMaker linear step is 10-50% of the variant's capacity "
                "(TrafficRoutingConfig LinearStepSize)",
            )
        steps, percent, traffic = -(-100 // rollout.step_percent), rollout.step_percent, "LINEAR"
    else:
        steps, percent, traffic = 2, rollout.canary_percent, "CANARY"
    needed = steps * wait + PROVISIONING_SECONDS
    if needed > EXECUTION_MAX_SECONDS:
        raise SpecError(
            f"{key}.bake_minutes",
            f"{steps} steps of {rollout.bake_minutes} minutes take longer than a SageMaker deployment may run "
            f"({EXECUTION_MAX_SECONDS // 3600} hours, BlueGreenUpdatePolicy MaximumExecutionTimeoutInSeconds): "
            "bake less or take larger steps",
        )
    rollback = rollout.rollback_on
    return RolloutSettings(
        traffic=traffic,
        step_percent=percent,
        wait_seconds=wait,
        maximum_seconds=max(EXECUTION_MIN_SECONDS, needed),
        error_rate=rollback.error_rate,
        p99_latency_us=rollback.p99_latency_ms * 1000 if rollback.p99_latency_ms is not None else None,
    )


def _check(pattern: re.Pattern[str], value: str, key: str, what: str) -> str:
    if not pattern.match(value):
        raise SpecError(key, f"{what} {value!r} breaks the SageMaker naming rule {pattern.pattern}")
    return value


def translate(target: Target) -> AwsSettings:
    platform = target.platform
    region = check_region(target.region)
    prefix = platform.prefix
    groups: dict[str, str] = {}
    types: dict[str, dict[str, str]] = {}
    for i, group in enumerate(platform.feature_store.feature_groups):
        gkey = f"{KEY}.feature_store.feature_groups[{i}]"
        groups[group.name] = _check(_FEATURE_NAME_RE, f"{prefix}-{group.name}", f"{gkey}.name", "feature group name")
        if len(group.description) > FEATURE_GROUP_DESCRIPTION_MAX:
            raise SpecError(
                f"{gkey}.description",
                f"is {len(group.description)} characters; SageMaker allows at most "
                f"{FEATURE_GROUP_DESCRIPTION_MAX} (CreateFeatureGroup Description)",
            )
        columns = {group.entity: "String", group.event_time: "String"}
        for feature in group.features:
            _check(_FEATURE_NAME_RE, feature.name, f"{gkey}.features", "feature name")
            columns[feature.name] = SAGEMAKER_FEATURE_TYPES[feature.type]
        types[group.name] = columns
    pipeline_name = _check(
        _SAGEMAKER_NAME_RE, f"{prefix}-{platform.pipeline.name}", f"{KEY}.pipeline.name", "pipeline name"
    )
    image = framework_image(target.pipeline, f"{KEY}.pipeline.name")
    for key, size in (
        (f"{KEY}.pipeline.instance", platform.pipeline.instance),
        (f"{KEY}.endpoint.instance", platform.endpoint.instance),
    ):
        if SIZES[size][3] and not image.gpu:
            fw = target.pipeline.framework
            raise SpecError(
                key,
                f"gpu ({SIZES[size][0]}): pipeline {target.pipeline.name!r} is {fw.name} {fw.version}, and the "
                f"sagemaker SDK's image table ({image.table}.json, version {image.version}) has no GPU image for it; "
                "use small, medium or large",
            )
    # The drift check runs on a fixed interval (its window), as Model Monitor documents its schedules;
    # the kit's drift job uses the same expression with EventBridge Scheduler, which accepts it.
    monitor_cron = to_monitor_cron(platform.monitor.schedule, f"{KEY}.monitor.schedule")
    shadow = platform.endpoint.shadow
    training_type, _, _, _ = SIZES[platform.pipeline.instance]
    endpoint_type, endpoint_vcpus, _, _ = SIZES[platform.endpoint.instance]
    schedule = platform.pipeline.schedule
    return AwsSettings(
        region=region,
        prefix=prefix,
        training_instance=training_type,
        endpoint_instance=endpoint_type,
        endpoint_vcpus=endpoint_vcpus,
        training_volume_kms=not has_local_nvme(training_type),
        endpoint_volume_kms=not has_local_nvme(endpoint_type),
        image=image,
        private_network=not platform.network.public_access,
        feature_types=types,
        feature_group_names=groups,
        model_package_group=_check(_SAGEMAKER_NAME_RE, f"{prefix}-models", f"{KEY}.name", "model package group"),
        pipeline_name=pipeline_name,
        training_schedule=to_eventbridge_cron(schedule, f"{KEY}.pipeline.schedule") if schedule else None,
        schedule_name=f"{prefix}-training",
        retrain_rule_name=f"{prefix}-retrain-on-drift",
        endpoint_name=_check(
            _SAGEMAKER_NAME_RE, f"{prefix}-endpoint-{platform.endpoint.instance}", f"{KEY}.name", "endpoint name"
        ),
        monitor_image=model_monitor_image(region),
        # The analyzer image only where Model Monitor runs (the builtin engine's baseline and monitor).
        image_repositories=(
            framework_repository_arn(image, region),
            *([repository_arn(model_monitor_image(region))] if platform.monitor.engine == "builtin" else []),
        ),
        monitor_schedule=monitor_cron,
        engine=platform.monitor.engine,
        drift_window_hours=drift_window_hours(monitor_cron),
        drift_schedule_name=f"{prefix}-drift-check",
        drift_schedule_group=f"{prefix}-drift",
        drift_namespace=f"mlops/{prefix}",
        retrain_cooldown_hours=platform.monitor.retrain_cooldown_hours,
        guard_function_name=f"{prefix}-retrain-guard",
        rollout=rollout_settings(platform),
        shadow_version=shadow.model_version if shadow else None,
        shadow_weight=shadow.sample_percent / 100 if shadow else None,
        registration_status=approval.REGISTRATION_STATUS[platform.registry.approval],
        approvers=approval.check_approvers(platform.registry.approvers, prefix, f"{KEY}.registry.approvers"),
        approver_policy_name=approval.policy_name(prefix),
        evaluation_reports=f"runs/{target.pipeline.name}/*/{target.pipeline.metrics_file}",
    )


def check_region(region: str, key: str = "aws:region") -> str:
    """A region of botocore's partition data (endpoints.json) where SageMaker has an endpoint.

    Read as data, like the image table below: importing boto3 here would cost every plan time."""
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        raise SpecError("mlops:cloud", "the aws provider needs botocore: pip install -e '.[aws]'")
    data = json.loads((Path(next(iter(spec.submodule_search_locations))) / "data/endpoints.json").read_text())
    for partition in data["partitions"]:
        if region in partition["regions"]:
            sagemaker = partition["services"].get("api.sagemaker", {}).get("endpoints", {})
            if region not in sagemaker:
                raise SpecError(key, f"SageMaker is not offered in {region} (botocore's endpoint data)")
            return region
    raise SpecError(key, f"must be an AWS region such as eu-west-1 (botocore's partition data has no {region!r})")


def _sdk_table(name: str) -> dict:
    """The sagemaker SDK's image table ``image_uri_config/<name>.json``, read as data.

    No SDK import: importing sagemaker needs a region and takes over a second."""
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.find_spec("sagemaker")
    if spec is None or not spec.submodule_search_locations:
        raise SpecError("mlops:cloud", "the aws provider needs the sagemaker package: pip install -e '.[aws]'")
    return json.loads(
        (Path(next(iter(spec.submodule_search_locations))) / f"core/image_uri_config/{name}.json").read_text()
    )


_IMAGE_VERSION_RE = re.compile(r"^(?P<minor>\d+\.\d+)-(?P<build>\d+)(?:-py(?P<py>\d)(?P<pyminor>\d+))?$")


def framework_image(pipeline: PipelineDef, key: str) -> FrameworkImage:
    """The SageMaker image that both trains and serves the pipeline, from the sagemaker SDK's table.

    A model that wraps scikit-learn (its requirements pin ``scikit-learn``, as fraud's Pipeline
    around XGBClassifier does) is served from the scikit-learn image of that pin's ``major.minor``
    (a pickle of one scikit-learn minor can fail to load in another), and a framework other than
    scikit-learn ships inside the model (``FrameworkImage.ships``). Otherwise the framework's own
    image of ``PipelineDef.framework``'s minor. The image's Python must install every pin
    (``REQUIRES_PYTHON``), or a SpecError names the pin and its rule.
    """
    fw = pipeline.framework
    pins = requirement_pins(pipeline.requirements.read_text(encoding="utf-8"))
    ships: tuple[str, ...]
    if fw.name != "scikit-learn" and "scikit-learn" in pins:
        package, minor, ships = "scikit-learn", ".".join(pins["scikit-learn"].split(".")[:2]), (fw.name,)
    else:
        package, minor, ships = fw.name, fw.minor, ()
    name = FRAMEWORK_IMAGE_TABLES.get(package)
    if name is None:
        raise SpecError(key, f"pipeline {pipeline.name!r}: SageMaker has no prebuilt image table for {package}")
    table = _sdk_table(name)
    training, inference = table["training"]["versions"], table["inference"]["versions"]

    def rank(version: str) -> tuple[int, int]:
        m = _IMAGE_VERSION_RE.match(version)
        assert m is not None
        return int(m["build"]), int(m["pyminor"] or 0)

    both = [
        v for v in training if v in inference and (m := _IMAGE_VERSION_RE.match(v)) is not None and m["minor"] == minor
    ]
    if not both:
        raise SpecError(
            key,
            f"pipeline {pipeline.name!r} uses {package} {minor}: the sagemaker SDK's image table ({name}.json) "
            f"has no image of {minor} for both training and serving",
        )
    version = max(both, key=rank)
    python = image_python(name, version)
    if python is None:
        raise SpecError(
            key,
            f"pipeline {pipeline.name!r}: the SageMaker {name} image {version} does not name its Python, and "
            "translate.IMAGE_PYTHON has no entry for it (add one from the image's Dockerfile)",
        )
    for pin, pinned in sorted(pins.items()):
        needs = REQUIRES_PYTHON.get((pin, pinned))
        if needs is not None and python < needs:
            raise SpecError(
                key,
                f"pipeline {pipeline.name!r} pins {pin}=={pinned}, which requires Python >={needs[0]}.{needs[1]} "
                f"(its PyPI Requires-Python); the SageMaker {name} image {version} runs Python {python[0]}.{python[1]}",
            )
    # A version with no processors listed is one image for every processor (image_uris._processor).
    gpu = all("gpu" in (scope[version].get("processors") or ["gpu"]) for scope in (training, inference))
    return FrameworkImage(table=name, version=version, python=f"{python[0]}.{python[1]}", gpu=gpu, ships=ships)


def image_python(table: str, version: str) -> tuple[int, int] | None:
    """The Python of an image: its version's ``-pyNNN`` suffix, else ``IMAGE_PYTHON``, else None."""
    m = _IMAGE_VERSION_RE.match(version)
    if m is not None and m["py"]:
        return int(m["py"]), int(m["pyminor"])
    return IMAGE_PYTHON.get((table, version))


def repository_arn(image_uri: str) -> str:
    """``<account>.dkr.ecr.<region>.<domain>/<repo>:<tag>`` -> the ECR repository's ARN."""
    host, _, rest = image_uri.partition("/")
    account, _, _, region = host.split(".")[:4]
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    return f"arn:{partition}:ecr:{region}:{account}:repository/{rest.split(':')[0]}"


def framework_repository_arn(image: FrameworkImage, region: str) -> str:
    """The ECR repository of the framework image in ``region``, from the SDK's table."""
    version = _sdk_table(image.table)["training"]["versions"][image.version]
    account = version["registries"].get(region)
    if account is None:
        raise SpecError(
            "aws:region", f"the sagemaker SDK's {image.table} image {image.version} is not offered in {region}"
        )
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    return f"arn:{partition}:ecr:{region}:{account}:repository/{version['repository']}"


def model_monitor_image(region: str) -> str:
    """The region's Model Monitor analyzer image, from the sagemaker SDK's own table.

    Read as data (no SDK import: importing sagemaker needs a region and takes over a second).
    """
    version = _sdk_table("model-monitor")["versions"][""]
    account = version["registries"].get(region)
    if account is None:
        raise SpecError("aws:region", f"SageMaker Model Monitor is not offered in {region}")
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{version['repository']}:latest"


INVOCATION_NAMESPACE = "AWS/SageMaker"
"""Endpoint invocation metrics (`Invocation5XXErrors`, `ModelLatency` in microseconds), dimensions
`EndpointName` and `VariantName` ("Amazon SageMaker AI metrics in Amazon CloudWatch",
https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html)."""


def rollback_alarms(settings: AwsSettings) -> list[dict[str, Any]]:
    """The alarms a rollout rolls back on: the average of `Invocation5XXErrors` (1 per failed
    invocation, 0 otherwise: the share that failed) over a bake, and the p99 of `ModelLatency`.

    `fleet` "new": the alarm adds the dimension `EndpointConfigName` = the configuration a rollout
    deploys, which isolates the new fleet. AWS documents that dimension for `ModelLatency` ("Auto-Rollback
    Configuration and Monitoring", example "Monitor model latency on new fleet":
    https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html); for
    `Invocation5XXErrors` the page's example ("Monitor invocation errors on both old and new fleets")
    uses `EndpointName` + `VariantName` only, so the new-fleet error alarm is an assumption: were
    the metric not published with that dimension, the alarm would see only missing data and stay OK.
    `fleet` "all": the same error rate over the whole variant (both fleets, the page's own example),
    a second rollback alarm, so the error-rate rollback degrades to a diluted signal, never to none."""
    rollout = settings.rollout
    if rollout is None:
        return []
    alarms = []
    if rollout.error_rate is not None:
        alarms.append(
            {
                "suffix": "error-rate",
                "name": f"{settings.prefix}-rollout-error-rate",
                "description": (
                    f"Share of failed invocations of {settings.endpoint_name}'s new fleet (the endpoint "
                    f"configuration a rollout deploys) above {rollout.error_rate}"
                ),
                "metric": "Invocation5XXErrors",
                "statistic": {"statistic": "Average"},
                "threshold": rollout.error_rate,
                "fleet": "new",
            }
        )
        alarms.append(
            {
                "suffix": "error-rate-all",
                "name": f"{settings.prefix}-rollout-error-rate-all",
                "description": (
                    f"Share of failed invocations of {settings.endpoint_name}'s variant (old and new fleet "
                    f"together) above {rollout.error_rate}"
                ),
                "metric": "Invocation5XXErrors",
                "statistic": {"statistic": "Average"},
                "threshold": rollout.error_rate,
                "fleet": "all",
            }
        )
    if rollout.p99_latency_us is not None:
        alarms.append(
            {
                "suffix": "p99-latency",
                "name": f"{settings.prefix}-rollout-p99-latency",
                "description": (
                    f"p99 model latency of {settings.endpoint_name}'s new fleet (the endpoint "
                    f"configuration a rollout deploys) above {rollout.p99_latency_us} us"
                ),
                "metric": "ModelLatency",
                "statistic": {"extended_statistic": "p99"},
                "threshold": float(rollout.p99_latency_us),
                "fleet": "new",
            }
        )
    return alarms
