"""Drift over the threshold -> alert by e-mail and, with retrain_on_drift, run the training pipeline.

The drift job (ModelMonitor) writes, per run, one log entry per request column and one for the run,
under the fixed monitored resource `global` (providers/gcp/step_io.py). Here:

- log-based metric `<prefix>-drifted-features`: counts the columns a run found drifted (label
  `feature`), for exactly the request columns; log-based metric `<prefix>-drift-checks`: counts runs
  (label `status`: ok | skipped), whatever their verdict;
- alert policy "drift": the drifted-feature count summed over a window (`ALIGN_SUM`) and ACROSS every
  series (`REDUCE_SUM`, no `group_by_fields`): one series whoever wrote the entries, so one drift
  episode is one incident; missing data (no drifted column any more) counts as not met
  (`EVALUATION_MISSING_DATA_INACTIVE`) and `auto_close` closes a stale incident, so the policy re-arms
  for the next episode; it notifies when an incident opens only;
- alert policy "drift check missing": no run for twice the window (capped at Cloud Monitoring's
  maximum) -> e-mail: a drift check that stops running does not look healthy;
- the Pub/Sub half (only with retrain_on_drift and a served model): a channel -> topic -> Eventarc
  trigger -> a workflow that keeps the retraining rule for the incident's episode, one short
  execution at a time: it ignores anything but an opening incident; it starts a run unless a
  drift-started run (label trigger=drift) is in flight or was created within
  `monitor.retrain_cooldown_hours`; then it sleeps (`sys.sleep`) until the guard may allow a run and
  hands over to a new execution of the workflow's latest revision (`executions.create`), which asks
  Cloud Monitoring whether the episode goes on (the drifted-feature count over the policy's own
  alignment period plus the logs-based metrics' 10-minute lag, `timeSeries.list`): if not, it ends;
  if so, it applies the guard again. The policy notifies once per incident, so drift that persists
  past the cooldown gets its retraining from this chain, not from a second notification. A run is
  named after the drift window of the decision (the first) or after the run before it (the next
  ones), and carries the incident as a label: a notification delivered again, or two executions
  deciding at once, find the run already there (409 ALREADY_EXISTS) and start nothing.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pulumi
import pulumi_gcp as gcp
import yaml

from providers.base import Capability, Deployment
from providers.gcp.foundation import (
    ENCRYPTER,
    VERTEX_RETRAIN_PERMISSIONS,
    FoundationOut,
    custom_role_id,
    vertex_role,
)
from providers.gcp.model_monitor import MonitorOut
from providers.gcp.training_pipeline import TrainingOut
from providers.gcp.translate import MAX_SLEEP_S, GcpSettings

PUBSUB_EVENT = "google.cloud.pubsub.topic.v1.messagePublished"
# Cloud Monitoring notifies on these incident events; only an opening incident starts retraining.
# No reminders (notification_channel_strategy.renotify_interval): documented only as "The frequency
# at which to send reminder notifications for open incidents" (AlertPolicy.AlertStrategy.
# NotificationChannelStrategy, https://cloud.google.com/python/docs/reference/monitoring/latest/google.cloud.monitoring_v3.types.AlertPolicy.AlertStrategy.NotificationChannelStrategy),
# with no documented Pub/Sub payload or interval range: the workflow keeps the episode's rule itself.
NOTIFY_ON = ["OPENED"]
# Pub/Sub notification payload (schema 1.2): {"incident": {"state": "open" | "closed", ...}, ...}
OPEN_STATE = "open"
# A drift-started run in one of these states is in flight (proto PipelineState).
IN_FLIGHT = [
    "PIPELINE_STATE_QUEUED",
    "PIPELINE_STATE_PENDING",
    "PIPELINE_STATE_RUNNING",
    "PIPELINE_STATE_CANCELLING",
    "PIPELINE_STATE_PAUSED",
]
DRIFT_LABEL = ("trigger", "drift")
INCIDENT_LABEL = "incident"
RETRAIN_MONITORING_PERMISSIONS = ("monitoring.timeSeries.list",)
"""The workflow reads the drifted-feature metric (is the episode still going on?): the one permission
of roles/monitoring.viewer that projects.timeSeries.list needs, in the retrain custom role instead
of that whole role (alert policies, channels, dashboards...)."""
WORKFLOW_INVOKER_PERMISSIONS = ("workflows.executions.create",)
"""What the Eventarc trigger's identity needs to start the retraining workflow: "Trigger a workflow
execution" ("Workflows roles and permissions", https://cloud.google.com/workflows/docs/access-control)."""
MAX_ALIGNMENT_S = 24 * 3600
"""The longest alignment period the kit asks for (Cloud Monitoring's own maximum: not verified)."""
MAX_ABSENCE_S = 88_200
"""24.5 hours: "The maximum configurable duration window is ... 24.5 hours if you use the Cloud
Monitoring API" ("Types of alerting policies", https://cloud.google.com/monitoring/alerts/types-of-conditions)."""
MIN_AUTO_CLOSE_S = 1800


