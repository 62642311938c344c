"""Portable platform values -> Azure values, and Azure's own naming rules.

Every rule raises `SpecError(key, rule)` naming the stack key to change, before any resource is
declared. Names are derived from `platform.prefix` (`<name>-<environment>`), so they are stable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from providers.base import Target
from providers.cron import Field
from providers.cron import parse as parse_cron
from providers.spec import SpecError

NAME_KEY = "mlops:platform.name"
LOCATION_KEY = "azure-native:location"

# Azure public-cloud regions (`az account list-locations --query "[].name"`), lowercase, no spaces.
LOCATIONS = frozenset(
    [
        "australiacentral",
        "australiacentral2",
        "australiaeast",
        "australiasoutheast",
        "austriaeast",
        "belgiumcentral",
        "brazilsouth",
        "brazilsoutheast",
        "canadacentral",
        "canadaeast",
        "centralindia",
        "centralus",
        "chilecentral",
        "eastasia",
        "eastus",
        "eastus2",
        "francecentral",
        "francesouth",
        "germanynorth",
        "germanywestcentral",
        "indonesiacentral",
        "israelcentral",
        "italynorth",
        "japaneast",
        "japanwest",
        "jioindiacentral",
        "jioindiawest",
        "koreacentral",
        "koreasouth",
        "malaysiawest",
        "mexicocentral",
        "newzealandnorth",
        "northcentralus",
        "northeurope",
        "norwayeast",
        "norwaywest",
        "polandcentral",
        "qatarcentral",
        "southafricanorth",
        "southafricawest",
        "southcentralus",
        "southeastasia",
        "southindia",
        "spaincentral",
        "swedencentral",
        "switzerlandnorth",
        "switzerlandwest",
        "uaecentral",
        "uaenorth",
        "uksouth",
        "ukwest",
        "westcentralus",
        "westeurope",
        "westindia",
        "westus",
        "westus2",
        "westus3",
    ]
)

# Portable size -> VM size. Endpoint sizes are from the managed online endpoint SKU list;
# training runs on serverless compute with the training size.
ENDPOINT_SIZES = {
    "small": "Standard_DS2_v2",
    "medium": "Standard_DS3_v2",
    "large": "Standard_DS4_v2",
    "gpu": "Standard_NC4as_T4_v3",
}
TRAINING_SIZES = {
    "small": "Standard_DS3_v2",
    "medium": "Standard_DS4_v2",
    "large": "Standard_DS5_v2",
    "gpu": "Standard_NC4as_T4_v3",
}
# Regions where the T4 GPU size is offered to Azure ML (conservative: a region missing here
# only means "not checked", and the rule names the key to change).
GPU_LOCATIONS = frozenset(
    [
        "australiaeast",
        "canadacentral",
        "centralindia",
        "eastus",
        "eastus2",
        "francecentral",
        "japaneast",
        "koreacentral",
        "northcentralus",
        "northeurope",
        "southcentralus",
        "southeastasia",
        "swedencentral",
        "uksouth",
        "westeurope",
        "westus2",
        "westus3",
    ]
)

# Portable feature type -> Azure ML feature store FeatureDataType.
AZURE_FEATURE_TYPES = {
    "int": "Long",
    "float": "Double",
    "string": "String",
    "bool": "Boolean",
    "timestamp": "Datetime",
}

_STORAGE_RE = re.compile(r"^[a-z0-9]{3,24}$")
_VAULT_RE = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")
_ACR_RE = re.compile(r"^[a-zA-Z0-9]{5,50}$")
_LOCATION_RE = re.compile(r"^[a-z][a-z0-9]+$")


@dataclass(frozen=True)
class Recurrence:
    """A feature-store materialization schedule (Azure takes a recurrence, not a cron)."""

    frequency: str  # Minute | Hour | Day | Week
    interval: int
    hours: tuple[int, ...] = ()
    minutes: tuple[int, ...] = ()
    week_days: tuple[str, ...] = ()


@dataclass(frozen=True)
class AzureSettings:
    location: str
    prefix: str
    tags: dict[str, str]
    resource_group: str
    storage_account: str
    """Data account: no shared keys, CMK, HNS (it is also the feature store's offline store)."""
    code_account: str
    """Step code only: the one account that keeps shared keys (Pulumi's Blob resource needs them)."""
    key_vault: str
    container_registry: str
    workspace: str
    feature_store: str
    model_name: str
    endpoint_name: str
    endpoint_instance: str
    training_instance: str
    public_network_access: str
    materialization: Recurrence
    feature_types: dict[str, dict[str, str]]
    """group -> feature -> Azure FeatureDataType."""


def _alnum(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def storage_account_name(prefix: str, suffix: str) -> str:
    return _alnum(prefix) + suffix


def check_storage_account(name: str, key: str = NAME_KEY) -> str:
    if not _STORAGE_RE.match(name):
        raise SpecError(
            key,
            f"gives the Azure storage account name {name!r} ({len(name)} characters); storage "
            "account names must be 3-24 lowercase letters and digits: shorten the name",
        )
    return name


def check_key_vault(name: str, key: str = NAME_KEY) -> str:
    if not _VAULT_RE.match(name):
        raise SpecError(
            key,
            f"gives the Azure Key Vault name {name!r} ({len(name)} characters); vault names must be "
            "3-24 letters, digits and single hyphens, starting with a letter: shorten the name",
        )
    return name


def check_registry(name: str, key: str = NAME_KEY) -> str:
    if not _ACR_RE.match(name):
        raise SpecError(key, f"gives the container registry name {name!r}; it must be 5-50 letters and digits")
    return name


def check_location(location: Any) -> str:
    if not isinstance(location, str) or not _LOCATION_RE.match(location):
        raise SpecError(
            LOCATION_KEY,
            f"must be an Azure region name in lowercase without spaces (e.g. westeurope), got {location!r}",
        )
    if location not in LOCATIONS:
        raise SpecError(LOCATION_KEY, f"unknown Azure region {location!r} (e.g. westeurope, eastus2)")
    return location


def cron_to_recurrence(cron: str, key: str) -> Recurrence:
    """The cron shapes a materialization recurrence expresses exactly; anything else is a SpecError.

    Read from the parsed values (providers/cron.py): every N minutes (N divides 60), at minute M
    every N hours (N divides 24), at fixed hours and minutes every day, or on some week days.
    """
    parsed = parse_cron(cron, key)
    days = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
    minute, hour, dow = parsed.minute, parsed.hour, parsed.day_of_week
    if not (parsed.day_of_month.every and parsed.month.every):
        raise SpecError(key, f"{cron!r}: Azure materialization schedules cannot pick days of the month or months")
    if hour.every and dow.every and (minute.every or _divides(minute, 60)):
        return Recurrence("Minute", 1 if minute.every else minute.sorted()[1])
    if minute.every or (len(minute.values) > 1 and (hour.every or _divides(hour, 24))):
        raise SpecError(
            key,
            f"{cron!r}: an Azure recurrence takes */N minutes (N dividing 60), or fixed minutes with fixed hours; "
            "use e.g. '*/15 * * * *' or '5 * * * *'",
        )
    minutes = tuple(minute.sorted())
    if dow.every and hour.every:
        return Recurrence("Hour", 1, minutes=minutes)
    if dow.every and _divides(hour, 24):
        return Recurrence("Hour", hour.sorted()[1], minutes=minutes)
    if hour.every:
        raise SpecError(key, f"{cron!r}: on chosen week days an Azure recurrence needs fixed hours")
    hours = tuple(hour.sorted())
    if dow.every:
        return Recurrence("Day", 1, hours=hours, minutes=minutes)
    return Recurrence("Week", 1, hours=hours, minutes=minutes, week_days=tuple(days[d] for d in sorted(dow.values)))


def _divides(field: Field, span: int) -> bool:
    """The field is 0, N, 2N, ... with N dividing `span` (so a fixed interval matches it exactly)."""
    values = field.sorted()
    if len(values) < 2 or values[0] != 0:
        return False
    step = values[1]
    return span % step == 0 and values == list(range(0, span, step))


def translate(target: Target) -> AzureSettings:
    p = target.platform
    location = check_location(target.region)
    storage = check_storage_account(storage_account_name(p.prefix, "data"))
    code = check_storage_account(storage_account_name(p.prefix, "code"))
    vault = check_key_vault(f"{p.prefix}-kv")
    acr = check_registry(storage_account_name(p.prefix, "acr"))
    for key, size in (("endpoint", p.endpoint.instance), ("pipeline", p.pipeline.instance)):
        if size == "gpu" and location not in GPU_LOCATIONS:
            raise SpecError(
                f"mlops:platform.{key}.instance",
                f"gpu ({ENDPOINT_SIZES['gpu']}) is not offered to Azure ML in {location}; "
                f"pick small|medium|large or a region among {', '.join(sorted(GPU_LOCATIONS))}",
            )
    recurrence = cron_to_recurrence(
        p.feature_store.online_sync_schedule, "mlops:platform.feature_store.online_sync_schedule"
    )
    return AzureSettings(
        location=location,
        prefix=p.prefix,
        tags=dict(p.all_tags),
        resource_group=f"{p.prefix}-rg",
        storage_account=storage,
        code_account=code,
        key_vault=vault,
        container_registry=acr,
        workspace=f"{p.prefix}-ws",
        feature_store=f"{p.prefix}-fs",
        model_name=f"{p.prefix}-{p.pipeline.name}",
        endpoint_name=f"{p.prefix}-ep",
        endpoint_instance=ENDPOINT_SIZES[p.endpoint.instance],
        training_instance=TRAINING_SIZES[p.pipeline.instance],
        public_network_access="Enabled" if p.network.public_access else "Disabled",
        materialization=recurrence,
        feature_types={
            g.name: {f.name: AZURE_FEATURE_TYPES[f.type] for f in g.features} for g in p.feature_store.feature_groups
        },
    )
