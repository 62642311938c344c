"""ModelMonitor: the drift check of the served version, on `monitor.schedule`.

`monitor.engine: kit` (default): the kit's own drift step (`mlops_drift.py`, the same statistic on
every cloud) as a one-node pipeline job on an `ml.Schedule`. Each run reads the requests the
deployment's data collector captured in the last schedule interval (`model_inputs`, exactly the
request columns), compares them with the served version's baseline (`baselines/<model>/<version>/`,
written by the gate step) and publishes one row per request column through the Logs Ingestion API
(a data collection endpoint and rule) into the Log Analytics table `MlopsDrift_CL`, which the drift
alert and the missing-check alert query (providers/azure/retraining_trigger.py). A window with
fewer than `monitor.min_samples` requests is published as `skipped`, never judged.

`monitor.engine: builtin`: Azure ML's own model monitor (one DataDrift signal, Jensen-Shannon
distance) over the same request columns: production data is the collected `model_inputs` data asset
(window = the schedule interval), reference data is the same baseline as an MLTable. A breach does
not fail its run: Azure ML tags the run `azureml_modelmonitor_threshold_breached` and the run
succeeds; the retraining trigger listens for that tag (Event Grid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pulumi
from pulumi_azure_native import machinelearningservices as ml
from pulumi_azure_native import monitor, operationalinsights

from providers.azure import pipeline_definition as pdef
from providers.azure.endpoint import EndpointOut, capture_prefix
from providers.azure.foundation import FoundationOut, grant
from providers.azure.training_pipeline import DATA_ROOT, TrainingOut, job_args
from providers.azure.translate import TRAINING_SIZES, AzureSettings
from providers.base import Capability, Deployment
from providers.cron import parse as parse_cron

BUILTIN_METRIC = "JensenShannonDistance"
SPARK_INSTANCE = "standard_e4s_v3"
SPARK_RUNTIME = "3.4"
DRIFT_TABLE = "MlopsDrift_CL"
DRIFT_STREAM = "Custom-MlopsDrift_CL"
# The rows `mlops_io.publish_drift` sends (providers/azure/step_io.py drift_rows), typed as the
# custom table and the stream declare them (Microsoft Learn "Logs Ingestion API in Azure Monitor":
# a DCR stream declaration; "Tables - Create Or Update": a custom table's schema).
DRIFT_COLUMNS = (
    ("TimeGenerated", "datetime"),
    ("Monitor", "string"),
    ("Feature", "string"),
    ("Statistic", "string"),
    ("Value", "real"),
    ("Threshold", "real"),
    ("Drifted", "boolean"),
    ("Status", "string"),
    ("Samples", "int"),
    ("WindowStart", "datetime"),
    ("WindowEnd", "datetime"),
)
_TABLE_TYPES = {"datetime": "dateTime"}  # the Log Analytics table enum spells it so


def schedule_values(cron: str, key: str = "mlops:platform.monitor.schedule") -> dict[str, list[int]]:
    """The parsed cron as the drift wrapper reads it: minutes, hours, days of week (0 = Sunday)."""
    parsed = parse_cron(cron, key)
    return {
        "minute": parsed.minute.sorted(),
        "hour": parsed.hour.sorted(),
        "dow": sorted({d % 7 for d in parsed.day_of_week.sorted()}),
    }


def interval(cron: str) -> timedelta | None:
    """The schedule's interval when it fires at a fixed one (hourly, every N minutes, daily, ...);
    None for an irregular schedule (e.g. weekdays only)."""
    values = schedule_values(cron)
    week = [
        d * 1440 + h * 60 + m for d in range(7) if d in values["dow"] for h in values["hour"] for m in values["minute"]
    ]
    # Day 0 here is Sunday, as in cron; a week's fire times and the wrap to the next week.
    gaps = {b - a for a, b in zip(week, [*week[1:], week[0] + 7 * 1440], strict=True)}
    return timedelta(minutes=gaps.pop()) if len(gaps) == 1 else None


def iso_duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"P{minutes // 1440}D"
    if minutes % 60 == 0:
        return f"PT{minutes // 60}H"
    return f"PT{minutes}M"


@dataclass(frozen=True)
class MonitorOut:
    name: str
    """The monitor schedule's name (the drift check's experiment, the `Monitor` column's value)."""
    schedule_id: pulumi.Output[str] | None
    """None when nothing is monitored (nothing served)."""
    engine: str = "kit"
    table: str | None = None
    """The Log Analytics table the kit's drift check writes (kit engine)."""
    signal: str | None = None
    """The builtin monitor's signal name (builtin engine)."""
    columns: tuple[str, ...] = field(default_factory=tuple)
    """The request columns the drift check compares."""
    table_resource: pulumi.Resource | None = None
    """The declared table (kit engine): alert rules querying it wait for it."""


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
        settings, monitor_spec = deployment.settings, deployment.platform.monitor
        monitor_name = f"{settings.prefix}-monitor"
        columns = tuple(deployment.pipeline.contract.request_names)
        if not deployment.serves_model:
            self.out = MonitorOut(monitor_name, None, monitor_spec.engine, columns=columns)
            self.publish(monitor=None)  # nothing is served, so there is nothing to monitor yet
            return
        version = deployment.model_version
        baseline = pdef.baseline_path(DATA_ROOT, settings.model_name, version)  # type: ignore[arg-type]
        if monitor_spec.engine == "builtin":
            schedule = self._builtin(name, deployment, foundation, endpoint, baseline, monitor_name)
            self.out = MonitorOut(monitor_name, schedule.id, "builtin", signal="data-drift", columns=columns)
        else:
            schedule = self._kit(name, deployment, foundation, endpoint, training, baseline, monitor_name)
            self.out = MonitorOut(
                monitor_name, schedule.id, "kit", table=DRIFT_TABLE, columns=columns, table_resource=self.drift_table
            )
        self.publish(monitor=schedule.id)

    # -- the kit's drift step ------------------------------------------------------------------

    def _kit(
        self,
        name: str,
        deployment: Deployment[AzureSettings],
        foundation: FoundationOut,
        endpoint: EndpointOut,
        training: TrainingOut,
        baseline: str,
        monitor_name: str,
    ) -> ml.Schedule:
        settings, monitor_spec = deployment.settings, deployment.platform.monitor
        resource_group_name, workspace_name = foundation.resource_group_name, foundation.workspace_name
        dce = monitor.DataCollectionEndpoint(
            f"{name}-dce",
            data_collection_endpoint_name=f"{settings.prefix}-dce",
            resource_group_name=resource_group_name,
            location=settings.location,
            # Ingestion takes only Entra ID tokens (no keys exist for the Logs Ingestion API); the
            # jobs reach it from the managed network through the required `AzureMonitor` rule.
            network_acls=monitor.DataCollectionEndpointNetworkAclsArgs(
                public_network_access=monitor.KnownPublicNetworkAccessOptions.ENABLED
            ),
            tags=settings.tags,
            opts=self.child(),
        )
        table = operationalinsights.Table(
            f"{name}-table",
            table_name=DRIFT_TABLE,
            # The Foundation's Log Analytics workspace, by name, through its id: the table waits for it.
            workspace_name=foundation.log_analytics_id.apply(lambda _: f"{settings.prefix}-logs"),
            resource_group_name=resource_group_name,
            retention_in_days=90,
            schema=operationalinsights.SchemaArgs(
                name=DRIFT_TABLE,
                description="The kit's drift checks: one row per request column per check (mlops kit).",
                columns=[operationalinsights.ColumnArgs(name=c, type=_TABLE_TYPES.get(t, t)) for c, t in DRIFT_COLUMNS],
            ),
            opts=self.protected(deployment),  # the drift history (catalog.DATA_BEARING)
        )
        self.drift_table = table
        rule = monitor.DataCollectionRule(
            f"{name}-dcr",
            data_collection_rule_name=f"{settings.prefix}-drift",
            resource_group_name=resource_group_name,
            location=settings.location,
            data_collection_endpoint_id=dce.id,
            stream_declarations={
                DRIFT_STREAM: monitor.StreamDeclarationArgs(
                    columns=[monitor.ColumnDefinitionArgs(name=c, type=t) for c, t in DRIFT_COLUMNS]
                )
            },
            destinations=monitor.DataCollectionRuleDestinationsArgs(
                log_analytics=[
                    monitor.LogAnalyticsDestinationArgs(name="drift", workspace_resource_id=foundation.log_analytics_id)
                ]
            ),
            data_flows=[
                monitor.DataFlowArgs(
                    streams=[DRIFT_STREAM], destinations=["drift"], transform_kql="source", output_stream=DRIFT_STREAM
                )
            ],
            tags=settings.tags,
            opts=self.child(depends_on=[table]),
        )
        # The drift job runs as the runtime identity: it may send to this one rule (Microsoft Learn
        # "Logs Ingestion API in Azure Monitor": Monitoring Metrics Publisher on the DCR).
        grant(
            self,
            name,
            "drift-publisher",
            "Monitoring Metrics Publisher",
            rule.id,
            principal_id=foundation.identity_principal_id,
            subscription_id=foundation.subscription_id,
            prefix=settings.prefix,
        )

        compiled = pdef.compile_drift(
            prefix=settings.prefix,
            code=training.code_ref,
            environment=training.environment_ref,
            instance_type=TRAINING_SIZES["small"].name,
            baseline=baseline,
            threshold=monitor_spec.drift_threshold,
            min_samples=monitor_spec.min_samples,
            schedule=schedule_values(monitor_spec.schedule),
            capture_prefix=capture_prefix(pdef.ENDPOINT, endpoint.deployment_name or ""),
            monitor=monitor_name,
            data_root=DATA_ROOT,
            tags=settings.tags,
        )
        ((cname, spec),) = compiled["specs"].items()
        version = compiled["versions"][cname]
        ingestion = dce.logs_ingestion.apply(lambda li: (li.endpoint if li else None) or "")
        names = pulumi.Output.all(
            training.fill, endpoint.endpoint_name, ingestion, rule.immutable_id, foundation.names
        ).apply(
            lambda a: (
                lambda value: pdef.fill_names(
                    a[0](value),
                    {
                        pdef.ENDPOINT: a[1],
                        pdef.DCE_ENDPOINT: a[2],
                        pdef.DCR_ID: a[3] or "",
                        pdef.CAPTURE_ACCOUNT: a[4].workspace_account,
                    },
                )
            )
        )
        container = ml.ComponentContainer(
            f"{name}-{cname}",
            name=cname,
            workspace_name=workspace_name,
            resource_group_name=resource_group_name,
            properties=ml.ComponentContainerPropertiesArgs(description=spec.get("description"), tags=settings.tags),
            opts=self.child(),
        )
        component_version = ml.ComponentVersion(
            f"{name}-{cname}-version",
            name=cname,
            version=version,
            workspace_name=workspace_name,
            resource_group_name=resource_group_name,
            properties=ml.ComponentVersionPropertiesArgs(component_spec=names.apply(lambda f: f(spec))),
            opts=self.child(depends_on=[container, training.environment_version]),
        )
        rest = compiled["rest"]
        return ml.Schedule(
            f"{name}-schedule",
            name=monitor_name,
            workspace_name=workspace_name,
            resource_group_name=resource_group_name,
            properties=ml.SchedulePropertiesArgs(
                display_name=f"{settings.prefix} drift check (kit)",
                is_enabled=True,
                trigger=ml.CronTriggerArgs(trigger_type="Cron", expression=monitor_spec.schedule, time_zone="UTC"),
                action=ml.JobScheduleActionArgs(action_type="CreateJob", job_definition=job_args(rest, names)),
                tags=settings.tags,
            ),
            opts=self.child(depends_on=[component_version, foundation.network_ready]),
        )

    # -- Azure ML's own monitor ----------------------------------------------------------------

    def _builtin(
        self,
        name: str,
        deployment: Deployment[AzureSettings],
        foundation: FoundationOut,
        endpoint: EndpointOut,
        baseline: str,
        monitor_name: str,
    ) -> ml.Schedule:
        settings, monitor_spec = deployment.settings, deployment.platform.monitor
        window = interval(monitor_spec.schedule)
        if window is None:  # refused earlier by AzureProvider.limitations; a kit bug if it gets here
            raise RuntimeError(f"monitor.schedule {monitor_spec.schedule!r} has no fixed interval")
        if endpoint.capture_data is None:  # the monitor returns earlier when nothing is served
            raise RuntimeError("the endpoint serves no deployment: there is no captured data to monitor")
        threshold = ml.MonitoringThresholdArgs(value=monitor_spec.drift_threshold)
        columns = list(deployment.pipeline.contract.request_names)
        task = "Classification" if deployment.pipeline.contract.task == "classification" else "Regression"
        return ml.Schedule(
            f"{name}-schedule",
            name=monitor_name,
            workspace_name=foundation.workspace_name,
            resource_group_name=foundation.resource_group_name,
            properties=ml.SchedulePropertiesArgs(
                display_name=f"{settings.prefix} data drift (Azure ML monitor)",
                is_enabled=True,
                trigger=ml.CronTriggerArgs(trigger_type="Cron", expression=monitor_spec.schedule, time_zone="UTC"),
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
                        monitoring_target=ml.MonitoringTargetArgs(task_type=task, deployment_id=endpoint.deployment_id),
                        signals={
                            "data-drift": ml.DataDriftMonitoringSignalArgs(
                                signal_type="DataDrift",
                                metric_thresholds=[
                                    ml.NumericalDataDriftMetricThresholdArgs(
                                        data_type="Numerical", metric=BUILTIN_METRIC, threshold=threshold
                                    ),
                                    ml.CategoricalDataDriftMetricThresholdArgs(
                                        data_type="Categorical", metric=BUILTIN_METRIC, threshold=threshold
                                    ),
                                ],
                                # The collected request columns (the collector's data asset), one
                                # schedule interval at a time: each request is judged once.
                                production_data=ml.RollingInputDataArgs(
                                    input_data_type="Rolling",
                                    job_input_type=ml.JobInputType.URI_FOLDER,
                                    uri=endpoint.capture_data,
                                    data_context="model_inputs",
                                    window_size=iso_duration(window),
                                    window_offset="P0D",
                                ),
                                # The same columns of the training rows (the served version's baseline).
                                reference_data=ml.FixedInputDataArgs(
                                    input_data_type="Fixed",
                                    job_input_type=ml.JobInputType.MLTABLE,
                                    uri=baseline,
                                    data_context="training",
                                ),
                                features=ml.FeatureSubsetArgs(filter_type="FeatureSubset", features=columns),
                            ),
                        },
                        alert_notification_settings=ml.MonitorNotificationSettingsArgs(
                            email_notification_settings=ml.MonitorEmailNotificationSettingsArgs(
                                emails=[monitor_spec.alert_email]
                            )
                        ),
                    ),
                ),
                tags=settings.tags,
            ),
            opts=self.child(depends_on=[foundation.network_ready]),
        )
