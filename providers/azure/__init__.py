"""Azure Machine Learning provider: the seven capabilities on Azure ML, with pulumi-azure-native."""

from __future__ import annotations

from typing import ClassVar

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
