"""One drift episode replayed against the AWS wiring the plan declares (issue 11 item 5).

The drift alarm's state change goes through the EventBridge rule the plan declares (moto routes
it, or not, by the rule's pattern), then to the retrain guard (`providers/aws/retrain_guard.py`, the Lambda's code,
configured with the environment the plan gives the function) calling SageMaker in moto, on a pipeline
created from the plan's own definition. Every scheduled rule the plan points at the guard fires at
each drift check (moto stores scheduled rules but does not run them: the replay sends the event
EventBridge sends). Expected: exactly one retraining per episode; a second alert while it runs or
within `monitor.retrain_cooldown_hours` starts none; drift that persists past the cooldown starts one
more (as `pipelines/loop.py:RetrainGuard` does on every drifting check); runs started by hand or by
the schedule never block one.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

from providers.aws import retrain_guard

REGION = "eu-west-1"
VERDICT_DELAY = timedelta(minutes=10)
"""A drift check's verdict lands this long after its scheduled time (the processing job's run)."""


def scheduled_event(rule_arn: str, at: datetime, event_id: str) -> dict:
    """The event a scheduled rule sends its target ("Creating a rule that runs on a schedule",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-rule-schedule.html; the shape of
    aws/aws-lambda-rust-runtime's `example-cloudwatch-scheduled-event` fixture)."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [rule_arn],
        "detail": {},
    }


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
        rules = [r.inputs for r in plan.by_type("aws:cloudwatch/eventRule:EventRule")]
        (rule,) = [r for r in rules if "eventPattern" in r]
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
        # The scheduled rules whose target is the guard and whose invocation its resource policy allows.
        guard = f"arn:aws:lambda:{REGION}:123456789012:function:{function['name']}"
        targets = plan.by_type("aws:cloudwatch/eventTarget:EventTarget")
        targeted = {t.inputs["rule"] for t in targets if t.inputs["arn"] == guard}
        allowed = {p.inputs["sourceArn"] for p in plan.by_type("aws:lambda/permission:Permission")}
        self.scheduled: list[str] = []
        for r in rules:
            arn = f"arn:aws:events:{REGION}:123456789012:rule/{r['name']}"
            if "scheduleExpression" in r and r["name"] in targeted and arn in allowed:
                self.events.put_rule(Name=r["name"], ScheduleExpression=r["scheduleExpression"], State=r["state"])
                self.scheduled.append(arn)
        # The episode's alarm, in moto's CloudWatch, where the guard reads its state.
        self.cw = boto3.client("cloudwatch", region_name=REGION)
        self.alarm = self.alarm_arn.rsplit(":", 1)[1]
        self.cw.put_metric_alarm(
            AlarmName=self.alarm,
            Namespace="mlops/replay",
            MetricName="feature_drift",
            Statistic="Maximum",
            Period=3600,
            EvaluationPeriods=1,
            Threshold=0.2,
            ComparisonOperator="GreaterThanThreshold",
        )
        self.state = "OK"
        self.cw.set_alarm_state(AlarmName=self.alarm, StateValue="OK", StateReason="replay")

    def check(self, at: timedelta, drifting: bool) -> list[dict]:
        """One drift check at `t0 + at`: the scheduled rules fire at its time (the alarm still as the
        previous check left it), then its verdict sets the alarm, and a change to ALARM is an event."""
        answers = []
        for rule_arn in self.scheduled:
            self.delivered += 1
            event = scheduled_event(rule_arn, self.t0 + at, str(uuid.uuid4()))  # EventBridge ids are UUIDs
            answers.append(self._stamped(retrain_guard.handler(event, sm=self.sm, now=self.t0 + at), at))
        state = "ALARM" if drifting else "OK"
        if state != self.state:
            self.cw.set_alarm_state(AlarmName=self.alarm, StateValue=state, StateReason="replay")
            self.state = state
            answer = self.alert(state, after=at + VERDICT_DELAY)
            answers += [self._stamped(answer, at + VERDICT_DELAY)] if answer is not None else []
        return answers

    def _stamped(self, answer: dict, at: timedelta) -> dict:
        """moto stamps a run with the wall clock; the replay's clock is `t0 + at`."""
        if answer.get("execution"):
            pipeline = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].pipelines[self.pipeline]
            execution = pipeline.pipeline_executions[answer["execution"]]
            execution.start_time = execution.creation_time = (self.t0 + at).replace(tzinfo=None)
        return answer

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


