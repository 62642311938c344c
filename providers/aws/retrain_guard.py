"""One retraining per drift episode: the Lambda between the drift alarm's EventBridge rule and the
training pipeline (Python 3.12 runtime, boto3 only).

EventBridge starts a target for every matching event and cannot ask whether a run is in flight, so
this function applies the rule of `pipelines/loop.py:RetrainGuard` before it starts anything:
no second drift-started run while one is in flight, none within `COOLDOWN_HOURS` of the last one.
A run counts as drift-started when its `trigger` pipeline parameter is `drift` (what this function
and the kit's EventBridge target before it pass; `mlops run` passes `manual`, the schedule
`schedule`). Executions are read with ListPipelineExecutions (newest first) and
ListPipelineParametersForExecution.

EventBridge delivers an event at least once: the start's `ClientRequestToken` is derived from the
event id, so a redelivered event cannot start a second run ("An idempotent operation completes no
more than once", botocore's StartPipelineExecution `ClientRequestToken`).

Environment: `PIPELINE_NAME`, `COOLDOWN_HOURS`.
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


def handler(event: dict[str, Any], context: Any = None, *, sm: Any = None, now: datetime | None = None) -> dict:
    import boto3

    sm = sm or boto3.client("sagemaker")
    now = now or datetime.now(UTC)
    pipeline = os.environ["PIPELINE_NAME"]
    cooldown = timedelta(hours=float(os.environ.get("COOLDOWN_HOURS", "24")))
    allowed, why = decide(sm, pipeline, now, cooldown)
    result: dict[str, Any] = {"started": allowed, "why": why, "alarm": (event.get("detail") or {}).get("alarmName")}
    if allowed:
        started = sm.start_pipeline_execution(
            PipelineName=pipeline,
            PipelineExecutionDisplayName=f"drift-{now:%Y%m%dT%H%M%S}",
            PipelineExecutionDescription=f"started by drift ({result['alarm']})",
            PipelineParameters=[{"Name": TRIGGER_PARAM, "Value": DRIFT}],
            ClientRequestToken=request_token(event),
        )
        result["execution"] = started["PipelineExecutionArn"]
    print(json.dumps(result))  # the function's log: why a drift alert did or did not start a run
    return result
