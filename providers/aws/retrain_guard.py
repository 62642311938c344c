"""One retraining per drift episode: the Lambda between a finished drift check and the training
pipeline (Python 3.12 runtime, boto3 only).

It applies the rule of `pipelines/loop.py:RetrainGuard` on EVERY drifting check, after that check's
verdict exists: no second drift-started run while one is in flight, none within `COOLDOWN_HOURS` of
the last one. A run counts as drift-started when its `trigger` pipeline parameter is `drift` (what
this function passes; `mlops run` passes `manual`, the schedule `schedule`). Executions are read with
ListPipelineExecutions (newest first) and ListPipelineParametersForExecution.

What asks it (`monitor.engine: kit`): SageMaker's "SageMaker Processing Job State Change" event of
one of this stack's drift-check jobs (`<prefix>-drift-<Scheduler execution id>`, created by
EventBridge Scheduler, `model_monitor.py`) reaching `Completed` ("Events that Amazon SageMaker AI
sends to Amazon EventBridge",
https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html). The
function then reads the verdict THAT job wrote (`drift.json`, uploaded at the end of the job to
`<VERDICTS>/<job name>/`) and decides only when the window was judged (`status: ok`) and a column
drifted. So every check asks once, with its own verdict, whatever the alarm's state; an OK or
skipped window starts nothing. The cooldown is counted between drift CHECKS (the window end the
verdict names, which is the check's scheduled time; the run it started carries it in its display
name `drift-<window end>`): persistent drift is retrained at the first check at least
`COOLDOWN_HOURS` after the check that started the last retraining, whatever the minutes each job
took.

`monitor.engine: builtin` (Model Monitor names its own jobs, and its verdict is not the kit's): the
drift alarm entering ALARM asks instead ("CloudWatch Alarm State Change"); drift that outlasts the
cooldown is not asked about again until the alarm leaves ALARM and enters it again (a `note` of
`mlops validate`).

SageMaker "may send multiple events to EventBridge for each state change" (the page above) and
EventBridge delivers at least once: the start's `ClientRequestToken` is derived from the drift
job's name (one job, one token, whatever the event id) and its display name from the verdict's
window, so a duplicate is the identical request and cannot start a second run ("An idempotent
operation completes no more than once", botocore's StartPipelineExecution `ClientRequestToken`);
the duplicate is also within the cooldown of the run the first one started.

Environment: `PIPELINE_NAME`, `COOLDOWN_HOURS`; kit: `VERDICTS` (`s3://<bucket>/monitoring/drift`),
`JOB_PREFIX` (`<prefix>-drift-`); builtin: `ALARM_NAME`.
"""

from __future__ import annotations