def test_drift_that_persists_past_the_cooldown_is_retrained_once(wiring):
    """Audit 2 finding 2: the alarm enters ALARM once and stays there; the retraining refused within
    the cooldown must start once the cooldown has passed, and only once."""
    w = wiring("aws-dev")  # an hourly drift check, retrain_cooldown_hours: 24 (the default)
    hour = timedelta(hours=1)
    (first,) = [a for a in w.check(0 * hour, drifting=True) if a["started"]]
    (run,) = w.runs("drift")
    w.set_status(run, "Executing")
    asked = w.check(1 * hour, drifting=True)
    assert asked and all(not a["started"] and "in flight" in a["why"] for a in asked)
    w.set_status(run, "Succeeded")
    # The alarm never leaves ALARM: no state change, and every check within the cooldown starts nothing.
    for k in range(2, 25):
        asked = w.check(k * hour, drifting=True)
        assert asked, f"check {k}: nothing asked the guard while the alarm is in ALARM"
        assert all(not a["started"] and "cooldown" in a["why"] for a in asked), (k, asked)
    assert w.runs() == [run]
    # 24 h 50 min after the first retraining: the drift is still there, so one more.
    started = [a for a in w.check(25 * hour, drifting=True) if a["started"]]
    assert len(started) == 1 and len(w.runs("drift")) == 2
    second = started[0]["execution"]
    w.set_status(second, "Executing")
    assert not any(a["started"] for a in w.check(26 * hour, drifting=True))
    w.set_status(second, "Succeeded")
    # The drift ends: the alarm goes OK, and nothing asks or starts again, even past the cooldown.
    for k in (27, 28, 60):
        asked = w.check(k * hour, drifting=False)
        assert not any(a["started"] for a in asked), (k, asked)
    assert len(w.runs("drift")) == 2


def test_the_scheduled_ask_reads_the_alarm_and_starts_nothing_when_it_is_ok(wiring):
    w = wiring("aws-dev")
    asked = w.check(timedelta(0), drifting=False)
    assert [a["started"] for a in asked] == [False] * len(w.scheduled) and len(w.scheduled) == 1
    assert asked[0]["why"] == "the drift alarm is OK: nothing to retrain"
    assert w.runs() == []


def test_a_redelivered_event_is_the_identical_start_request(wiring):
    """Audit 2 finding 9: Lambda retries an event whose first attempt started the run but timed out
    before the run was listed; the retry must send the same parameters under the same idempotency
    token, so the display name comes from the event's time, not the clock."""
    w = wiring("aws-dev")
    event = alarm_event(w.alarm_arn, "ALARM", "6a7e8feb-b491-4cf7-a9f1-bf3703467718")
    event["time"] = "2026-12-02T03:00:00Z"
    calls = []

    class NotListedYet:
        """SageMaker as the retry sees it: the first start happened, the run is not listed yet."""

        def __getattr__(self, name):
            if name == "list_pipeline_executions":
                return lambda **kw: {"PipelineExecutionSummaries": []}
            if name == "start_pipeline_execution":
                return lambda **kw: calls.append(kw) or {"PipelineExecutionArn": f"arn:replay:{len(calls)}"}
            return getattr(w.sm, name)

    retrain_guard.handler(event, sm=NotListedYet(), now=w.t0)
    retrain_guard.handler(event, sm=NotListedYet(), now=w.t0 + timedelta(minutes=7))
    assert len(calls) == 2 and calls[0] == calls[1]
    assert calls[0]["PipelineExecutionDisplayName"] == "drift-20261202T030000"
    assert calls[0]["ClientRequestToken"] == "mlops-drift-6a7e8feb-b491-4cf7-a9f1-bf3703467718"
    shape = w.sm.meta.service_model.operation_model("StartPipelineExecution").input_shape
    name = shape.members["PipelineExecutionDisplayName"]
    assert re.fullmatch(name.metadata["pattern"], calls[0]["PipelineExecutionDisplayName"])  # botocore's rule