def alert_timing(window_s: int) -> dict[str, int]:
    """The seconds of each alert setting for a drift window of `window_s`.

    alignment: the drifted-feature count is summed over two windows, so the runs of one continuing
    episode (one window apart, give or take the start delay) keep one incident open; it closes about
    two windows after the last drifted run. absence: no run for two windows is a missing check."""
    alignment = min(2 * window_s, MAX_ALIGNMENT_S)
    return {
        "alignment": alignment,
        "auto_close": max(MIN_AUTO_CLOSE_S, alignment),
        "absence": min(2 * window_s, MAX_ABSENCE_S) // 60 * 60,
    }


FAILED_RUNS_ALIGNMENT_S = 300
"""The window the retraining workflow's failed executions are counted over (5 minutes)."""


def failed_executions_filter(workflow: str) -> str:
    """The retraining workflow's executions that finished FAILED.

    Metric `workflows.googleapis.com/finished_execution_count` (label `status`) on the monitored
    resource `workflows.googleapis.com/Workflow` (label `workflow_id`): the names Google's Cloud
    Foundation Toolkit module terraform-google-sql-db (modules/backup/README.md, "Monitoring") and
    public alert policies use. Not verified against Google's "Google Cloud metrics" list
    (https://cloud.google.com/monitoring/api/metrics_gcp), which "Monitor workflows"
    (https://cloud.google.com/workflows/docs/monitor) points to: see docs/gcp.md."""
    return (
        'metric.type="workflows.googleapis.com/finished_execution_count" AND '
        'resource.type="workflows.googleapis.com/Workflow" AND '
        f'resource.label.workflow_id="{workflow}" AND metric.label.status="FAILED"'
    )


def drifted_features_filter(log_name: str, platform: str, columns: list[str]) -> str:
    """The entries of drifted request columns (the kit's verdict: value above the threshold)."""
    any_column = " OR ".join(f'jsonPayload.feature="{c}"' for c in columns)
    return (
        f'logName="{log_name}" AND resource.type="global" AND jsonPayload.mlops_platform="{platform}" '
        f'AND jsonPayload.kind="feature" AND jsonPayload.drifted=true AND ({any_column})'
    )


def drift_checks_filter(log_name: str, platform: str) -> str:
    """Every drift run's own entry, judged or skipped."""
    return (
        f'logName="{log_name}" AND resource.type="global" AND jsonPayload.mlops_platform="{platform}" '
        'AND jsonPayload.kind="check"'
    )


RUN_ID_MAX = 127
"""CreatePipelineJobRequest.pipeline_job_id "should be less than 128 characters, and valid characters
are /[a-z][0-9]-/" (proto comment, google.cloud.aiplatform_v1); the SDK checks the same id against
`^[a-z][-a-z0-9]{0,127}$` (google/cloud/aiplatform/constants/pipeline.py): a letter first."""
TIMESTAMP_MAX = 30
"""The longest RFC 3339 UTC timestamp the APIs return: "up to nine fractional digits"
("2014-10-02T15:01:23.045123456Z", google.protobuf.Timestamp in JSON)."""
NEXT_RUN = "-drift-after-"
FIRST_RUN = "-drift-first-"
METRIC_LAG_S = 600
"""Logs-based metrics lag: "it may take up to 10 minutes to update the logs-based metrics in Cloud
Monitoring" ("Troubleshooting logs-based metrics",
https://cloud.google.com/logging/docs/logs-based-metrics/troubleshooting): the episode query looks back
this much further than the policy's alignment period, so a drift check not counted yet is not read
as "the episode is over"."""
EXECUTIONS_API = "https://workflowexecutions.googleapis.com/v1"
MAX_ARGUMENT_BYTES = 32 * 1024
"""Execution.argument: "Input parameters of the execution represented as a JSON string. The size limit
is 32KB." (REST Resource: projects.locations.workflows.executions,
https://cloud.google.com/workflows/docs/reference/executions/rest/v1/projects.locations.workflows.executions)."""
MAX_INCIDENT_CHARS = 256
"""The incident id carried from one execution to the next is cut to this (ids look like `0.abc...`):
the hand-over argument stays far below MAX_ARGUMENT_BYTES whatever a notification holds."""


def run_id_stem(display_name: str) -> str:
    """The pipeline's part of a drift run's id: the display name with every character outside
    [a-z0-9-] made `-`, cut (with a hash of the whole name, so two long names stay apart) so that the
    stem, the longer suffix and a 30-character timestamp fit RUN_ID_MAX."""
    import hashlib
    import re

    stem = re.sub(r"[^a-z0-9-]", "-", display_name.lower())
    if not stem[:1].isalpha() or not stem[:1].isascii():
        stem = f"p{stem}"
    room = RUN_ID_MAX - max(len(NEXT_RUN), len(FIRST_RUN)) - TIMESTAMP_MAX
    if len(stem) > room:
        digest = hashlib.sha256(display_name.encode()).hexdigest()[:8]
        stem = f"{stem[: room - len(digest) - 1]}-{digest}"
    return stem


