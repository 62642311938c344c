"""One drift episode replayed against the AWS wiring the plan declares (issue 11 item 5).

The drift alarm's state change goes through the EventBridge rule the plan declares (moto routes
it, or not, by the rule's pattern), then to the retrain guard (`providers/aws/retrain_guard.py`, the Lambda's code,
configured with the environment the plan gives the function) calling SageMaker in moto, on a pipeline
created from the plan's own definition. Expected: exactly one retraining per episode; a second
alert while it runs or within `monitor.retrain_cooldown_hours` starts none; runs started by hand or by
the schedule never block one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

from providers.aws import retrain_guard

REGION = "eu-west-1"


def alarm_event(alarm_arn: str, state: str, event_id: str) -> dict:
    """A CloudWatch alarm state-change event, as EventBridge delivers it ("Alarm events and
    EventBridge", https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html)."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": REGION,
        "resources": [alarm_arn],
        "detail": {
            "alarmName": alarm_arn.rsplit(":", 1)[1],
            "state": {"value": state, "reason": "replayed"},
            "previousState": {"value": "OK" if state == "ALARM" else "ALARM", "reason": "replayed"},
        },
    }


class Wiring:
    """The rule, the guard and the pipeline of one planned stack, in moto."""

    def __init__(self, plan, monkeypatch) -> None:
        rule = plan.one("aws:cloudwatch/eventRule:EventRule").inputs
        self.pattern = rule["eventPattern"]
        self.alarm_arn = json.loads(self.pattern)["resources"][0]
        function = plan.one("aws:lambda/function:Function").inputs
        for key, value in function["environment"]["variables"].items():
            monkeypatch.setenv(key, value)
        self.pipeline = function["environment"]["variables"]["PIPELINE_NAME"]
        self.events = boto3.client("events", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        # The rule as planned; its target stands in for the guard Lambda (moto runs Lambdas in Docker):
        # a queue that receives what the rule routes, which the test hands to the guard's handler.
        self.events.put_rule(Name=rule["name"], EventPattern=self.pattern, State=rule["state"])
        self.inbox = self.sqs.create_queue(QueueName="routed")["QueueUrl"]
        inbox_arn = self.sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])["Attributes"]
        self.events.put_targets(Rule=rule["name"], Targets=[{"Id": "guard", "Arn": inbox_arn["QueueArn"]}])
        self.sm = boto3.client("sagemaker", region_name=REGION)
        self.sm.create_pipeline(
            PipelineName=self.pipeline,
            PipelineDefinition=plan.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"],
            RoleArn="arn:aws:iam::123456789012:role/churn-dev-foundation-sagemaker-mock",
        )
        self.t0 = datetime.now(UTC)
        self.delivered = 0

    def alert(self, state: str = "ALARM", *, after: timedelta = timedelta(0)) -> dict | None:
        """Deliver one alarm state change; the guard's answer, or None if the rule did not match."""
        self.delivered += 1
        event = alarm_event(self.alarm_arn, state, f"event-{self.delivered}")
        sent = self.events.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Resources": event["resources"],
                    "Detail": json.dumps(event["detail"]),
                }
            ]
        )
        assert sent["FailedEntryCount"] == 0
        messages = self.sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return None
        (message,) = messages
        self.sqs.delete_message(QueueUrl=self.inbox, ReceiptHandle=message["ReceiptHandle"])
        routed = json.loads(message["Body"])
        assert routed["resources"] == [self.alarm_arn] and routed["detail"]["state"]["value"] == state
        return retrain_guard.handler(routed, sm=self.sm, now=self.t0 + after)

    def runs(self, trigger: str | None = None) -> list[str]:
        arns = [
            e["PipelineExecutionArn"]
            for e in self.sm.list_pipeline_executions(PipelineName=self.pipeline)["PipelineExecutionSummaries"]
        ]
        return [a for a in arns if trigger is None or retrain_guard.trigger(self.sm, a) == trigger]

    def set_status(self, execution_arn: str, status: str) -> None:
        """moto ends every execution at once; a real one runs for a while."""
        pipeline = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].pipelines[self.pipeline]
        pipeline.pipeline_executions[execution_arn].pipeline_execution_status = status


@pytest.fixture
def wiring(aws_plans, monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield lambda stack: Wiring(aws_plans[stack], monkeypatch)


def test_one_drift_episode_starts_exactly_one_retraining(wiring):
    w = wiring("aws-dev")  # retrain_cooldown_hours: 24 (the default)
    first = w.alert()
    assert first is not None and first["started"] is True
    (run,) = w.runs()
    assert w.runs("drift") == [run] and first["execution"] == run
    w.set_status(run, "Executing")

    # The same episode alerts again (EventBridge redelivers, or the alarm flaps OK -> ALARM).
    again = w.alert(after=timedelta(minutes=5))
    assert again is not None and again["started"] is False and "in flight" in again["why"]
    assert w.alert("OK", after=timedelta(minutes=6)) is None  # back to OK: the rule does not match
    w.set_status(run, "Succeeded")
    within = w.alert(after=timedelta(hours=23, minutes=59))
    assert within is not None and within["started"] is False and "cooldown" in within["why"]
    assert w.runs() == [run]

    # A new episode after the cooldown retrains once more.
    later = w.alert(after=timedelta(hours=24, minutes=1))
    assert later is not None and later["started"] is True
    assert len(w.runs("drift")) == 2


def test_the_cooldown_is_the_stacks(wiring):
    w = wiring("aws-all-options")  # retrain_cooldown_hours: 12
    assert w.alert()["started"] is True
    assert w.alert(after=timedelta(hours=11, minutes=59))["started"] is False
    assert w.alert(after=timedelta(hours=12, minutes=1))["started"] is True
    assert len(w.runs("drift")) == 2


def test_runs_started_by_hand_or_schedule_do_not_block_a_drift_retraining(wiring):
    w = wiring("aws-dev")
    for trigger in ("manual", "schedule"):
        arn = w.sm.start_pipeline_execution(
            PipelineName=w.pipeline, PipelineParameters=[{"Name": "trigger", "Value": trigger}]
        )["PipelineExecutionArn"]
        w.set_status(arn, "Executing")
    result = w.alert()
    assert result["started"] is True
    assert len(w.runs()) == 3 and len(w.runs("drift")) == 1


def test_the_guard_starts_the_pipeline_with_the_drift_trigger_and_an_idempotency_token(wiring):
    w = wiring("aws-dev")
    w.alert()
    (run,) = w.runs()
    params = w.sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=run)["PipelineParameters"]
    assert params == [{"Name": "trigger", "Value": "drift"}]
    token = retrain_guard.request_token({"id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718"})
    assert token == "mlops-drift-6a7e8feb-b491-4cf7-a9f1-bf3703467718"
    shape = w.sm.meta.service_model.operation_model("StartPipelineExecution").input_shape.members["ClientRequestToken"]
    assert shape.metadata["min"] <= len(token) <= shape.metadata["max"]  # botocore's rule, not our copy
