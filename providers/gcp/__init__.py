"""GCP / Vertex AI: the platform on Vertex AI Pipelines, Feature Store v2, Model Registry, endpoints."""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from providers.base import ComponentClasses, Limitation, Provider, Target
from providers.gcp import catalog
from providers.gcp import translate as _translate  # the module: `providers.gcp.translate` stays importable as one
from providers.gcp.translate import GcpSettings
from providers.spec import Platform

LOG_EXCLUSIONS_PER_PROJECT = 10
"""Cloud Logging: "You can have up to 10 exclusions in a resource" (ConfigServiceV2Client.create_exclusion
of the installed google-cloud-logging; tests/gcp/test_plan.py reads it there)."""
EXCLUSION = "gcp:logging/projectExclusion:ProjectExclusion"


def plan_notes(resources: list[dict[str, Any]]) -> list[str]:
    """What the plan cannot check offline but a first `pulumi up` may hit, one line each."""
    return [
        f"note: {r['name']} adds the exclusion {r['inputs'].get('name')} to the project's _Default sink; Cloud "
        f"Logging allows at most {LOG_EXCLUSIONS_PER_PROJECT} exclusions per project, so `pulumi up` fails if "
        f"{r['inputs'].get('project')} already has {LOG_EXCLUSIONS_PER_PROJECT} "
        "(Logging API projects.exclusions.list counts them)"
        for r in resources
        if r["type"] == EXCLUSION
    ]


class GcpProvider(Provider[GcpSettings]):
    cloud = "gcp"
    config_keys: ClassVar = catalog.CONFIG_KEYS
    optional_config_keys: ClassVar = catalog.OPTIONAL_CONFIG_KEYS
    region_key: ClassVar[str] = catalog.REGION_KEY

    def limitations(self, platform: Platform) -> list[Limitation]:
        """What GCP refuses (exit 2, before anything is declared):

        - `monitor.engine: builtin`: Vertex AI Model Monitoring has no pulumi-gcp resource and its
          statistics (L-infinity for categorical, Jensen-Shannon for numerical features) are not the
          kit's; the kit's drift job is the monitor on GCP.
        - `endpoint.shadow`: a Vertex AI endpoint splits traffic (`Endpoint.traffic_split`, a share
          per deployed model: every request goes to ONE model) and has no field that copies requests
          to a second model (google.cloud.aiplatform_v1 Endpoint / DeployedModel).

        `endpoint.rollout` canary / linear is honoured: `dynamic.DeployedModel` shifts the endpoint's
        `traffic_split` in steps and reverts on a breach of `rollback_on`."""
        key = "mlops:platform"
        found: list[Limitation] = []
        if platform.monitor.engine == "builtin":
            found.append(
                Limitation(
                    f"{key}.monitor.engine",
                    "'builtin' is not available on GCP: pulumi-gcp declares no Vertex AI Model Monitoring job, "
                    "and its statistics are not the kit's; use 'kit' (the kit's drift job, the default)",
                )
            )
        if platform.endpoint.shadow is not None:
            found.append(
                Limitation(
                    f"{key}.endpoint.shadow",
                    "Vertex AI endpoints cannot mirror traffic: Endpoint.traffic_split sends each request to one "
                    "deployed model (google.cloud.aiplatform_v1 has no shadow/mirror field); remove endpoint.shadow",
                )
            )
        return found

    def translate(self, target: Target) -> GcpSettings:
        return _translate.translate(target)

    def check_plan(self, resources: list[dict[str, Any]]) -> list[str]:
        """Every request of the plan Google would refuse (or accept and not do what the kit means),
        held against the installed Vertex AI protos, pulumi_gcp's argument classes, the aiplatform
        SDK's tables and documented rules: see providers/gcp/vendor_rules.py. Only vendor-kind
        violations are returned; a kit-kind one (a promise of the kit broken, e.g. an unpinned image)
        is a defect of the kit, which tests/gcp/test_vendor_rules.py keeps at zero."""
        from providers.gcp import vendor_rules

        for line in plan_notes(resources):
            print(f"mlops: {line}", file=sys.stderr)
        return [str(v) for v in vendor_rules.check_plan(resources) if v.kind == "vendor"]

    def components(self) -> ComponentClasses:
        # Imported here: pulumi_gcp is only loaded when a GCP stack is built.
        from providers.gcp.endpoint import Endpoint
        from providers.gcp.feature_store import FeatureStore
        from providers.gcp.foundation import Foundation
        from providers.gcp.model_monitor import ModelMonitor
        from providers.gcp.model_registry import ModelRegistry
        from providers.gcp.retraining_trigger import RetrainingTrigger
        from providers.gcp.training_pipeline import TrainingPipeline

        return ComponentClasses(
            foundation=Foundation,
            feature_store=FeatureStore,
            model_registry=ModelRegistry,
            training_pipeline=TrainingPipeline,
            endpoint=Endpoint,
            model_monitor=ModelMonitor,
            retraining_trigger=RetrainingTrigger,
        )
