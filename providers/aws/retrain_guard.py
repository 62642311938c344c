"""One retraining per drift episode: the Lambda between the drift alarm's EventBridge rule and the
training pipeline (Python 3.12 runtime, boto3 only).

EventBridge starts a target for every matching event and cannot ask whether a run is in flight, so
this function applies the rule of `pipelines/loop.py:RetrainGuard` before it starts anything:
no second drift-started run while one is in flight, none within `COOLDOWN_HOURS` of the last one.
A run counts as drift-started when its `trigger` pipeline parameter is `drift` (what this function
and the kit's EventBridge target before it pass; `mlops run` passes `manual`, the schedule
`schedule`). Executions are read with ListPipelineExecutions (newest first) and
ListPipelineParametersForExecution.

Two rules invoke it. The drift alarm entering ALARM (an alarm state-change event), and a scheduled
rule on the drift check's own schedule: a state change happens once per episode, so a retraining
refused within the cooldown (or while one runs) would never be asked for again while drift persists
and the alarm stays in ALARM. On a scheduled event the function reads the alarm's current state
(CloudWatch DescribeAlarms) and decides only when it is ALARM, which is what `RetrainGuard` does on
every drifting check of the laptop loop.

EventBridge delivers an event at least once: the start's `ClientRequestToken` is derived from the
event id and its display name from the event time, so a redelivered event is the identical request
and cannot start a second run ("An idempotent operation completes no more than once", botocore's
StartPipelineExecution `ClientRequestToken`).

Environment: `PIPELINE_NAME`, `COOLDOWN_HOURS`, `ALARM_NAME` (the drift episode's alarm).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

TRIGGER_PARAM = "trigger"
DRIFT = "drift"
IN_FLIGHT = frozenset({"Executing", "Stopping"})
"""PipelineExecutionStatus values of a run that has not ended (botocore's enum)."""
SCHEDULED = "Scheduled Event"
"""The `detail-type` of an event a scheduled EventBridge rule sends ("Creating a rule that runs on a
schedule", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-rule-schedule.html)."""
LOOKBACK = timedelta(days=30)
"""How far back an in-flight run is looked for: longer than any run of the kit's pipeline."""


def _executions(sm: Any, pipeline: str, since: datetime) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        page = sm.list_pipeline_executions(
            PipelineName=pipeline,
            CreatedAfter=since,
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=100,
            **({"NextToken": token} if token else {}),
        )
        yield from page.get("PipelineExecutionSummaries") or []
        token = page.get("NextToken")
        if not token:
            return


def trigger(sm: Any, execution_arn: str) -> str | None:
    token: str | None = None
    while True:
        page = sm.list_pipeline_parameters_for_execution(
            PipelineExecutionArn=execution_arn, **({"NextToken": token} if token else {})
        )
        for parameter in page.get("PipelineParameters") or []:
            if parameter["Name"] == TRIGGER_PARAM:
                return str(parameter["Value"])
        token = page.get("NextToken")
        if not token:
            return None


def decide(sm: Any, pipeline: str, now: datetime, cooldown: timedelta) -> tuple[bool, str]:
    """(start?, why): the RetrainGuard rule over the pipeline's own execution history."""
    for execution in _executions(sm, pipeline, now - max(LOOKBACK, cooldown)):
        started = execution["StartTime"]
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        running = execution.get("PipelineExecutionStatus") in IN_FLIGHT
        recent = now - started < cooldown
        if not (running or recent) or trigger(sm, execution["PipelineExecutionArn"]) != DRIFT:
            continue
        if running:
            return False, f"a drift-started retraining is in flight ({execution['PipelineExecutionArn']})"
        until = (started + cooldown).isoformat(timespec="seconds")
        return False, f"within the cooldown of the last drift-started retraining (until {until})"
    return True, "drift above the threshold"


def request_token(event: dict[str, Any]) -> str:
    """StartPipelineExecution's idempotency token (32-128 characters) from the EventBridge event id."""
    return f"mlops-drift-{event.get('id') or uuid.uuid4()}"


def event_time(event: dict[str, Any], now: datetime) -> datetime:
    """The event's own time (EventBridge's `time`, ISO-8601 with `Z`): the same on every redelivery."""
    try:
        return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return now


def display_name(event: dict[str, Any], now: datetime) -> str:
    """`PipelineExecutionDisplayName` from the event time, so a retried event sends the same request."""
    return f"drift-{event_time(event, now):%Y%m%dT%H%M%S}"


def alarm_state(cw: Any, alarm: str) -> str | None:
    """The alarm's current StateValue (a metric alarm, or the composite one above 10 columns)."""
    answer = cw.describe_alarms(AlarmNames=[alarm], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    for found in [*(answer.get("MetricAlarms") or []), *(answer.get("CompositeAlarms") or [])]:
        if found.get("AlarmName") == alarm:
            return str(found["StateValue"])
    return None


def handler(
    event: dict[str, Any],
    context: Any = None,
    *,
    sm: Any = None,
    cw: Any = None,
    now: datetime | None = None,
) -> dict:
    import boto3

    now = now or datetime.now(UTC)
    pipeline = os.environ["PIPELINE_NAME"]
    cooldown = timedelta(hours=float(os.environ.get("COOLDOWN_HOURS", "24")))
    alarm = (event.get("detail") or {}).get("alarmName") or os.environ.get("ALARM_NAME")
    result: dict[str, Any] = {"alarm": alarm}
    if event.get("detail-type") == SCHEDULED:
        # The re-ask on the drift check's schedule: only while the episode's alarm is in ALARM.
        state = alarm_state(cw or boto3.client("cloudwatch"), os.environ["ALARM_NAME"])
        if state != "ALARM":
            result.update(started=False, why=f"the drift alarm is {state or 'missing'}: nothing to retrain")
            print(json.dumps(result))
            return result
    sm = sm or boto3.client("sagemaker")
    allowed, why = decide(sm, pipeline, now, cooldown)
    result.update(started=allowed, why=why)
    if allowed:
        asked = "still in ALARM at the drift check" if event.get("detail-type") == SCHEDULED else "entered ALARM"
        started = sm.start_pipeline_execution(
            PipelineName=pipeline,
            PipelineExecutionDisplayName=display_name(event, now),
            PipelineExecutionDescription=f"started by drift ({alarm} {asked})",
            PipelineParameters=[{"Name": TRIGGER_PARAM, "Value": DRIFT}],
            ClientRequestToken=request_token(event),
        )
        result["execution"] = started["PipelineExecutionArn"]
    print(json.dumps(result))  # the function's log: why a drift alert did or did not start a run
    return result
