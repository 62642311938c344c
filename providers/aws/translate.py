"""Portable values -> AWS values, and AWS's own rules, checked before any resource is declared."""

from __future__ import annotations

import re
from dataclasses import dataclass

from providers.base import Target
from providers.spec import SpecError

KEY = "mlops:platform"

# Portable instance classes. Training/processing and hosting use the same families.
INSTANCE_TYPES = {
    "small": "ml.m5.large",
    "medium": "ml.m5.xlarge",
    "large": "ml.m5.4xlarge",
    "gpu": "ml.g5.xlarge",
}
VCPUS = {"ml.m5.large": 2, "ml.m5.xlarge": 4, "ml.m5.4xlarge": 16, "ml.g5.xlarge": 4}
# SageMaker Feature Store knows three types; bool is stored as 0/1, timestamps as ISO-8601 text
# (the format SageMaker requires for its event-time feature).
SAGEMAKER_FEATURE_TYPES = {
    "int": "Integral",
    "float": "Fractional",
    "string": "String",
    "bool": "Integral",
    "timestamp": "String",
}
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
# SageMaker resource names: letters, digits, hyphens; 63 characters.
_SAGEMAKER_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# Feature group and feature names also allow underscores; 64 characters.
_FEATURE_NAME_RE = re.compile(r"^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}$")


@dataclass(frozen=True)
class AwsSettings:
    region: str
    prefix: str
    training_instance: str
    endpoint_instance: str
    endpoint_vcpus: int
    feature_types: dict[str, dict[str, str]]
    """group -> feature (including entity and event time) -> SageMaker feature type."""
    feature_group_names: dict[str, str]
    model_package_group: str
    pipeline_name: str
    training_schedule: str | None
    monitor_schedule: str
    monitor_image: str


def _aws_day_of_week(field: str, key: str) -> str:
    """Cron day-of-week (0-7, Sunday = 0 or 7) -> EventBridge (1-7, Sunday = 1).

    Each list item is `*`, a name, a number, or a range, with an optional `/step` that is kept
    as is (a step counts days, not day numbers). A range that would wrap past Saturday in AWS's
    numbering (`5-7`) cannot be expressed as one range and is rejected.
    """
    items = []
    for item in field.split(","):
        base, slash, step = item.partition("/")
        if base == "*" or not any(ch.isdigit() for ch in base):
            items.append(item)  # `*`, `*/2`, MON, MON-FRI: the same in both dialects
            continue
        start, dash, end = base.partition("-")
        first = int(start) % 7 + 1
        if dash:
            last = int(end) % 7 + 1
            if last < first:
                raise SpecError(
                    key,
                    f"day-of-week range {base!r} wraps past Saturday on AWS; split it, e.g. "
                    "'5-6,0' for Friday to Sunday",
                )
            mapped = f"{first}-{last}"
        else:
            mapped = str(first)
        items.append(mapped + (slash + step if slash else ""))
    return ",".join(items)


def to_eventbridge_cron(cron: str, key: str) -> str:
    """Five-field UTC cron -> EventBridge `cron(min hour dom month dow year)`.

    EventBridge needs `?` in one of day-of-month / day-of-week and numbers days 1-7 from Sunday.
    """
    minute, hour, dom, month, dow = cron.split()
    if dom != "*" and dow != "*":
        raise SpecError(key, "AWS cannot schedule on both a day of month and a day of week; use '*' in one")
    if dow == "*":
        dow = "?"
    else:
        dom = "?"
        dow = _aws_day_of_week(dow, key)
    return f"cron({minute} {hour} {dom} {month} {dow} *)"


def to_monitor_cron(cron: str, key: str) -> str:
    """SageMaker Model Monitor only runs hourly or daily, on the hour."""
    minute, hour, dom, month, dow = cron.split()
    if minute != "0" or (dom, month, dow) != ("*", "*", "*"):
        raise SpecError(
            key,
            "SageMaker Model Monitor runs on the hour, hourly or daily: use '0 * * * *', '0 */N * * *' or '0 H * * *'",
        )
    return f"cron(0 {hour} ? * * *)"


def _check(pattern: re.Pattern[str], value: str, key: str, what: str) -> str:
    if not pattern.match(value):
        raise SpecError(key, f"{what} {value!r} breaks the SageMaker naming rule {pattern.pattern}")
    return value


def translate(target: Target) -> AwsSettings:
    platform = target.platform
    region = target.region
    if not _REGION_RE.match(region):
        raise SpecError("aws:region", f"must be an AWS region such as eu-west-1, got {region!r}")
    prefix = platform.prefix
    groups: dict[str, str] = {}
    types: dict[str, dict[str, str]] = {}
    for i, group in enumerate(platform.feature_store.feature_groups):
        gkey = f"{KEY}.feature_store.feature_groups[{i}]"
        groups[group.name] = _check(_FEATURE_NAME_RE, f"{prefix}-{group.name}", f"{gkey}.name", "feature group name")
        columns = {group.entity: "String", group.event_time: "String"}
        for feature in group.features:
            _check(_FEATURE_NAME_RE, feature.name, f"{gkey}.features", "feature name")
            columns[feature.name] = SAGEMAKER_FEATURE_TYPES[feature.type]
        types[group.name] = columns
    pipeline_name = _check(
        _SAGEMAKER_NAME_RE, f"{prefix}-{platform.pipeline.name}", f"{KEY}.pipeline.name", "pipeline name"
    )
    schedule = platform.pipeline.schedule
    return AwsSettings(
        region=region,
        prefix=prefix,
        training_instance=INSTANCE_TYPES[platform.pipeline.instance],
        endpoint_instance=INSTANCE_TYPES[platform.endpoint.instance],
        endpoint_vcpus=VCPUS[INSTANCE_TYPES[platform.endpoint.instance]],
        feature_types=types,
        feature_group_names=groups,
        model_package_group=_check(_SAGEMAKER_NAME_RE, f"{prefix}-models", f"{KEY}.name", "model package group"),
        pipeline_name=pipeline_name,
        training_schedule=to_eventbridge_cron(schedule, f"{KEY}.pipeline.schedule") if schedule else None,
        monitor_image=model_monitor_image(region),
        monitor_schedule=to_monitor_cron(platform.monitor.schedule, f"{KEY}.monitor.schedule"),
    )


def model_monitor_image(region: str) -> str:
    """The region's Model Monitor analyzer image, from the sagemaker SDK's own table.

    Read as data (no SDK import: importing sagemaker needs a region and takes over a second).
    """
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.find_spec("sagemaker")
    if spec is None or not spec.submodule_search_locations:
        raise SpecError("mlops:cloud", "the aws provider needs the sagemaker package: pip install -e '.[aws]'")
    table = Path(next(iter(spec.submodule_search_locations))) / "core/image_uri_config/model-monitor.json"
    version = json.loads(table.read_text())["versions"][""]
    account = version["registries"].get(region)
    if account is None:
        raise SpecError("aws:region", f"SageMaker Model Monitor is not offered in {region}")
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{version['repository']}:latest"
