"""ModelMonitor: an Azure ML monitoring schedule with one DataDrift signal.

Production data is what the deployment's data collector writes (`request` collection); reference
data is the training split the pipeline writes to a fixed path. Both numerical and categorical
features use Jensen-Shannon distance (0..1), compared with `monitor.drift_threshold`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import machinelearningservices as ml

from providers.azure.endpoint import EndpointOut
from providers.azure.foundation import FoundationOut
from providers.azure.training_pipeline import TrainingOut
from providers.azure.translate import AzureSettings
from providers.base import Capability, Deployment

DRIFT_METRIC = "JensenShannonDistance"
SPARK_INSTANCE = "standard_e4s_v3"
SPARK_RUNTIME = "3.4"


def collected_data_uri(endpoint: str, deployment: str, collection: str = "request") -> str:
    """Where a managed deployment's data collector writes (the workspace blob store)."""
    return f"azureml://datastores/workspaceblobstore/paths/modelDataCollector/{endpoint}/{deployment}/{collection}/"


@dataclass(frozen=True)
class MonitorOut:
    name: str
    """The monitor schedule's name (what its runs and alerts are named after)."""
    schedule_id: pulumi.Output[str] | None
    """None when nothing is monitored (nothing served)."""


class ModelMonitor(Capability):
    cloud = "azure"
    capability = "ModelMonitor"
    out: MonitorOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[AzureSettings],
        foundation: FoundationOut,
        endpoint: EndpointOut,
        training: TrainingOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        s, m = deployment.settings, deployment.platform.monitor
        threshold = ml.MonitoringThresholdArgs(value=m.drift_threshold)
        monitor_name = f"{s.prefix}-monitor"
        if endpoint.deployment_id is None or endpoint.deployment_name is None:
            self.out = MonitorOut(monitor_name, None)
            self.publish(monitor=None)  # nothing is served, so there is nothing to monitor yet
            return
        schedule = ml.Schedule(
            f"{name}-schedule",
            name=monitor_name,
            workspace_name=foundation.workspace_name,
            resource_group_name=foundation.resource_group_name,
            properties=ml.SchedulePropertiesArgs(
                display_name=f"{s.prefix} data drift",
                is_enabled=True,
                trigger=ml.CronTriggerArgs(trigger_type="Cron", expression=m.schedule, time_zone="UTC"),
                action=ml.CreateMonitorActionArgs(
                    action_type="CreateMonitor",
                    monitor_definition=ml.MonitorDefinitionArgs(
                        # What azure-ai-ml's ServerlessSparkCompute always sends
                        # (entities/_monitoring/compute.py): an AmlToken identity, i.e. the
                        # monitor's Spark job acts with the token of whoever created the schedule
                        # (docs/azure.md: the deployer). The entity cannot express another.
                        compute_configuration=ml.MonitorServerlessSparkComputeArgs(
                            compute_type="ServerlessSpark",
                            instance_type=SPARK_INSTANCE,
                            runtime_version=SPARK_RUNTIME,
                            compute_identity=ml.AmlTokenComputeIdentityArgs(compute_identity_type="AmlToken"),
                        ),
                        monitoring_target=ml.MonitoringTargetArgs(
                            task_type="Classification",
                            deployment_id=endpoint.deployment_id,
                        ),
                        signals={
                            "data-drift": ml.DataDriftMonitoringSignalArgs(
                                signal_type="DataDrift",
                                metric_thresholds=[
                                    ml.NumericalDataDriftMetricThresholdArgs(
                                        data_type="Numerical", metric=DRIFT_METRIC, threshold=threshold
                                    ),
                                    ml.CategoricalDataDriftMetricThresholdArgs(
                                        data_type="Categorical", metric=DRIFT_METRIC, threshold=threshold
                                    ),
                                ],
                                production_data=ml.RollingInputDataArgs(
                                    input_data_type="Rolling",
                                    job_input_type="uri_folder",
                                    uri=endpoint.endpoint_name.apply(
                                        lambda n: collected_data_uri(n, endpoint.deployment_name)
                                    ),
                                    data_context="model_inputs",
                                    window_size="P1D",
                                    window_offset="P0D",
                                ),
                                reference_data=ml.FixedInputDataArgs(
                                    input_data_type="Fixed",
                                    job_input_type="uri_folder",
                                    uri=training.training_data,
                                    data_context="training",
                                ),
                                features=ml.AllFeaturesArgs(filter_type="AllFeatures"),
                            ),
                        },
                        alert_notification_settings=ml.MonitorNotificationSettingsArgs(
                            email_notification_settings=ml.MonitorEmailNotificationSettingsArgs(emails=[m.alert_email])
                        ),
                    ),
                ),
                tags=s.tags,
            ),
            opts=self.child(depends_on=[foundation.network_ready]),
        )
        self.out = MonitorOut(monitor_name, schedule.id)
        self.publish(monitor=schedule.id)
