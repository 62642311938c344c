"""Drift over the threshold -> CloudWatch alarm -> e-mail, and -> EventBridge -> training pipeline."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from providers.aws.foundation import FoundationOut
from providers.aws.model_monitor import METRIC_NAMESPACE, MonitorOut
from providers.aws.training_pipeline import RETRY_ATTEMPTS, RETRY_MAX_AGE_SECONDS, TrainingOut
from providers.aws.translate import AwsSettings
from providers.base import Capability, Deployment

# A CloudWatch metric-math alarm may reference at most 10 metrics.
_MAX_METRICS = 10


def chunks(items: list[str], size: int = _MAX_METRICS) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class RetrainingTrigger(Capability):
    cloud = "aws"
    capability = "RetrainingTrigger"

    def __init__(
        self,
        name: str,
        deployment: Deployment[AwsSettings],
        foundation: FoundationOut,
        monitor: MonitorOut,
        training: TrainingOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        platform = deployment.platform
        spec = platform.monitor
        self.topic = aws.sns.Topic(
            f"{name}-alerts",
            display_name=f"mlops {platform.prefix} drift alerts",
            kms_master_key_id=foundation.key_id,
            tags=platform.all_tags,
            opts=self.child(),
        )
        aws.sns.TopicSubscription(
            f"{name}-alert-email",
            topic=self.topic.arn,
            protocol="email",
            endpoint=spec.alert_email,
            opts=self.child(),
        )
        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
        if monitor.schedule_name is None or not monitor.columns:
            # Nothing served or no feature declared: no drift metric exists to alarm on.
            self.publish(drift_alarm=[], alert_topic=self.topic.arn, retrain_target=None)
            return

        for index, features in enumerate(chunks(list(monitor.columns))):
            queries = [
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id=f"m{i}",
                    return_data=False,
                    metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                        namespace=METRIC_NAMESPACE,
                        metric_name=f"feature_baseline_drift_{feature}",
                        dimensions={"Endpoint": monitor.endpoint_name, "MonitoringSchedule": monitor.schedule_name},
                        period=3600,
                        stat="Maximum",
                    ),
                )
                for i, feature in enumerate(features)
            ]
            queries.append(
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="drift",
                    expression=f"MAX([{', '.join(q.id for q in queries)}])",
                    label="largest feature drift",
                    return_data=True,
                )
            )
            suffix = "" if index == 0 else f"-{index + 1}"
            self.alarms.append(
                aws.cloudwatch.MetricAlarm(
                    f"{name}-drift{suffix}",
                    name=f"{platform.prefix}-feature-drift{suffix}",
                    alarm_description=(
                        f"Largest feature_baseline_drift over {', '.join(features)} above {spec.drift_threshold}"
                    ),
                    comparison_operator="GreaterThanThreshold",
                    threshold=spec.drift_threshold,
                    evaluation_periods=1,
                    datapoints_to_alarm=1,
                    metric_queries=queries,
                    treat_missing_data="notBreaching",
                    alarm_actions=[self.topic.arn],
                    tags=platform.all_tags,
                    opts=self.child(),
                )
            )

        retrain_target = None
        if spec.retrain_on_drift:
            rule = aws.cloudwatch.EventRule(
                f"{name}-retrain",
                # Named: the key policy, the starter role's trust and the dead-letter queue policy name
                # its ARN before it exists.
                name=deployment.settings.retrain_rule_name,
                description=f"Start {training.pipeline_name} when a drift alarm fires",
                event_pattern=pulumi.Output.all(*[a.arn for a in self.alarms]).apply(
                    lambda arns: json.dumps(
                        {
                            "source": ["aws.cloudwatch"],
                            "detail-type": ["CloudWatch Alarm State Change"],
                            "resources": list(arns),
                            "detail": {"state": {"value": ["ALARM"]}},
                        }
                    )
                ),
                state="ENABLED",
                tags=platform.all_tags,
                opts=self.child(),
            )
            aws.cloudwatch.EventTarget(
                f"{name}-retrain-pipeline",
                rule=rule.name,
                arn=training.pipeline_arn,
                role_arn=training.starter_role_arn,
                retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                    maximum_retry_attempts=RETRY_ATTEMPTS, maximum_event_age_in_seconds=RETRY_MAX_AGE_SECONDS
                ),
                dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=training.dead_letter_arn),
                sagemaker_pipeline_target=aws.cloudwatch.EventTargetSagemakerPipelineTargetArgs(
                    pipeline_parameter_lists=[
                        aws.cloudwatch.EventTargetSagemakerPipelineTargetPipelineParameterListArgs(
                            name="trigger", value="drift"
                        )
                    ]
                ),
                opts=self.child(),
            )
            retrain_target = training.pipeline_arn
        self.publish(
            drift_alarm=[alarm.arn for alarm in self.alarms],
            alert_topic=self.topic.arn,
            retrain_target=retrain_target,
        )