def workflow_source(
    *,
    project: str,
    region: str,
    workflow: str,
    bucket: str,
    template: str,
    root: str,
    service_account: str,
    kms_key: str,
    display_name: str,
    parameter_values: dict[str, str],
    labels: dict[str, str],
    cooldown_hours: int,
    window_seconds: int,
    drift_metric: str,
    episode_seconds: int,
) -> str:
    """Workflows YAML: on an opening incident, keep the retraining rule for its episode, one short
    execution at a time.

    An execution decides once: it starts a run unless a drift-started run is in flight or within the
    cooldown; then it sleeps until the guard may allow one (the end of the cooldown; one drift window
    while a run is in flight) and hands over: it creates a new execution of this workflow, which runs
    its LATEST revision ("Creates a new execution using the latest revision of the given workflow",
    Method: projects.locations.workflows.executions.create,
    https://cloud.google.com/workflows/docs/reference/executions/rest/v1/projects.locations.workflows.executions/create),
    passing the incident and the runs started so far as its argument, and ends. So a sleeping
    execution never starts a run with the step code, image digest, cooldown or window of an older
    deploy, and no execution lives longer than one sleep or takes more than a few dozen steps. The
    new execution first asks Cloud Monitoring whether the episode goes on (the drifted-feature count
    over the alert policy's own alignment period, plus METRIC_LAG_S) and ends if not; else it applies
    the guard again. Drift that persists past the cooldown gets its run from this chain: the policy
    notifies once per incident.

    `workflow` is this workflow's own id: the identity needs workflows.executions.create on it, which
    it already holds to be Eventarc's target."""
    cooldown_s = int(cooldown_hours) * 3600
    for what, seconds in (("cooldown", cooldown_s), ("drift window", window_seconds)):
        if not 0 <= seconds <= MAX_SLEEP_S:  # translate refuses such a window; the cooldown is <= 720 h
            raise ValueError(f"{what} of {seconds} s: the workflow cannot sleep that long (sys.sleep: {MAX_SLEEP_S} s)")
    jobs = f"https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}/pipelineJobs"
    series = f"https://monitoring.googleapis.com/v3/projects/{project}/timeSeries"
    executions = f"{EXECUTIONS_API}/projects/{project}/locations/{region}/workflows/{workflow}/executions"
    lookback = int(episode_seconds) + METRIC_LAG_S
    stem = run_id_stem(display_name)
    key, value = DRIFT_LABEL
    # Transient errors of the idempotent reads (429, 502, 503, 504, connection and timeout errors) are
    # retried, 5 times with backoff ("http.default_retry",
    # https://cloud.google.com/workflows/docs/reference/stdlib/http/default_retry); any other error
    # fails the execution, visibly (a FAILED execution in Workflows).
    retried = "${http.default_retry}"
    steps = [
        # An execution started by the one before it (after its sleep) carries `handover`; Eventarc
        # delivers the Pub/Sub message as a CloudEvent (the notification is base64 JSON).
        {"read_event": {"switch": [{"condition": '${map.get(event, "handover") != null}', "next": "resume"}]}},
        {
            "read_incident": {
                "assign": [
                    {"notification": "${json.decode(base64.decode(event.data.message.data))}"},
                    {"state": '${map.get(notification, ["incident", "state"])}'},
                    {
                        "incident": (
                            '${text.substring(default(map.get(notification, ["incident", "incident_id"]), "none"), '
                            f"0, {MAX_INCIDENT_CHARS})}}"
                        )
                    },
                    {"slept": False},
                    {"started": 0},
                ]
            }
        },
        {
            # Only an incident that opens starts a job (never its closing, nor a test message).
            "only_when_opened": {
                "switch": [{"condition": f'${{state != "{OPEN_STATE}"}}', "next": "ignored"}],
                "next": "label_incident",
            }
        },
        {
            "resume": {
                "assign": [
                    {"incident": "${event.handover.incident}"},
                    {"started": "${event.handover.started}"},
                    {"slept": True},
                    {"until": "${sys.now()}"},
                ]
            }
        },
        {
            # Does the episode go on? The drifted-feature count summed across every series over the
            # alert policy's own alignment period (what keeps its incident open), looking back
            # METRIC_LAG_S further for checks not counted yet ("Method: projects.timeSeries.list",
            # https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list).
            "episode_goes_on": {
                "try": {
                    "call": "http.get",
                    "args": {
                        "url": series,
                        "auth": {"type": "OAuth2"},
                        "query": {
                            "filter": (
                                f'metric.type="logging.googleapis.com/user/{drift_metric}" AND resource.type="global"'
                            ),
                            "interval.startTime": f"${{time.format(until - {lookback})}}",
                            "interval.endTime": "${time.format(until)}",
                            "aggregation.alignmentPeriod": f"{lookback}s",
                            "aggregation.perSeriesAligner": "ALIGN_SUM",
                            "aggregation.crossSeriesReducer": "REDUCE_SUM",
                        },
                    },
                    "result": "drift",
                },
                "retry": retried,
            }
        },
        {"read_drift": {"assign": [{"drifted": '${default(map.get(drift.body, "timeSeries"), [])}'}]}},
        {
            # points come newest first; an INT64 value is a decimal string in JSON
            "episode_over": {
                "switch": [
                    {"condition": "${len(drifted) == 0}", "next": "over"},
                    {"condition": "${int(drifted[0].points[0].value.int64Value) == 0}", "next": "over"},
                ],
                "next": "label_incident",
            }
        },
        {
            # the incident as a Vertex AI label value: lowercase letters, digits, _ and -, <= 63
            "label_incident": {
                "assign": [
                    {
                        "incident_label": (
                            "${text.substring(text.replace_all_regex(text.to_lower(incident), "
                            '"[^a-z0-9_-]", "-"), 0, 63)}'
                        )
                    },
                ]
            }
        },
        {
            # The latest drift-started run of this pipeline (ListPipelineJobs: filter on display_name
            # and labels, newest first).
            "last_drift_run": {
                "try": {
                    "call": "http.get",
                    "args": {
                        "url": jobs,
                        "auth": {"type": "OAuth2"},
                        "query": {
                            "filter": f'display_name="{display_name}" AND labels.{key}="{value}"',
                            "orderBy": "create_time desc",
                            "pageSize": 1,
                        },
                    },
                    "result": "runs",
                },
                "retry": retried,
            }
        },
        {"read_runs": {"assign": [{"last": '${default(map.get(runs.body, "pipelineJobs"), [])}'}]}},
        {"any_run": {"switch": [{"condition": "${len(last) == 0}", "next": "name_first_run"}]}},
        {
            # The notification as it arrived (not handed over) when the latest run was started for
            # this very incident: Pub/Sub delivered it again. The chain that started the run keeps
            # the episode's rule; this one starts nothing.
            "delivered_again": {
                "switch": [
                    {
                        "condition": (
                            f'${{not(slept) and map.get(last[0], ["labels", "{INCIDENT_LABEL}"]) == incident_label}}'
                        ),
                        "return": '${"not started: run " + last[0].name + " was started for incident " + incident}',
                    }
                ]
            }
        },
        {
            "guard": {
                "switch": [
                    {"condition": f"${{last[0].state in {json.dumps(IN_FLIGHT)}}}", "next": "wait_in_flight"},
                    {
                        "condition": f"${{time.parse(last[0].createTime) > sys.now() - {cooldown_s}}}",
                        "next": "wait_cooldown",
                    },
                ]
            }
        },
        {
            # A later run of the episode is named after the run before it: executions that decide
            # after the same run (the chain keeping the episode, a late redelivery) pick one id.
            "name_next_run": {
                "assign": [
                    {
                        "job_id": (
                            f'${{"{stem}{NEXT_RUN}" + '
                            'text.replace_all_regex(text.to_lower(last[0].createTime), "[^a-z0-9-]", "-")}'
                        )
                    }
                ],
                "next": "read_template",
            }
        },
        {
            # With no drift-started run yet, the run is named after the drift window the decision
            # falls in: two incidents deciding at the same time pick one id.
            "name_first_run": {
                "assign": [
                    {
                        "job_id": (
                            f'${{"{stem}{FIRST_RUN}" + text.replace_all_regex(text.to_lower('
                            f"time.format(int(sys.now()) // {int(window_seconds)} * {int(window_seconds)})), "
                            '"[^a-z0-9-]", "-")}'
                        )
                    }
                ]
            }
        },
        {
            # A GET, so idempotent: its transient errors are retried like the other reads. Connectors
            # have "built-in behavior for handling retries" ("Understand connectors",
            # https://cloud.google.com/workflows/docs/connectors), whose exact codes were not read here;
            # the explicit policy makes the retry visible and tested (audit 4 finding 2).
            "read_template": {
                "try": {
                    "call": "googleapis.storage.v1.objects.get",
                    "args": {
                        "bucket": bucket,
                        "object": quote(template, safe=""),
                        "alt": "media",
                    },  # path-encoded
                    "result": "spec",
                },
                "retry": retried,
            }
        },
        {
            # A run id already taken (ALREADY_EXISTS) means another delivery or execution started it.
            "create_pipeline_job": {
                "try": {
                    "call": "http.post",
                    "args": {
                        "url": jobs,
                        "auth": {"type": "OAuth2"},
                        "query": {"pipelineJobId": "${job_id}"},
                        "body": {
                            "displayName": display_name,
                            "pipelineSpec": "${spec}",
                            "serviceAccount": service_account,
                            "encryptionSpec": {"kmsKeyName": kms_key},
                            "labels": {**labels, key: value, INCIDENT_LABEL: "${incident_label}"},
                            "runtimeConfig": {"gcsOutputDirectory": root, "parameterValues": parameter_values},
                        },
                    },
                    "result": "job",
                },
                "except": {
                    "as": "error",
                    "steps": [
                        {
                            # An HttpError carries the status code and the response body ("Catch
                            # errors", https://cloud.google.com/workflows/docs/reference/syntax/catching-errors);
                            # 409 is also ABORTED's HTTP mapping (google/rpc/code.proto): only the
                            # body's status ALREADY_EXISTS means the run is there.
                            "known": {
                                "switch": [
                                    {
                                        "condition": (
                                            '${map.get(error, "code") == 409 and '
                                            'map.get(error, ["body", "error", "status"]) == "ALREADY_EXISTS"}'
                                        ),
                                        "return": '${"not started: run " + job_id + " exists"}',
                                    }
                                ]
                            }
                        },
                        {"unknown": {"raise": "${error}"}},
                    ],
                },
            }
        },
        # keep the episode's rule: wait while the new run is in flight, then as the guard says
        {"started_one": {"assign": [{"started": "${started + 1}"}], "next": "wait_in_flight"}},
        {"wait_in_flight": {"assign": [{"wait": int(window_seconds)}], "next": "sleep"}},
        # until the cooldown of the last run has passed (one second past it: the guard's `>` is strict)
        {
            "wait_cooldown": {
                "assign": [{"wait": f"${{int(time.parse(last[0].createTime) + {cooldown_s} - sys.now()) + 1}}"}]
            }
        },
        {"sleep": {"call": "sys.sleep", "args": {"seconds": "${wait}"}}},
        # The hand-over's argument: a map is defined in an assign step, never inside an expression
        # ("Maps", https://cloud.google.com/workflows/docs/reference/syntax/maps).
        {
            "hand_over_argument": {
                "assign": [{"handover": {"handover": {"incident": "${incident}", "started": "${started}"}}}]
            }
        },
        {
            # Hand over to a new execution of the latest revision, and end. 429 and 503 (and a failed
            # connection) mean the request was not processed: retried ("http.default_retry_non_idempotent",
            # https://cloud.google.com/workflows/docs/reference/stdlib/http/default_retry_non_idempotent).
            "hand_over": {
                "try": {
                    "call": "http.post",
                    "args": {
                        "url": executions,
                        "auth": {"type": "OAuth2"},
                        "body": {"argument": "${json.encode_to_string(handover)}"},
                    },
                    "result": "next_execution",
                },
                "retry": "${http.default_retry_non_idempotent}",
            }
        },
        {
            "handed_over": {
                "return": '${"slept " + string(wait) + " s, handed over to " + next_execution.body.name}',
            }
        },
        {
            "over": {
                "return": (
                    f'${{"episode over: no drifted request column in the last {lookback} s; '
                    'runs started: " + string(started)}'
                )
            }
        },
        {"ignored": {"return": '${"ignored: incident state " + default(state, "missing")}'}},
    ]
    return yaml.safe_dump({"main": {"params": ["event"], "steps": steps}}, sort_keys=False)


