"""RetrainingTrigger: drift -> alert -> action group (e-mail and, with `retrain_on_drift`, a Logic
App that submits the training pipeline job through ARM), one retraining per drift episode.

What fires, per `monitor.engine`:
- kit: a log search alert over the drift check's own table (`MlopsDrift_CL`, written by the drift
  job through the Logs Ingestion API): a row of this monitor with `Status == "ok"` and
  `Value > drift_threshold` (the kit's statistic drifts when ABOVE the threshold). Every column the
  query names is a column the table declares (vendor_rules.check_log_queries). A second alert
  fires when no drift check wrote a row for two schedule intervals: a check that stops running
  (or keeps failing) alerts instead of looking healthy. It only e-mails.
- builtin: Azure ML's monitor does not fail its run on a breach: its threshold component tags the
  run `azureml_modelmonitor_threshold_breached` and the run succeeds (Azure/azureml-assets,
  model_monitor_evaluate_metrics_threshold). The workspace's Event Grid system topic delivers
  `RunStatusChanged` events whose `data.RunTags.azureml_modelmonitor_threshold_breached` contains
  "has failed due to one or more features violating metric thresholds" (Microsoft Learn "Monitor
  the performance of models deployed to production", Set up alerts with Event Grid) to the Logic
  App, which answers Event Grid's validation handshake itself (Microsoft Learn "Webhook event
  delivery": a plain HTTP endpoint returns the `validationCode`).

The Logic App applies `pipelines/loop.py:RetrainGuard`, in ARM: one run at a time (trigger
concurrency 1, so two alerts cannot both see "nothing in flight"), it lists the workspace's jobs
carrying a `trigger` tag, and submits a new run, tagged `trigger: drift`, only when no drift-started
run is in flight and none started within `monitor.retrain_cooldown_hours`.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import timedelta
from typing import Any

import pulumi
from pulumi_azure_native import authorization, eventgrid, logic, managedidentity, monitor

from providers.azure.dynamic import ML_API_VERSION
from providers.azure.foundation import FoundationOut
from providers.azure.model_monitor import DRIFT_TABLE, MonitorOut, interval
from providers.azure.training_pipeline import TrainingOut
from providers.azure.translate import AzureSettings
from providers.base import Capability, Deployment

API_VERSION = ML_API_VERSION
# The drift alert's window equals its evaluation frequency: consecutive windows tile time, so one
# drift row is counted by exactly one evaluation (autoMitigate off: each evaluation stands alone).
ALERT_EVERY = "PT15M"
MISSING_EVERY = "PT1H"
# Log search alert windows (Microsoft Learn "Create or edit a log search alert rule": the query's
# time range is at most two days).
_WINDOWS = ("PT1H", "PT2H", "PT3H", "PT4H", "PT6H", "PT12H", "P1D", "P2D")
TRIGGER_TAG = "trigger"
DRIFT = "drift"
TERMINAL = ("Completed", "Failed", "Canceled", "NotResponding")
"""Azure ML job statuses that end a run (azure-ai-ml `JobStatus`); any other is in flight."""
BREACH_TAG = "azureml_modelmonitor_threshold_breached"
BREACH_MESSAGE = "has failed due to one or more features violating metric thresholds"
RUN_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
# What submitting a job needs, as documented, and nothing else (a custom role on the workspace):
# Microsoft Learn "Manage access to Azure Machine Learning workspace", common scenarios,
# "Submitting any type of run (V2)". `jobs/*` includes reading jobs (the guard's listing).
SUBMITTER_ACTIONS = [
    "Microsoft.MachineLearningServices/workspaces/*/read",
    "Microsoft.MachineLearningServices/workspaces/environments/write",
    "Microsoft.MachineLearningServices/workspaces/jobs/*",
    "Microsoft.MachineLearningServices/workspaces/metadata/artifacts/write",
    "Microsoft.MachineLearningServices/workspaces/metadata/codes/*/write",
    "Microsoft.MachineLearningServices/workspaces/environments/build/action",
    "Microsoft.MachineLearningServices/workspaces/environments/readSecrets/action",
]


def submitter_role_id(resource_group_id: str) -> str:
    """The custom role's name (a GUID, unique in the tenant): from the resource group's ARM id,
    which holds the subscription, so two stacks with one prefix in two subscriptions differ."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mlops/{resource_group_id.lower()}/pipeline-submitter"))