import hashlib
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
JOB_EVENT = "SageMaker Processing Job State Change"
ALARM_EVENT = "CloudWatch Alarm State Change"
COMPLETED = "Completed"
"""ProcessingJobStatus of a job that ended well (botocore's enum: InProgress, Completed, Failed,
Stopping, Stopped)."""
VERDICT_FILE = "drift.json"
"""What the kit's drift step writes (`pipelines/kit/mlops_drift.py`, RESULT_FILE)."""
DISPLAY_PREFIX = "drift-"
DISPLAY_FORMAT = "%Y%m%dT%H%M%S"
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


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def asked_at(execution: dict[str, Any]) -> datetime:
    """When the drift check that started a drift run was scheduled: its display name
    `drift-<window end>`; its start time for a run named otherwise."""
    name = str(execution.get("PipelineExecutionDisplayName") or "")
    if name.startswith(DISPLAY_PREFIX):
        try:
            return datetime.strptime(name[len(DISPLAY_PREFIX) :], DISPLAY_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            pass
    return _utc(execution["StartTime"])


def decide(sm: Any, pipeline: str, at: datetime, cooldown: timedelta) -> tuple[bool, str]:
    """(start?, why): the RetrainGuard rule over the pipeline's own execution history, for the drift
    check scheduled at `at`."""
    for execution in _executions(sm, pipeline, at - max(LOOKBACK, cooldown)):
        running = execution.get("PipelineExecutionStatus") in IN_FLIGHT
        last = asked_at(execution)
        recent = at - last < cooldown
        if not (running or recent) or trigger(sm, execution["PipelineExecutionArn"]) != DRIFT:
            continue
        if running:
            return False, f"a drift-started retraining is in flight ({execution['PipelineExecutionArn']})"
        until = (last + cooldown).isoformat(timespec="seconds")
        return False, f"within the cooldown of the last drift-started retraining (until {until})"
    return True, "drift above the threshold"


def request_token(event: dict[str, Any], job: str | None = None) -> str:
    """StartPipelineExecution's idempotency token (32-128 characters: always 52 here): from the drift
    job's name (one job, one start, whatever the event id), else from the EventBridge event id."""
    source = job or str(event.get("id") or uuid.uuid4())
    return f"mlops-drift-{hashlib.sha256(source.encode()).hexdigest()[:40]}"


def event_time(event: dict[str, Any], now: datetime) -> datetime:
    """The event's own time (EventBridge's `time`, ISO-8601 with `Z`): the same on every redelivery."""
    try:
        return _utc(datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")))
    except (KeyError, ValueError):
        return now


def display_name(at: datetime) -> str:
    """`PipelineExecutionDisplayName` `drift-<check time>`: the same request for every duplicate,
    and what `asked_at` reads back."""
    return f"{DISPLAY_PREFIX}{_utc(at):{DISPLAY_FORMAT}}"


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key.strip("/")


def read_verdict(s3: Any, verdicts: str, job: str) -> dict[str, Any] | None:
    """The drift result the job wrote, or None when there is none under this stack's verdicts."""
    bucket, prefix = _split(verdicts)
    key = f"{prefix}/{job}/{VERDICT_FILE}" if prefix else f"{job}/{VERDICT_FILE}"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body)


def drifting(result: dict[str, Any]) -> tuple[bool, str]:
    """Whether a drift result is a drifting verdict (`mlops_drift.compare`'s fields)."""
    status = result.get("status")
    if status != "ok":
        return False, f"the check's window was {status or 'not judged'} ({result.get('reason', 'no verdict')})"
    drifted = sorted(name for name, f in (result.get("features") or {}).items() if f.get("drifted"))
    if not drifted:
        return False, f"no drift: largest {result.get('max')} <= threshold {result.get('threshold')}"
    return True, f"drift above {result.get('threshold')} in {', '.join(drifted)}"


def check_time(result: dict[str, Any], event: dict[str, Any], now: datetime) -> datetime:
    """The check's scheduled time: the end of the window its verdict names."""
    try:
        return _utc(datetime.fromisoformat(str(result["window"]["until"]).replace("Z", "+00:00")))
    except (KeyError, TypeError, ValueError):
        return event_time(event, now)


def handler(
    event: dict[str, Any],
    context: Any = None,
    *,
    sm: Any = None,
    s3: Any = None,
    now: datetime | None = None,
) -> dict:
    import boto3

    now = now or datetime.now(UTC)
    pipeline = os.environ["PIPELINE_NAME"]
    cooldown = timedelta(hours=float(os.environ.get("COOLDOWN_HOURS", "24")))
    detail = event.get("detail") or {}
    result: dict[str, Any] = {}
    job: str | None = None
    if event.get("detail-type") == JOB_EVENT:
        job = str(detail.get("ProcessingJobName") or "")
        result["check"] = job
        status = detail.get("ProcessingJobStatus")
        if status != COMPLETED or not job.startswith(os.environ["JOB_PREFIX"]):
            result.update(started=False, why=f"not a completed drift check of this stack ({job}: {status})")
            print(json.dumps(result))
            return result
        verdict = read_verdict(s3 or boto3.client("s3"), os.environ["VERDICTS"], job)
        if verdict is None:
            result.update(started=False, why=f"no verdict under {os.environ['VERDICTS']}/{job}")
            print(json.dumps(result))
            return result
        drifted, why = drifting(verdict)
        at = check_time(verdict, event, now)
        result["window_end"] = at.isoformat()
        if not drifted:
            result.update(started=False, why=why)
            print(json.dumps(result))
            return result
        asked = f"drift check {job}: {why}"
    else:
        # builtin: the drift alarm entered ALARM.
        alarm = detail.get("alarmName") or os.environ.get("ALARM_NAME")
        result["alarm"] = alarm
        at = event_time(event, now)
        asked = f"{alarm} entered ALARM"
    sm = sm or boto3.client("sagemaker")
    allowed, why = decide(sm, pipeline, at, cooldown)
    result.update(started=allowed, why=why)
    if allowed:
        started = sm.start_pipeline_execution(
            PipelineName=pipeline,
            PipelineExecutionDisplayName=display_name(at),
            PipelineExecutionDescription=f"started by drift ({asked})"[:3072],
            PipelineParameters=[{"Name": TRIGGER_PARAM, "Value": DRIFT}],
            ClientRequestToken=request_token(event, job),
        )
        result["execution"] = started["PipelineExecutionArn"]
    print(json.dumps(result))  # the function's log: why a drift check did or did not start a run
    return result
