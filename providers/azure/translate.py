"""Portable platform values -> Azure values, and Azure's own naming rules.

Every rule raises `SpecError(key, rule)` naming the stack key to change, before any resource is
declared. Names are derived from `platform.prefix` (`<name>-<environment>`); names Azure wants
unique across Azure also carry a suffix hashed from the subscription and resource group
(`unique_suffix`), known once the program runs, so they are stable for a stack.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal

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


@dataclass(frozen=True)
class VmSize:
    """A VM size and the figures the portable size promises (docs/azure.md cites each one)."""

    name: str
    vcpus: int
    memory_gb: float
    gpu: str | None = None


# Portable size -> VM size (CONTEXT table: small 2 vCPU/8 GB, medium 4/16, large 8/32, gpu 4 vCPU,
# >= 16 GB, one NVIDIA T4). Training runs on serverless compute, which takes the VM series Azure ML
# compute supports (Microsoft Learn: "What are compute targets in Azure Machine Learning?",
# supported VM series: DSv3, NCasT4_v3); serving takes the managed online endpoint SKU list
# (Microsoft Learn: "Managed online endpoints SKU list": Standard_D2as_v4 .. D8as_v4,
# Standard_NC4as_T4_v3). Figures: Microsoft Learn VM size pages "Dv3 and Dsv3-series",
# "Dav4 and Dasv4-series", "NCasT4_v3-series".
TRAINING_SIZES = {
    "small": VmSize("Standard_D2s_v3", 2, 8),
    "medium": VmSize("Standard_D4s_v3", 4, 16),
    "large": VmSize("Standard_D8s_v3", 8, 32),
    "gpu": VmSize("Standard_NC4as_T4_v3", 4, 28, "1 x NVIDIA T4"),
}
ENDPOINT_SIZES = {
    "small": VmSize("Standard_D2as_v4", 2, 8),
    "medium": VmSize("Standard_D4as_v4", 4, 16),
    "large": VmSize("Standard_D8as_v4", 8, 32),
    "gpu": VmSize("Standard_NC4as_T4_v3", 4, 28, "1 x NVIDIA T4"),
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
_REDIS_RE = re.compile(r"^(?!.*--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_ENDPOINT_RE = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
_LOCATION_RE = re.compile(r"^[a-z][a-z0-9]+$")

SUFFIX_LENGTH = 10
"""40 bits: two stacks of the same name (another team's `churn`/`dev` in a same-named group) collide
with odds of about 1 in 10^12 (6 hex digits were 1 in 16.7 million). Every name still fits its
rule: a Key Vault (24 characters) keeps 9 characters of the prefix, a storage account 10 to 12."""
PLACEHOLDER_SUFFIX = "0" * SUFFIX_LENGTH
"""What translate checks name lengths with, before the subscription (and so the suffix) is known."""
DEPLOYMENT_KEY = "mlops:platform.endpoint.model_version"


def unique_suffix(subscription_id: str, resource_group: str) -> str:
    """The stable suffix of every globally unique name: the first 10 hex digits of the SHA-256 of
    the resource group's ARM id, lowercased (ARM ids are case-insensitive). The same stack always
    gets the same suffix; another subscription or resource group (another team's `churn`/`dev`)
    gets another, as ARM's `uniqueString(resourceGroup().id)` does for templates."""
    rg_id = f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}".lower()
    return hashlib.sha256(rg_id.encode()).hexdigest()[:SUFFIX_LENGTH]


@dataclass(frozen=True)
class GlobalNames:
    """Names Azure requires to be unique across Azure (storage, Key Vault, registry, Redis) or
    across a region (online endpoints: `<name>.<region>.inference.ml.azure.com`). Each ends in the
    stack's suffix; a long prefix is cut so the name fits (the suffix keeps it unique, since the
    resource group it hashes holds the whole prefix)."""

    data_account: str
    """ADLS Gen2 (HNS): the datastore the pipeline reads and writes, and the offline feature store."""
    workspace_account: str
    """Plain StorageV2: the workspaces' default storage (a workspace refuses HNS there)."""
    code_account: str
    approvals_account: str
    """Plain StorageV2 holding the approval records (`approvals` container): only approvers write there."""
    """Step code, the environment's build context and feature-set specs: what `pulumi up` uploads."""
    key_vault: str
    """The customer-managed key (keys only)."""
    workspace_vault: str
    """The workspaces' own Key Vault (their connection secrets)."""
    registry: str
    redis: str
    endpoint: str


def global_names(prefix: str, suffix: str) -> GlobalNames:
    alnum = _alnum(prefix)

    def account(role: str) -> str:
        return alnum[: 24 - len(role) - len(suffix)] + role + suffix

    def vault(role: str) -> str:
        head = prefix[: 24 - len(role) - len(suffix) - 2].rstrip("-")
        return f"{head}-{role}-{suffix}"

    return GlobalNames(
        data_account=account("data"),
        workspace_account=account("ws"),
        code_account=account("code"),
        approvals_account=account("gate"),
        key_vault=vault("kv"),
        workspace_vault=vault("wkv"),
        registry=alnum + "acr" + suffix,
        redis=f"{prefix}-online-{suffix}",
        endpoint=f"{prefix[: 32 - len(suffix) - 4].rstrip('-')}-ep-{suffix}",
    )


@dataclass(frozen=True)
class Recurrence:
    """A feature-store materialization schedule (Azure takes a recurrence, not a cron).

    `hours`/`minutes`/`week_days` form the recurrence *pattern*, which Azure takes only for the
    Day and Week frequencies; Minute and Hour recurrences fire every `interval` from `start_time`
    (Microsoft Learn: "CLI (v2) schedule YAML schema", recurrence trigger)."""

    frequency: str  # Minute | Hour | Day | Week
    interval: int
    hours: tuple[int, ...] = ()
    minutes: tuple[int, ...] = ()
    week_days: tuple[str, ...] = ()
    start_time: str | None = None
    """`2020-01-01T00:MM:00`-style anchor of a Minute/Hour recurrence (UTC). A start time in the
    past is documented: "the first job will run at the next calculated run time"."""


@dataclass(frozen=True)
class AzureSettings:
    location: str
    prefix: str
    tags: dict[str, str]
    resource_group: str
    workspace: str
    feature_store: str
    model_name: str
    deployment_name: str | None
    """`model-v<version>` (3-32 characters, starting with a letter), or None when nothing is served."""
    endpoint_size: VmSize
    training_size: VmSize
    public_network_access: Literal["Enabled", "Disabled"]
    """ARM's word, the value of each pulumi_azure_native module's own enum (machinelearningservices
    PublicNetworkAccessType, redis PublicNetworkAccess, ...): each input passes its module's enum,
    built from it (tests/azure/test_sdk_enums.py); this module imports no SDK."""
    materialization: Recurrence
    feature_types: dict[str, dict[str, str]]
    """group -> feature -> Azure FeatureDataType."""
    approvers: tuple[tuple[str, str], ...] = ()
    """`registry.approvers`: (principal type, Entra object id) granted write access to the approval records."""

    @property
    def endpoint_instance(self) -> str:
        return self.endpoint_size.name

    @property
    def training_instance(self) -> str:
        return self.training_size.name

    def names(self, suffix: str) -> GlobalNames:
        return global_names(self.prefix, suffix)


def _alnum(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


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


def check_names(names: GlobalNames, key: str = NAME_KEY) -> GlobalNames:
    """Every global name against Azure's naming rules (Microsoft Learn: "Naming rules and
    restrictions for Azure resources"; endpoint names: azure-ai-ml's EndpointConfigurations)."""
    for account in (names.data_account, names.workspace_account, names.code_account, names.approvals_account):
        check_storage_account(account, key)
    check_key_vault(names.key_vault, key)
    check_key_vault(names.workspace_vault, key)
    check_registry(names.registry, key)
    if not _REDIS_RE.match(names.redis):
        raise SpecError(key, f"gives the Redis cache name {names.redis!r}; it must be 1-63 letters, digits, hyphens")
    if not (3 <= len(names.endpoint) <= 32 and _ENDPOINT_RE.match(names.endpoint)):
        raise SpecError(key, f"gives the online endpoint name {names.endpoint!r}; it must be 3-32 characters")
    return names


def deployment_name(version: int) -> str:
    """The online deployment serving `version`: "begin with a letter, 3-32 characters, letters,
    digits and single dashes" (azure-ai-ml EndpointConfigurations; Microsoft Learn "Manage and
    increase quotas and limits for resources with Azure Machine Learning")."""
    name = f"model-v{version}"
    if not (len(name) <= 32 and _ENDPOINT_RE.match(name)):
        raise SpecError(DEPLOYMENT_KEY, f"version {version} gives the deployment name {name!r}, over 32 characters")
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


def check_schedule(cron: str | None, key: str) -> None:
    """Azure ML schedule cron triggers ignore the day-of-month and month fields: "DAYS and MONTH
    are not supported. If you pass a value, it will be ignored and treat as *" (Microsoft Learn:
    "Schedule machine learning pipeline jobs"). A schedule restricting them would fire every day
    on Azure: refused."""
    if cron is None:
        return
    parsed = parse_cron(cron, key)
    if not (parsed.day_of_month.every and parsed.month.every):
        raise SpecError(
            key,
            f"{cron!r}: Azure ML schedules ignore the day-of-month and month fields (they would fire "
            "every day); use '*' there (a day of the week is fine)",
        )


_START = "2020-01-01T{hour:02d}:{minute:02d}:00"


def _cycle(field: Field, span: int) -> tuple[int, int] | None:
    """(first, step) when the values are first, first+step, ... with step dividing `span` and
    first < step: a fixed interval from `first` repeats exactly, across the field's wrap too."""
    values = field.sorted()
    if len(values) == 1:
        return (values[0], span) if values[0] < span else None
    step = values[1] - values[0]
    if span % step or values[0] >= step or values != list(range(values[0], span, step)):
        return None
    return values[0], step


def cron_to_recurrence(cron: str, key: str) -> Recurrence:
    """The cron shapes a materialization recurrence expresses exactly; anything else is a SpecError.

    Read from the parsed values (providers/cron.py). Every minute, every N minutes from minute M
    (N divides 60) or at minute M every hour: a Minute/Hour recurrence anchored by `start_time`
    (no pattern: Azure takes patterns only for Day/Week). Fixed hours (and minutes) every day: a
    Day pattern. Fixed hours on some week days: a Week pattern.
    """
    parsed = parse_cron(cron, key)
    days = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
    minute, hour, dow = parsed.minute, parsed.hour, parsed.day_of_week
    if not (parsed.day_of_month.every and parsed.month.every):
        raise SpecError(key, f"{cron!r}: Azure materialization schedules cannot pick days of the month or months")
    if dow.every and hour.every:
        if minute.every:
            return Recurrence("Minute", 1, start_time=_START.format(hour=0, minute=0))
        cycle = _cycle(minute, 60)
        if cycle is None:
            raise SpecError(
                key,
                f"{cron!r}: every hour, an Azure recurrence fires at one minute or every N minutes "
                "(N dividing 60); use e.g. '*/15 * * * *' or '5 * * * *'",
            )
        first, step = cycle
        if step == 60:
            return Recurrence("Hour", 1, start_time=_START.format(hour=0, minute=first))
        return Recurrence("Minute", step, start_time=_START.format(hour=0, minute=first))
    if minute.every:
        raise SpecError(
            key, f"{cron!r}: with fixed hours or week days an Azure recurrence needs fixed minutes, e.g. '0 3 * * *'"
        )
    if hour.every:
        raise SpecError(key, f"{cron!r}: on chosen week days an Azure recurrence needs fixed hours")
    hours, minutes = tuple(hour.sorted()), tuple(minute.sorted())
    if dow.every:
        return Recurrence("Day", 1, hours=hours, minutes=minutes)
    return Recurrence("Week", 1, hours=hours, minutes=minutes, week_days=tuple(days[d] for d in sorted(dow.values)))


# An approver: `<type>:<Microsoft Entra object id>`. The type is the role assignment's `principalType`
# (pulumi_azure_native.authorization.PrincipalType: User, Group, ServicePrincipal; without one,
# pulumi_azure_native sends User, which ARM refuses for a group or service principal); the object id is
# its `principalId`, a GUID.
_OBJECT_ID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
APPROVER_TYPES = {"user": "User", "group": "Group", "servicePrincipal": "ServicePrincipal"}
APPROVERS_KEY = "mlops:platform.registry.approvers"


def check_approvers(approvers: list[str], key: str = APPROVERS_KEY) -> tuple[tuple[str, str], ...]:
    """`registry.approvers` on Azure: `user:`, `group:` or `servicePrincipal:` then an Entra object
    id (a GUID), each object id once; returns (principal type, lowercase object id) pairs."""
    seen: set[str] = set()
    out = []
    for i, value in enumerate(approvers):
        kind, _, object_id = str(value).partition(":")
        if kind not in APPROVER_TYPES or not _OBJECT_ID_RE.match(object_id):
            raise SpecError(
                f"{key}[{i}]",
                f"{value!r} is not user:, group: or servicePrincipal: followed by a Microsoft Entra object id "
                "(a GUID, e.g. from `az ad group show --group NAME --query id`)",
            )
        if object_id.lower() in seen:
            raise SpecError(f"{key}[{i}]", f"{object_id} is listed twice")
        seen.add(object_id.lower())
        out.append((APPROVER_TYPES[kind], object_id.lower()))
    return tuple(out)


def translate(target: Target) -> AzureSettings:
    platform = target.platform
    location = check_location(target.region)
    check_names(global_names(platform.prefix, PLACEHOLDER_SUFFIX))
    for key, size in (("endpoint", platform.endpoint.instance), ("pipeline", platform.pipeline.instance)):
        if size == "gpu" and location not in GPU_LOCATIONS:
            raise SpecError(
                f"mlops:platform.{key}.instance",
                f"gpu ({ENDPOINT_SIZES['gpu'].name}) is not offered to Azure ML in {location}; "
                f"pick small|medium|large or a region among {', '.join(sorted(GPU_LOCATIONS))}",
            )
    check_schedule(platform.pipeline.schedule, "mlops:platform.pipeline.schedule")
    check_schedule(platform.monitor.schedule, "mlops:platform.monitor.schedule")
    recurrence = cron_to_recurrence(
        platform.feature_store.online_sync_schedule, "mlops:platform.feature_store.online_sync_schedule"
    )
    version = target.model_version
    approvers = check_approvers(list(platform.registry.approvers))
    return AzureSettings(
        location=location,
        prefix=platform.prefix,
        tags=dict(platform.all_tags),
        resource_group=f"{platform.prefix}-rg",
        workspace=f"{platform.prefix}-ws",
        feature_store=f"{platform.prefix}-fs",
        model_name=f"{platform.prefix}-{platform.pipeline.name}",
        deployment_name=deployment_name(version) if version is not None else None,
        endpoint_size=ENDPOINT_SIZES[platform.endpoint.instance],
        training_size=TRAINING_SIZES[platform.pipeline.instance],
        public_network_access="Enabled" if platform.network.public_access else "Disabled",
        materialization=recurrence,
        feature_types={
            g.name: {f.name: AZURE_FEATURE_TYPES[f.type] for f in g.features}
            for g in platform.feature_store.feature_groups
        },
        approvers=approvers,
    )
