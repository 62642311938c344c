"""Azure Machine Learning provider: the seven capabilities on Azure ML, with pulumi-azure-native."""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from providers.azure import catalog
from providers.azure import translate as _translate  # the module: `providers.azure.translate` stays importable as one
from providers.azure.translate import AzureSettings
from providers.base import ComponentClasses, Limitation, Provider, Target
from providers.spec import Platform


class AzureProvider(Provider[AzureSettings]):
    cloud = "azure"
    config_keys: ClassVar = catalog.CONFIG_KEYS
    optional_config_keys: ClassVar = catalog.OPTIONAL_CONFIG_KEYS
    region_key: ClassVar[str] = catalog.REGION_KEY

    def limitations(self, platform: Platform) -> list[Limitation]:
        groups = platform.feature_store.feature_groups
        online = [i for i, g in enumerate(groups) if g.online]
        if not online:
            return []
        return [
            Limitation(
                f"mlops:platform.feature_store.feature_groups[{online[0]}].online",
                "the online store (Azure Cache for Redis) is encrypted with a platform-managed key: "
                "Azure Cache for Redis takes no customer-managed key",
                severity="note",
            )
        ]

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
