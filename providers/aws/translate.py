"""Portable values -> AWS values, and AWS's own rules, checked before any resource is declared."""

from __future__ import annotations

import re
from dataclasses import dataclass

from providers.base import Target
from providers.cron import Field, compress
from providers.cron import parse as parse_cron
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
# botocore's sagemaker model, CreateFeatureGroup: `Description` is a string of at most 128 characters.
FEATURE_GROUP_DESCRIPTION_MAX = 128
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
    ScheduleConfig): anything else is refused."""
    parsed = parse_cron(cron, key)
    refuse = SpecError(
        key,
        f"{cron!r}: SageMaker Model Monitor runs on the hour, hourly, every N hours (N dividing 24) or daily: "
        "use '0 * * * *', '0 */N * * *' or '0 H * * *'",
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
