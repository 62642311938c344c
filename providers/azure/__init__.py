"""Azure Machine Learning provider: the seven capabilities on Azure ML, with pulumi-azure-native."""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from providers.azure import catalog
from providers.azure import translate as _translate  # the module: `providers.azure.translate` stays importable as one
from providers.azure.translate import AzureSettings
from providers.base import ComponentClasses, Limitation, Provider, Target
from providers.spec import Platform


def _monitor_limitations(platform: Platform) -> list[Limitation]:
    """What Azure cannot do with the monitor and rollout settings (plain cron arithmetic: no SDK)."""
    from datetime import timedelta

    from providers.cron import parse

    monitor_spec, endpoint_spec = platform.monitor, platform.endpoint
    key = "mlops:platform.monitor.schedule"
    parsed = parse(monitor_spec.schedule, key)
    dows = sorted({d % 7 for d in parsed.day_of_week.sorted()})
    week = sorted(d * 1440 + h * 60 + mi for d in dows for h in parsed.hour.sorted() for mi in parsed.minute.sorted())
    gaps = {b - a for a, b in zip(week, [*week[1:], week[0] + 7 * 1440], strict=True)}
    every = timedelta(minutes=gaps.pop()) if len(gaps) == 1 else None
    found: list[Limitation] = []
    if monitor_spec.engine == "builtin" and every is None:
        found.append(
            Limitation(
                key,
                f"{monitor_spec.schedule!r} fires at uneven intervals; Azure ML's monitor reads a fixed window (its "
                "lookback), so each request would be judged zero or several times: use a fixed interval "
                "(e.g. '0 * * * *') or monitor.engine: kit",
            )
        )
    if monitor_spec.engine == "kit" and every is not None and every > timedelta(days=1):
        found.append(
            Limitation(
                key,
                "a drift check that stops running is not alerted on: Azure log alerts look back two days at "
                "most, less than two intervals of this schedule",
                severity="note",
            )
        )
    if endpoint_spec.shadow is not None and endpoint_spec.shadow.sample_percent > 50:
        found.append(
            Limitation(
                "mlops:platform.endpoint.shadow.sample_percent",
                f"is {endpoint_spec.shadow.sample_percent}; an online endpoint mirrors at most 50% of its traffic "
                "(azure-ai-ml "
                "REST model OnlineEndpointProperties.mirror_traffic: 'values need to sum to utmost 50')",
            )
        )
    return found


class AzureProvider(Provider[AzureSettings]):
    cloud = "azure"
    config_keys: ClassVar = catalog.CONFIG_KEYS
    optional_config_keys: ClassVar = catalog.OPTIONAL_CONFIG_KEYS
    region_key: ClassVar[str] = catalog.REGION_KEY

    def limitations(self, platform: Platform) -> list[Limitation]:
        found: list[Limitation] = []
        groups = platform.feature_store.feature_groups
        online = [i for i, g in enumerate(groups) if g.online]
        if online:
            found.append(
                Limitation(
                    f"mlops:platform.feature_store.feature_groups[{online[0]}].online",
                    "the online store (Azure Cache for Redis) is encrypted with a platform-managed key: "
                    "Azure Cache for Redis takes no customer-managed key",
                    severity="note",
                )
            )
        found += _monitor_limitations(platform)
        return found

    def check_plan(self, resources: list[dict[str, Any]]) -> list[str]:
        """Requests Azure would refuse (held against pulumi_azure_native, azure-ai-ml's entities and
        documented rules, see vendor_rules.py): one line each, `mlops plan` exits 2. What differs
        from azure-ai-ml on purpose (documented in docs/azure.md) is printed as a note."""
        from providers.azure import vendor_rules

        found = vendor_rules.check_plan(resources)
        for line in self.plan_notes(resources, found):
            print(f"mlops: {line}", file=sys.stderr)
        return [str(v) for v in found if v.severity == "refused"]

    def plan_notes(self, resources: list[dict[str, Any]], found: list[Any] | None = None) -> list[str]:
        """The findings that are not refusals: what the kit sends differently from azure-ai-ml."""
        from providers.azure import vendor_rules

        found = vendor_rules.check_plan(resources) if found is None else found
        return [str(v) for v in found if v.severity != "refused"]

    def translate(self, target: Target) -> AzureSettings:
        return _translate.translate(target)

    def components(self) -> ComponentClasses:
        from providers.azure.endpoint import Endpoint
        from providers.azure.feature_store import FeatureStore
        from providers.azure.foundation import Foundation
        from providers.azure.model_monitor import ModelMonitor
        from providers.azure.model_registry import ModelRegistry
        from providers.azure.retraining_trigger import RetrainingTrigger
        from providers.azure.training_pipeline import TrainingPipeline

        return ComponentClasses(
            foundation=Foundation,
            feature_store=FeatureStore,
            model_registry=ModelRegistry,
            training_pipeline=TrainingPipeline,
            endpoint=Endpoint,
            model_monitor=ModelMonitor,
            retraining_trigger=RetrainingTrigger,
        )
