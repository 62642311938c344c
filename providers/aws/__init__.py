"""AWS: SageMaker, S3, KMS, IAM, EventBridge, CloudWatch and SNS."""

from __future__ import annotations

from typing import Any, ClassVar

from providers.aws import catalog
from providers.aws import translate as _translate  # the module: `providers.aws.translate` stays importable as one
from providers.aws.translate import AwsSettings
from providers.base import ComponentClasses, Limitation, Provider, Target
from providers.spec import Platform


class AwsProvider(Provider[AwsSettings]):
    cloud = "aws"
    config_keys: ClassVar = catalog.CONFIG_KEYS
    optional_config_keys: ClassVar = catalog.OPTIONAL_CONFIG_KEYS
    region_key: ClassVar[str] = catalog.REGION_KEY

    def check_plan(self, resources: list[dict[str, Any]]) -> list[str]:
        """Every request of the plan AWS would refuse (``providers/aws/vendor_rules.py``). An input the
        rule tables cannot map raises ``UnmappedInput``: a gap in the kit, never the user's input."""
        from infra.config import SECRET_PLACEHOLDER
        from providers.aws import vendor_rules

        return [str(v) for v in vendor_rules.check_plan(resources, placeholders=[SECRET_PLACEHOLDER])]

    def limitations(self, platform: Platform) -> list[Limitation]:
        found = []
        if platform.monitor.engine == "builtin":
            found.append(
                Limitation(
                    "mlops:platform.monitor.engine",
                    "builtin is SageMaker Model Monitor, which is no longer open to new AWS customers (its "
                    "monitoring schedule fails to create on an account without it); the default, kit, needs none",
                    "note",
                )
            )
            if platform.monitor.retrain_on_drift:
                found.append(
                    Limitation(
                        "mlops:platform.monitor.engine",
                        "builtin: retraining is asked when the drift alarm enters ALARM, not at every drifting "
                        "check; drift that outlasts retrain_cooldown_hours is retrained again only once the "
                        "alarm has left ALARM (the kit engine asks at every check)",
                        "note",
                    )
                )
        rollout = platform.endpoint.rollout
        rollback = rollout.rollback_on
        if rollout.strategy != "all_at_once" and rollback.error_rate is None and rollback.p99_latency_ms is None:
            # "If you do not have any CloudWatch alarms set up to monitor your endpoint, then the
            # auto-rollback functionality does not work during your deployment" ("Auto-Rollback
            # Configuration and Monitoring", deployment-guardrails-configuration.html).
            found.append(
                Limitation(
                    "mlops:platform.endpoint.rollout.rollback_on",
                    f"is empty: a {rollout.strategy} rollout shifts traffic in steps and bakes, but nothing "
                    "can roll it back (SageMaker's auto-rollback needs at least one alarm); set error_rate "
                    "or p99_latency_ms",
                    "note",
                )
            )
        return found

    def translate(self, target: Target) -> AwsSettings:
        return _translate.translate(target)

    def components(self) -> ComponentClasses:
        # Imported here: pulumi_aws is only loaded once AWS is the chosen cloud.
        from providers.aws.endpoint import Endpoint
        from providers.aws.feature_store import FeatureStore
        from providers.aws.foundation import Foundation
        from providers.aws.model_monitor import ModelMonitor
        from providers.aws.model_registry import ModelRegistry
        from providers.aws.retraining_trigger import RetrainingTrigger
        from providers.aws.training_pipeline import TrainingPipeline

        return ComponentClasses(
            foundation=Foundation,
            feature_store=FeatureStore,
            model_registry=ModelRegistry,
            training_pipeline=TrainingPipeline,
            endpoint=Endpoint,
            model_monitor=ModelMonitor,
            retraining_trigger=RetrainingTrigger,
        )
