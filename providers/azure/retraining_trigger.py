"""RetrainingTrigger: drift runs of the monitor -> log alert -> action group (e-mail and, with
`retrain_on_drift`, a Logic App that submits the training pipeline job through ARM).

The monitor itself only e-mails. Its runs are logged to Log Analytics (diagnostic setting,
`AmlRunStatusChangedEvent`); a run of the monitor that ends `Failed` is how Azure ML reports a
signal over its threshold, and the scheduled query rule fires on it.
"""

from __future__ import annotations

import json
import uuid

import pulumi
from pulumi_azure_native import authorization, logic, managedidentity, monitor

from providers.azure.dynamic import ML_API_VERSION
from providers.azure.foundation import FoundationOut
from providers.azure.model_monitor import MonitorOut
from providers.azure.training_pipeline import TrainingOut
from providers.azure.translate import AzureSettings
from providers.base import Capability, Deployment

API_VERSION = ML_API_VERSION
# The window equals the evaluation frequency: consecutive windows tile time without overlap, so one
# failed monitor run is counted by exactly one evaluation and fires (and retrains) once. With
# autoMitigate off, an overlapping window (e.g. PT1H every PT15M) would fire up to 4 times.
ALERT_EVERY = "PT15M"
# What submitting a job needs, as documented, and nothing else (a custom role on the workspace):
# Microsoft Learn "Manage access to Azure Machine Learning workspace", common scenarios,
# "Submitting any type of run (V2)".
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


def drift_query(monitor_name: str) -> str:
    return (
        "AmlRunStatusChangedEvent\n"
        f'| where ExperimentName == "{monitor_name}"\n'
        '| where Status == "Failed"\n'
        "| project TimeGenerated, RunId, ExperimentName, Status"
    )


def workflow_definition(job_url: str, job_body: dict, identity_id: str) -> dict:
    """Logic App: an HTTP request trigger (called by the action group) and one ARM PUT of a new job."""
    return {
        "$schema": "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/"
        "workflowdefinition.json#",
        "contentVersion": "1.0.0.0",
        "triggers": {"drift_alert": {"type": "Request", "kind": "Http", "inputs": {"schema": {}}}},
        "actions": {
            "submit_training": {
                "type": "Http",
                "runAfter": {},
                "inputs": {
                    "method": "PUT",
                    "uri": job_url + "/@{guid()}?api-version=" + API_VERSION,
                    "body": {"properties": job_body},
                    "authentication": {
                        "type": "ManagedServiceIdentity",
                        "identity": identity_id,
                        "audience": "https://management.azure.com/",
                    },
                },
            }
        },
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
        s, m = deployment.settings, deployment.platform.monitor
        rg = foundation.resource_group_name

        monitor.DiagnosticSetting(
            f"{name}-run-logs",
            name=f"{s.prefix}-runs",
            resource_uri=foundation.workspace_id,
            workspace_id=foundation.log_analytics_id,
            logs=[monitor.DiagnosticsLogSettingsArgs(category="AmlRunStatusChangedEvent", enabled=True)],
            opts=self.child(),
        )

        # Nothing served means no monitor runs: no drift to alert on or to retrain from.
        watching = model_monitor.schedule_id is not None
        self.workflow = None
        self.alert = None
        logic_receivers = []
        if m.retrain_on_drift and watching:
            submitter = managedidentity.UserAssignedIdentity(
                f"{name}-identity",
                resource_name_=f"{s.prefix}-retrain-id",
                resource_group_name=rg,
                location=s.location,
                tags=s.tags,
                opts=self.child(),
            )
            role = authorization.RoleDefinition(
                f"{name}-submitter-role",
                role_definition_id=foundation.resource_group_id.apply(submitter_role_id),
                role_name=foundation.resource_group_id.apply(lambda rg_id: submitter_role_name(s.prefix, rg_id)),
                description="Submit the training pipeline job of one Azure ML workspace (mlops kit).",
                scope=foundation.resource_group_id,
                assignable_scopes=[foundation.resource_group_id],
                permissions=[authorization.PermissionArgs(actions=SUBMITTER_ACTIONS)],
                opts=self.child(),
            )
            assignment = authorization.RoleAssignment(
                f"{name}-submitter",
                principal_id=submitter.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=role.id,
                scope=foundation.workspace_id,
                description=f"mlops {s.prefix}: submit the training pipeline on drift",
                opts=self.child(),
            )
            jobs_url = pulumi.Output.concat("https://management.azure.com", foundation.workspace_id, "/jobs")
            definition = pulumi.Output.all(jobs_url, training.job_body, submitter.id).apply(
                lambda a: workflow_definition(a[0], a[1], a[2])
            )
            self.workflow = logic.Workflow(
                f"{name}-workflow",
                workflow_name=f"{s.prefix}-retrain",
                resource_group_name=rg,
                location=s.location,
                state="Enabled",
                identity=logic.ManagedServiceIdentityArgs(type="UserAssigned", user_assigned_identities=[submitter.id]),
                definition=definition,
                tags=s.tags,
                opts=self.child(depends_on=[assignment]),
            )
            callback = logic.list_workflow_trigger_callback_url_output(
                resource_group_name=rg,
                workflow_name=self.workflow.name,
                trigger_name="drift_alert",
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            logic_receivers.append(
                monitor.LogicAppReceiverArgs(
                    name="retrain",
                    resource_id=self.workflow.id,
                    callback_url=callback.value,
                    use_common_alert_schema=True,
                )
            )

        self.action_group = monitor.ActionGroup(
            f"{name}-actions",
            action_group_name=f"{s.prefix}-drift",
            resource_group_name=rg,
            location="global",
            group_short_name="mlopsdrift",
            enabled=True,
            email_receivers=[
                monitor.MicrosoftCommonEmailReceiverArgs(
                    name="alert-email", email_address=m.alert_email, use_common_alert_schema=True
                )
            ],
            logic_app_receivers=logic_receivers or None,
            tags=s.tags,
            opts=self.child(),
        )
        if not watching:
            self.publish(drift_alarm=[], alert_topic=self.action_group.id, retrain_target=None)
            return
        self.alert = monitor.ScheduledQueryRule(
            f"{name}-drift-alert",
            rule_name=f"{s.prefix}-drift",
            resource_group_name=rg,
            location=s.location,
            kind="LogAlert",
            display_name=f"{s.prefix} data drift over {m.drift_threshold}",
            description=(
                f"Monitor {model_monitor.name} found a feature whose Jensen-Shannon distance to the "
                f"training data exceeds {m.drift_threshold}."
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
                        query=drift_query(model_monitor.name),
                        time_aggregation="Count",
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
                    "drift_threshold": json.dumps(m.drift_threshold),
                    "monitor": model_monitor.name,
                    "retrain_on_drift": json.dumps(m.retrain_on_drift),
                },
            ),
            tags=s.tags,
            opts=self.child(),
        )
        self.publish(
            drift_alarm=[self.alert.id],
            alert_topic=self.action_group.id,
            retrain_target=self.workflow.id if self.workflow else None,
        )