class RetrainingTrigger(Capability):
    cloud = "gcp"
    capability = "RetrainingTrigger"

    def __init__(
        self,
        name: str,
        deployment: Deployment[GcpSettings],
        foundation: FoundationOut,
        monitor: MonitorOut,
        training: TrainingOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        settings = deployment.settings
        mon = deployment.platform.monitor

        email = gcp.monitoring.NotificationChannel(
            f"{name}-email",
            project=settings.project,
            type="email",
            display_name=f"{settings.prefix} drift alerts",
            labels={"email_address": mon.alert_email},
            user_labels=settings.labels,
            opts=self.child(depends_on=foundation.apis),
        )

        self.topic: gcp.pubsub.Topic | None = None
        self.metric: gcp.logging.Metric | None = None
        self.checks_metric: gcp.logging.Metric | None = None
        self.alert: gcp.monitoring.AlertPolicy | None = None
        self.missing: gcp.monitoring.AlertPolicy | None = None
        self.workflow: gcp.workflows.Workflow | None = None
        self.workflow_failed: gcp.monitoring.AlertPolicy | None = None
        if not deployment.serves_model:
            # Nothing served, so no drift check runs: no drift metric to alert on and nothing for
            # drift to start. The e-mail channel stays: it is what notifies alert_email.
            self.publish(drift_alarm=[], alert_topic=email.name, retrain_target=None)
            return

        channels: list[pulumi.Input[str]] = [email.name]
        if mon.retrain_on_drift:
            channels.append(self._pubsub_channel(name, deployment, foundation))

        columns = list(deployment.pipeline.contract.request_names)
        timing = alert_timing(settings.drift_window_seconds)
        # The drift job's entries live in the platform's CMEK log bucket only (excluded from
        # _Default): both metrics are scoped to that bucket.
        self.metric = gcp.logging.Metric(
            f"{name}-drift-metric",
            project=settings.project,
            name=f"{settings.prefix}-drifted-features",
            description=f"request columns of {settings.prefix} a drift check found above drift_threshold",
            filter=drifted_features_filter(monitor.log_name, settings.prefix, columns),
            metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                metric_kind="DELTA",
                value_type="INT64",
                unit="1",
                labels=[
                    gcp.logging.MetricMetricDescriptorLabelArgs(
                        key="feature", value_type="STRING", description="the request column"
                    )
                ],
            ),
            label_extractors={"feature": "EXTRACT(jsonPayload.feature)"},
            bucket_name=foundation.log_bucket,
            opts=self.child(),
        )
        self.checks_metric = gcp.logging.Metric(
            f"{name}-drift-checks-metric",
            project=settings.project,
            name=f"{settings.prefix}-drift-checks",
            description=f"drift checks of {settings.prefix} that ran (judged or skipped for too few requests)",
            filter=drift_checks_filter(monitor.log_name, settings.prefix),
            metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                metric_kind="DELTA",
                value_type="INT64",
                unit="1",
                labels=[
                    gcp.logging.MetricMetricDescriptorLabelArgs(
                        key="status", value_type="STRING", description="ok, or skipped (too few requests)"
                    )
                ],
            ),
            label_extractors={"status": "EXTRACT(jsonPayload.status)"},
            bucket_name=foundation.log_bucket,
            opts=self.child(),
        )
        one_series = gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
            alignment_period=f"{timing['alignment']}s",
            per_series_aligner="ALIGN_SUM",
            cross_series_reducer="REDUCE_SUM",  # no group_by_fields: every series summed into one
        )
        self.alert = gcp.monitoring.AlertPolicy(
            f"{name}-drift-alarm",
            project=settings.project,
            display_name=f"{settings.prefix} feature drift over {mon.drift_threshold}",
            combiner="OR",
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="request columns drifted",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=self.metric.name.apply(
                            lambda m: f'metric.type="logging.googleapis.com/user/{m}" AND resource.type="global"'
                        ),
                        comparison="COMPARISON_GT",
                        threshold_value=0,
                        duration="0s",
                        aggregations=[one_series],
                        trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(count=1),
                        evaluation_missing_data="EVALUATION_MISSING_DATA_INACTIVE",
                    ),
                )
            ],
            notification_channels=channels,
            # Default is OPENED and CLOSED: the close notification would start a second job.
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(
                notification_prompts=NOTIFY_ON, auto_close=f"{timing['auto_close']}s"
            ),
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                content=(
                    f"A drift check of {settings.prefix} found request columns whose distance to the training data "
                    f"is over {mon.drift_threshold}. See log {monitor.log_name} (jsonPayload.kind=feature)."
                ),
                mime_type="text/markdown",
            ),
            user_labels=settings.labels,
            opts=self.child(),
        )
        self.missing = gcp.monitoring.AlertPolicy(
            f"{name}-drift-check-missing",
            project=settings.project,
            display_name=f"{settings.prefix} drift check not running",
            combiner="OR",
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="no drift check ran",
                    condition_absent=gcp.monitoring.AlertPolicyConditionConditionAbsentArgs(
                        filter=self.checks_metric.name.apply(
                            lambda m: f'metric.type="logging.googleapis.com/user/{m}" AND resource.type="global"'
                        ),
                        duration=f"{timing['absence']}s",
                        aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionAbsentAggregationArgs(
                                alignment_period=f"{min(timing['alignment'], MAX_ALIGNMENT_S)}s",
                                per_series_aligner="ALIGN_SUM",
                                cross_series_reducer="REDUCE_SUM",
                            )
                        ],
                        trigger=gcp.monitoring.AlertPolicyConditionConditionAbsentTriggerArgs(count=1),
                    ),
                )
            ],
            notification_channels=[email.name],  # a person looks: a missing check never retrains
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                content=(
                    f"No drift check of {settings.prefix} has run for {timing['absence'] // 60} minutes: see the "
                    f"{settings.prefix}-drift schedule's pipeline runs in Vertex AI Pipelines."
                ),
                mime_type="text/markdown",
            ),
            user_labels=settings.labels,
            opts=self.child(),
        )

        if mon.retrain_on_drift:
            self.workflow = self._retrain_path(name, deployment, foundation, training, self.metric, timing)
            self.workflow_failed = self._failed_retraining_alert(name, deployment, self.workflow, email.name)

        self.publish(
            # the policy that fires on drift (the missing-check policy fires on no drift check at all)
            drift_alarm=[self.alert.name],  # projects/<project>/alertPolicies/<id>
            alert_topic=email.name,  # projects/<project>/notificationChannels/<id>
            retrain_target=self.workflow.id if self.workflow is not None else None,
        )

    def _failed_retraining_alert(
        self,
        name: str,
        deployment: Deployment[GcpSettings],
        workflow: gcp.workflows.Workflow,
        email: pulumi.Input[str],
    ) -> gcp.monitoring.AlertPolicy:
        """E-mail a person when an execution of `<prefix>-retrain` fails (audit 4 finding 2).

        A FAILED execution ends its chain: the drift incident stays open and notifies on OPENED
        only, so the episode gets no further run, and "Executions triggered by events are not
        retried if the workflow execution starts, but later fails" ("Trigger a workflow with events
        or Pub/Sub messages", https://cloud.google.com/workflows/docs/trigger-workflow-eventarc).
        Any failed execution in a 5-minute window opens one incident; no data (no failure) is "not
        failing"; the incident closes after 30 minutes without data (MIN_AUTO_CLOSE_S), so the next
        failure e-mails again."""
        settings = deployment.settings
        return gcp.monitoring.AlertPolicy(
            f"{name}-retrain-failed",
            project=settings.project,
            display_name=f"{settings.prefix} retraining workflow failed",
            combiner="OR",
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="an execution of the retraining workflow failed",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=workflow.name.apply(failed_executions_filter),
                        comparison="COMPARISON_GT",
                        threshold_value=0,
                        duration="0s",
                        aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                alignment_period=f"{FAILED_RUNS_ALIGNMENT_S}s",
                                per_series_aligner="ALIGN_SUM",
                                cross_series_reducer="REDUCE_SUM",
                            )
                        ],
                        trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(count=1),
                        evaluation_missing_data="EVALUATION_MISSING_DATA_INACTIVE",
                    ),
                )
            ],
            notification_channels=[email],  # a person looks: the Pub/Sub channel would start the workflow
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(
                notification_prompts=NOTIFY_ON, auto_close=f"{MIN_AUTO_CLOSE_S}s"
            ),
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                content=(
                    f"An execution of workflow {settings.prefix}-retrain failed: drift retraining of "
                    f"{settings.prefix} has stopped for the current drift episode. See the execution's error in "
                    f"Workflows (gcloud workflows executions list {settings.prefix}-retrain "
                    f"--location={settings.region}), fix it, "
                    "then start a training run by hand if drift goes on."
                ),
                mime_type="text/markdown",
            ),
            user_labels=settings.labels,
            opts=self.child(depends_on=[workflow]),
        )

    def _pubsub_channel(
        self, name: str, deployment: Deployment[GcpSettings], foundation: FoundationOut
    ) -> pulumi.Output[str]:
        """The topic drift notifications go to for the retraining workflow, and its channel."""
        settings = deployment.settings
        project = gcp.organizations.get_project_output(project_id=settings.project)
        self.topic = gcp.pubsub.Topic(
            f"{name}-topic",
            project=settings.project,
            name=f"{settings.prefix}-drift-alerts",
            kms_key_name=foundation.key_id,
            labels=settings.labels,
            opts=self.child(depends_on=foundation.key_ready),
        )
        to_topic = gcp.monitoring.NotificationChannel(
            f"{name}-pubsub",
            project=settings.project,
            type="pubsub",
            display_name=f"{settings.prefix} drift events",
            labels={"topic": self.topic.id},
            user_labels=settings.labels,
            opts=self.child(),
        )
        # Cloud Monitoring publishes as its notification service agent, which Google creates with
        # the project's first Pub/Sub notification channel: grant it after the channel exists (a
        # fresh project has no such agent yet, and the grant would fail). The channel needs no
        # grant to be created, only to deliver.
        gcp.pubsub.TopicIAMMember(
            f"{name}-topic-publisher",
            project=settings.project,
            topic=self.topic.name,
            role="roles/pubsub.publisher",
            member=project.number.apply(
                lambda n: f"serviceAccount:service-{n}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
            ),
            opts=self.child(depends_on=[to_topic]),
        )
        return to_topic.name

    def _retrain_path(
        self,
        name: str,
        deployment: Deployment[GcpSettings],
        foundation: FoundationOut,
        training: TrainingOut,
        metric: gcp.logging.Metric,
        timing: dict[str, int],
    ) -> gcp.workflows.Workflow:
        assert self.topic is not None  # `_pubsub_channel` made it: both run only when retrain_on_drift
        settings = deployment.settings
        account = gcp.serviceaccount.Account(
            f"{name}-identity",
            project=settings.project,
            account_id=settings.workflow_account_id,
            display_name=f"mlops {settings.prefix}: starts retraining on drift",
            opts=self.child(depends_on=foundation.apis),
        )
        retrain_role = vertex_role(
            f"{name}-vertex-role",
            settings.project,
            settings.prefix,
            "retrain",
            (*VERTEX_RETRAIN_PERMISSIONS, *RETRAIN_MONITORING_PERMISSIONS),
            self.child(depends_on=foundation.apis),
        )
        grants = [
            # create pipeline jobs (custom role: nothing else in Vertex AI) and read the drift metric
            gcp.projects.IAMMember(
                f"{name}-identity-vertex",
                project=settings.project,
                role=retrain_role.name,
                member=account.member,
                opts=self.child(),
            ),
            # run the workflow it is the trigger of: a custom role with `workflows.executions.create`
            # ("Trigger a workflow execution", "Workflows roles and permissions",
            # https://cloud.google.com/workflows/docs/access-control) and nothing else, instead of
            # roles/workflows.invoker (which adds executions.cancel/get/list, callbacks.list/send,
            # stepEntries.get/list). Bound on the project: pulumi_gcp (10.x) has no IAM resource for a
            # single workflow (pulumi_gcp.workflows holds only Workflow; terraform-provider-google issue
            # 13125), and the Workflows roles' "Lowest-level resources where you can grant this role" is
            # Project (https://cloud.google.com/iam/docs/roles-permissions/workflows; docs/gcp.md).
            # No eventarc.eventReceiver: "You don't need to grant
            # the role if you are routing direct events from Cloud Pub/Sub" ("Roles and permissions
            # for Workflows targets", https://cloud.google.com/eventarc/standard/docs/workflows/roles-permissions).
            gcp.projects.IAMMember(
                f"{name}-identity-workflows-invoker",
                project=settings.project,
                role=gcp.projects.IAMCustomRole(
                    f"{name}-invoker-role",
                    project=settings.project,
                    role_id=custom_role_id(settings.prefix, "invoker"),
                    title=f"mlops {settings.prefix}: invoker",
                    description=f"Start workflow executions (the mlops {settings.prefix} retraining workflow)",
                    permissions=list(WORKFLOW_INVOKER_PERMISSIONS),
                    stage="GA",
                    opts=self.child(depends_on=foundation.apis),
                ).name,
                member=account.member,
                opts=self.child(),
            ),
            # read the compiled template, and only it (an IAM condition on the object's name)
            gcp.storage.BucketIAMMember(
                f"{name}-identity-template",
                bucket=foundation.bucket_name,
                role="roles/storage.objectViewer",
                member=account.member,
                condition=gcp.storage.BucketIAMMemberConditionArgs(
                    title="the training template only",
                    description=f"mlops {settings.prefix}: the retraining workflow reads the compiled pipeline",
                    expression=training.template_name.apply(
                        lambda obj: f'resource.name == "projects/_/buckets/{settings.bucket_name}/objects/{obj}"'
                    ),
                ),
                opts=self.child(),
            ),
            # start the job as the pipeline identity
            gcp.serviceaccount.IAMMember(
                f"{name}-identity-act-as",
                service_account_id=foundation.account_name,
                role="roles/iam.serviceAccountUser",
                member=account.member,
                opts=self.child(),
            ),
        ]
        workflows_agent = gcp.projects.ServiceIdentity(
            f"{name}-workflows-agent",
            project=settings.project,
            service="workflows.googleapis.com",
            opts=self.child(depends_on=foundation.apis),
        )
        key_grant = gcp.kms.CryptoKeyIAMMember(
            f"{name}-key-workflows",
            crypto_key_id=foundation.key_id,
            role=ENCRYPTER,
            member=workflows_agent.member,
            opts=self.child(),
        )
        source = pulumi.Output.all(
            bucket=foundation.bucket_name,
            template=training.template_name,
            root=training.pipeline_root,
            service_account=training.service_account,
            kms_key=training.kms_key,
            params=pulumi.Output.from_input(training.parameter_values),
            metric=metric.name,
        ).apply(
            lambda v: workflow_source(
                project=settings.project,
                region=settings.region,
                bucket=v["bucket"],
                template=v["template"],
                root=v["root"],
                service_account=v["service_account"],
                kms_key=v["kms_key"],
                workflow=f"{settings.prefix}-retrain",
                display_name=settings.pipeline_display_name,
                parameter_values=v["params"],
                labels=settings.labels,
                cooldown_hours=deployment.platform.monitor.retrain_cooldown_hours,
                window_seconds=settings.drift_window_seconds,
                drift_metric=v["metric"],
                episode_seconds=timing["alignment"],
            )
        )
        workflow = gcp.workflows.Workflow(
            f"{name}-workflow",
            project=settings.project,
            region=settings.region,
            name=f"{settings.prefix}-retrain",  # workflow_source's `workflow`: it hands over to itself
            description=f"mlops {settings.prefix}: start the training pipeline on drift",
            service_account=account.id,
            source_contents=source,
            crypto_key_name=foundation.key_id,
            call_log_level="LOG_ERRORS_ONLY",
            labels=settings.labels,
            opts=self.child(depends_on=[*grants, key_grant]),
        )
        gcp.eventarc.Trigger(
            f"{name}-on-drift",
            project=settings.project,
            location=settings.region,
            name=f"{settings.prefix}-on-drift",
            matching_criterias=[gcp.eventarc.TriggerMatchingCriteriaArgs(attribute="type", value=PUBSUB_EVENT)],
            transport=gcp.eventarc.TriggerTransportArgs(
                pubsub=gcp.eventarc.TriggerTransportPubsubArgs(topic=self.topic.id)
            ),
            destination=gcp.eventarc.TriggerDestinationArgs(workflow=workflow.id),
            service_account=account.email,
            labels=settings.labels,
            opts=self.child(depends_on=grants),
        )
        return workflow