def submitter_role_name(prefix: str, resource_group_id: str) -> str:
    """The custom role's display name, unique in the tenant as Azure requires (Microsoft Learn
    "Azure custom roles": role names must be unique within a directory)."""
    return f"mlops {prefix} pipeline submitter {submitter_role_id(resource_group_id)[:8]}"


def drift_query(monitor_name: str, threshold: float) -> str:
    """Rows of one drift check over the threshold (the kit's statistic drifts when ABOVE it)."""
    return (
        f"{DRIFT_TABLE}\n"
        f'| where Monitor == "{monitor_name}" and Status == "ok" and Value > {threshold}\n'
        "| project TimeGenerated, Feature, Value, Threshold, WindowEnd"
    )


def missing_query(monitor_name: str) -> str:
    """Every row a drift check of this monitor wrote (a skipped window writes rows too)."""
    return f'{DRIFT_TABLE}\n| where Monitor == "{monitor_name}"\n| project TimeGenerated, Status'


def missing_window(every: timedelta | None) -> str | None:
    """The missing-check alert's window: the smallest allowed one holding two schedule intervals
    (one late run is not an alert, two missed are); None when two intervals exceed two days."""
    if every is None:
        return "P2D"
    need = 2 * every
    for window in _WINDOWS:
        if _duration(window) >= need:
            return window
    return None


def _duration(text: str) -> timedelta:
    if text.startswith("PT"):
        return timedelta(hours=int(text[2:-1])) if text.endswith("H") else timedelta(minutes=int(text[2:-1]))
    return timedelta(days=int(text[1:-1]))


def _arm_auth(identity_id: str) -> dict[str, str]:
    return {"type": "ManagedServiceIdentity", "identity": identity_id, "audience": "https://management.azure.com/"}


def workflow_definition(
    jobs_url: str, job_body: dict[str, Any], identity_id: str, cooldown_hours: int, event_grid: bool = False
) -> dict[str, Any]:
    """The Logic App (Workflow Definition Language): the trigger an alert (or an Event Grid event)
    calls, the RetrainGuard over the workspace's jobs, one ARM PUT of a new job tagged
    `trigger: drift`. tests/azure/logic_interpreter.py runs this definition against the fake ARM."""
    body = copy.deepcopy(job_body)
    body["tags"] = {**(body.get("tags") or {}), TRIGGER_TAG: DRIFT}
    guard: dict[str, Any] = {
        "list_runs": {
            "type": "Http",
            "runAfter": {},
            "inputs": {
                "method": "GET",
                # `tag`: "Jobs returned will have this tag key" (REST "Jobs - List").
                "uri": f"{jobs_url}?api-version={API_VERSION}&tag={TRIGGER_TAG}&listViewType=ActiveOnly",
                "authentication": _arm_auth(identity_id),
            },
            # Follows `nextLink` (Microsoft Learn "Handle large messages ... pagination" in Logic Apps).
            "runtimeConfiguration": {"paginationPolicy": {"minimumItemCount": 5000}},
        },
        "drift_runs": {
            "type": "Query",
            "runAfter": {"list_runs": ["Succeeded"]},
            "inputs": {
                "from": "@coalesce(body('list_runs')?['value'], json('[]'))",
                "where": f"@equals(item()?['properties']?['tags']?['{TRIGGER_TAG}'], '{DRIFT}')",
            },
        },
        "in_flight": {
            "type": "Query",
            "runAfter": {"drift_runs": ["Succeeded"]},
            "inputs": {
                "from": "@body('drift_runs')",
                "where": "@not(contains(createArray("
                + ", ".join(f"'{s}'" for s in TERMINAL)
                + "), item()?['properties']?['status']))",
            },
        },
        "in_cooldown": {
            "type": "Query",
            "runAfter": {"drift_runs": ["Succeeded"]},
            "inputs": {
                "from": "@body('drift_runs')",
                "where": "@greater(ticks(item()?['systemData']?['createdAt']), "
                f"ticks(addHours(utcNow(), -{int(cooldown_hours)})))",
            },
        },
        "decide": {
            "type": "If",
            "runAfter": {"in_flight": ["Succeeded"], "in_cooldown": ["Succeeded"]},
            "expression": {
                "and": [
                    {"equals": ["@length(body('in_flight'))", 0]},
                    {"equals": ["@length(body('in_cooldown'))", 0]},
                ]
            },
            "actions": {
                "submit_training": {
                    "type": "Http",
                    "runAfter": {},
                    "inputs": {
                        "method": "PUT",
                        "uri": jobs_url + "/@{guid()}?api-version=" + API_VERSION,
                        "body": {"properties": body},
                        "authentication": _arm_auth(identity_id),
                    },
                }
            },
            "else": {
                "actions": {
                    "not_started": {
                        "type": "Compose",
                        "runAfter": {},
                        "inputs": "@if(greater(length(body('in_flight')), 0), "
                        "'a drift-started retraining is in flight', "
                        "'within the cooldown of the last drift-started retraining')",
                    }
                }
            },
        },
    }
    if event_grid:
        actions: dict[str, Any] = {
            "subscription_validation": {
                "type": "If",
                "runAfter": {},
                "expression": {"and": [{"equals": ["@first(triggerBody())?['eventType']", VALIDATION_EVENT]}]},
                "actions": {
                    "validation_response": {
                        "type": "Response",
                        "kind": "Http",
                        "runAfter": {},
                        "inputs": {
                            "statusCode": 200,
                            "body": {"validationResponse": "@first(triggerBody())?['data']?['validationCode']"},
                        },
                    }
                },
                # A breach event is answered at once (202), in parallel with the guard: Event Grid
                # retries a delivery that gets no success reply, up to 30 times over 24 h ("Event Grid
                # message delivery and retry", https://learn.microsoft.com/en-us/azure/event-grid/delivery-and-retry).
                "else": {
                    "actions": {
                        "accepted": {"type": "Response", "kind": "Http", "runAfter": {}, "inputs": {"statusCode": 202}},
                        **guard,
                    }
                },
            }
        }
    else:
        actions = guard
    return {
        "$schema": "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/"
        "workflowdefinition.json#",
        "contentVersion": "1.0.0.0",
        "triggers": {
            "drift_alert": {
                "type": "Request",
                "kind": "Http",
                "inputs": {"schema": {}},
                # One run at a time: the guard's read and the submission never interleave
                # (Microsoft Learn "Change trigger concurrency" in Azure Logic Apps).
                "runtimeConfiguration": {"concurrency": {"runs": 1}},
            }
        },
        "actions": actions,
        "outputs": {},
    }


class RetrainingTrigger(Capability):
    cloud = "azure"
    capability = "RetrainingTrigger"

    def __init__(
        self,
        name: str,
        deployment: Deployment[AzureSettings],
        foundation: FoundationOut,
        model_monitor: MonitorOut,
        training: TrainingOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        settings, monitor_spec = deployment.settings, deployment.platform.monitor
        resource_group_name = foundation.resource_group_name
        builtin = model_monitor.engine == "builtin"

        # The workspace's run history in Log Analytics (why a drift check or a retraining failed).
        monitor.DiagnosticSetting(
            f"{name}-run-logs",
            name=f"{settings.prefix}-runs",
            resource_uri=foundation.workspace_id,
            workspace_id=foundation.log_analytics_id,
            logs=[monitor.DiagnosticsLogSettingsArgs(category="AmlRunStatusChangedEvent", enabled=True)],
            opts=self.child(),
        )

        # Nothing served means no monitor runs: no drift to alert on or to retrain from.
        watching = deployment.serves_model
        self.workflow = None
        self.alert: monitor.ScheduledQueryRule | None = None
        logic_receivers = []
        callback = None
        if monitor_spec.retrain_on_drift and watching:
            submitter = managedidentity.UserAssignedIdentity(
                f"{name}-identity",
                resource_name_=f"{settings.prefix}-retrain-id",
                resource_group_name=resource_group_name,
                location=settings.location,
                tags=settings.tags,
                opts=self.child(),
            )
            role = authorization.RoleDefinition(
                f"{name}-submitter-role",
                role_definition_id=foundation.resource_group_id.apply(submitter_role_id),
                role_name=foundation.resource_group_id.apply(lambda rg_id: submitter_role_name(settings.prefix, rg_id)),
                description="Submit the training pipeline job of one Azure ML workspace (mlops kit).",
                scope=foundation.resource_group_id,
                assignable_scopes=[foundation.resource_group_id],
                permissions=[authorization.PermissionArgs(actions=SUBMITTER_ACTIONS)],
                opts=self.child(),
            )
            assignment = authorization.RoleAssignment(
                f"{name}-submitter",
                principal_id=submitter.principal_id,
                principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
                role_definition_id=role.id,
                scope=foundation.workspace_id,
                description=f"mlops {settings.prefix}: submit the training pipeline on drift",
                opts=self.child(),
            )
            jobs_url = pulumi.Output.concat("https://management.azure.com", foundation.workspace_id, "/jobs")
            definition = pulumi.Output.all(jobs_url, training.job_body, submitter.id).apply(
                lambda a: workflow_definition(a[0], a[1], a[2], monitor_spec.retrain_cooldown_hours, event_grid=builtin)
            )
            self.workflow = logic.Workflow(
                f"{name}-workflow",
                workflow_name=f"{settings.prefix}-retrain",
                resource_group_name=resource_group_name,
                location=settings.location,
                state=logic.WorkflowState.ENABLED,
                identity=logic.ManagedServiceIdentityArgs(
                    type=logic.ManagedServiceIdentityType.USER_ASSIGNED, user_assigned_identities=[submitter.id]
                ),
                definition=definition,
                tags=settings.tags,
                opts=self.child(depends_on=[assignment]),
            )
            callback = logic.list_workflow_trigger_callback_url_output(
                resource_group_name=resource_group_name,
                workflow_name=self.workflow.name,
                trigger_name="drift_alert",
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            if not builtin:
                logic_receivers.append(
                    monitor.LogicAppReceiverArgs(
                        name="retrain",
                        resource_id=self.workflow.id,
                        callback_url=callback.value,
                        use_common_alert_schema=True,
                    )
                )

        email = monitor.MicrosoftCommonEmailReceiverArgs(
            name="alert-email", email_address=monitor_spec.alert_email, use_common_alert_schema=True
        )
        self.action_group = monitor.ActionGroup(
            f"{name}-actions",
            action_group_name=f"{settings.prefix}-drift",
            resource_group_name=resource_group_name,
            location="global",
            group_short_name="mlopsdrift",
            enabled=True,
            email_receivers=[email],
            logic_app_receivers=logic_receivers or None,
            tags=settings.tags,
            opts=self.child(),
        )
        if not watching:
            self.publish(drift_alarm=[], alert_topic=self.action_group.id, retrain_target=None)
            return
        if builtin:
            alarms = self._event_grid(name, deployment, foundation, model_monitor, callback)
        else:
            alarms = self._log_alerts(name, deployment, foundation, model_monitor)
        self.publish(
            drift_alarm=alarms,
            alert_topic=self.action_group.id,
            retrain_target=self.workflow.id if self.workflow else None,
        )

    # -- kit engine: log search alerts over the drift check's table ------------------------------

    def _log_alerts(
        self,
        name: str,
        deployment: Deployment[AzureSettings],
        foundation: FoundationOut,
        model_monitor: MonitorOut,
    ) -> list[pulumi.Output[str]]:
        settings, monitor_spec = deployment.settings, deployment.platform.monitor
        resource_group_name = foundation.resource_group_name
        self.alert = monitor.ScheduledQueryRule(
            f"{name}-drift-alert",
            rule_name=f"{settings.prefix}-drift",
            resource_group_name=resource_group_name,
            location=settings.location,
            kind=monitor.Kind.LOG_ALERT,
            display_name=f"{settings.prefix} data drift over {monitor_spec.drift_threshold}",
            description=(
                f"A drift check of {model_monitor.name} found a request column whose distance to the training "
                "data (Kolmogorov-Smirnov D for numbers, L-infinity for categories) is above "
                f"{monitor_spec.drift_threshold}."
            ),
            severity=2,
            enabled=True,
            auto_mitigate=False,
            scopes=[foundation.log_analytics_id],
            evaluation_frequency=ALERT_EVERY,
            window_size=ALERT_EVERY,
            criteria=monitor.ScheduledQueryRuleCriteriaArgs(
                all_of=[
                    monitor.ConditionArgs(
                        query=drift_query(model_monitor.name, monitor_spec.drift_threshold),
                        time_aggregation=monitor.TimeAggregation.COUNT,
                        operator="GreaterThan",
                        threshold=0,
                        failing_periods=monitor.ConditionFailingPeriodsArgs(
                            min_failing_periods_to_alert=1, number_of_evaluation_periods=1
                        ),
                    )
                ]
            ),
            actions=monitor.ActionsArgs(
                action_groups=[self.action_group.id],
                custom_properties={
                    "drift_threshold": json.dumps(monitor_spec.drift_threshold),
                    "monitor": model_monitor.name,
                    "retrain_on_drift": json.dumps(monitor_spec.retrain_on_drift),
                },
            ),
            tags=settings.tags,
            # Azure validates the query against the table when the rule is created.
            opts=self.child(depends_on=[r for r in [model_monitor.table_resource] if r is not None]),
        )
        alarms = [self.alert.id]
        window = missing_window(interval(monitor_spec.schedule))
        if window is not None:
            checks = monitor.ActionGroup(
                f"{name}-check-actions",
                action_group_name=f"{settings.prefix}-checks",
                resource_group_name=resource_group_name,
                location="global",
                group_short_name="mlopscheck",
                enabled=True,
                email_receivers=[
                    monitor.MicrosoftCommonEmailReceiverArgs(
                        name="alert-email", email_address=monitor_spec.alert_email, use_common_alert_schema=True
                    )
                ],
                tags=settings.tags,
                opts=self.child(),
            )
            self.missing = monitor.ScheduledQueryRule(
                f"{name}-missing-check",
                rule_name=f"{settings.prefix}-drift-check-missing",
                resource_group_name=resource_group_name,
                location=settings.location,
                kind=monitor.Kind.LOG_ALERT,
                display_name=f"{settings.prefix} drift check not running",
                description=(
                    f"No drift check of {model_monitor.name} wrote a result in {window}: the check stopped "
                    "or keeps failing, so drift would go unseen."
                ),
                severity=2,
                enabled=True,
                auto_mitigate=True,
                scopes=[foundation.log_analytics_id],
                evaluation_frequency=MISSING_EVERY,
                window_size=window,
                criteria=monitor.ScheduledQueryRuleCriteriaArgs(
                    all_of=[
                        monitor.ConditionArgs(
                            query=missing_query(model_monitor.name),
                            time_aggregation=monitor.TimeAggregation.COUNT,
                            operator="LessThan",
                            threshold=1,
                            failing_periods=monitor.ConditionFailingPeriodsArgs(
                                min_failing_periods_to_alert=1, number_of_evaluation_periods=1
                            ),
                        )
                    ]
                ),
                actions=monitor.ActionsArgs(action_groups=[checks.id]),
                tags=settings.tags,
                opts=self.child(depends_on=[r for r in [model_monitor.table_resource] if r is not None]),
            )
            alarms.append(self.missing.id)
        return alarms

    # -- builtin engine: the tag Azure ML's monitor sets, through Event Grid ---------------------

    def _event_grid(
        self,
        name: str,
        deployment: Deployment[AzureSettings],
        foundation: FoundationOut,
        model_monitor: MonitorOut,
        callback: Any,
    ) -> list[pulumi.Output[str]]:
        settings = deployment.settings
        topic = eventgrid.SystemTopic(
            f"{name}-events",
            system_topic_name=f"{settings.prefix}-ml-events",
            resource_group_name=foundation.resource_group_name,
            location=settings.location,
            source=foundation.workspace_id,
            topic_type="Microsoft.MachineLearningServices.Workspaces",
            tags=settings.tags,
            opts=self.child(),
        )
        if callback is None:  # retrain_on_drift off: the monitor's own e-mail is the alert
            return []
        subscription = eventgrid.SystemTopicEventSubscription(
            f"{name}-breach",
            event_subscription_name=f"{settings.prefix}-drift-breach",
            system_topic_name=topic.name,
            resource_group_name=foundation.resource_group_name,
            event_delivery_schema=eventgrid.EventDeliverySchema.EVENT_GRID_SCHEMA,
            destination=eventgrid.WebHookEventSubscriptionDestinationArgs(
                endpoint_type="WebHook", endpoint_url=callback.value, max_events_per_batch=1
            ),
            filter=eventgrid.EventSubscriptionFilterArgs(
                included_event_types=[RUN_STATUS_CHANGED],
                advanced_filters=[
                    eventgrid.StringContainsAdvancedFilterArgs(
                        operator_type="StringContains", key=f"data.RunTags.{BREACH_TAG}", values=[BREACH_MESSAGE]
                    ),
                ],
            ),
            opts=self.child(),
        )
        return [subscription.id]
