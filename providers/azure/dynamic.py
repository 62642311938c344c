"""Pulumi dynamic providers for what pulumi-azure-native cannot order or express.

- `EndpointTraffic`: an online endpoint's traffic, moved to a new deployment by `endpoint.rollout`
  (canary / linear steps, each baked and checked against the new deployment's error rate and p99
  latency, reverted on a breach: `roll_out`), and the shadow's mirrored share.
  `OnlineEndpoint.properties.traffic` may only name deployments that already exist, but every
  `OnlineDeployment` depends on its endpoint, so the traffic is set AFTER the deployment exists
  (this resource takes the deployment's name as an input). It goes through azure-ai-ml's own
  client (`MLClient.online_endpoints`: GET the endpoint entity, set `traffic`,
  `begin_create_or_update`), i.e. exactly the body and API version Microsoft's client sends;
  `read` reads the live traffic back (`pulumi refresh` sees a manual change and the next `pulumi
  up` restores the declared one). Deleting it routes no traffic
  (Azure refuses to delete a deployment that still takes traffic).
- `ArmPatch`: a second write to a resource Pulumi declares once, for settings Azure accepts only
  after something else exists: the feature store's connection names (the connections are the
  workspace's children), the workspace's image-build compute (a child too), the container
  registry's switch to its system identity for the customer-managed key. It PATCHes the
  resource and, on every `pulumi up`, compares the live values with the patch: when Pulumi's own
  PUT of the resource (a tag change, say) dropped them, they are written again.
- `ManagedNetworkProvision`: the POST that provisions a workspace's managed network, which Azure
  requires before an online deployment or a serverless Spark job (monitor, materialization) runs.

`arm_url` is normally https://management.azure.com; tests point it at a local fake ARM server
(an `http://` URL is only ever a local fake, so it gets no real token).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

ARM_URL = "https://management.azure.com"
ML_API_VERSION = "2025-12-01"
"""The API version pulumi_azure_native 3.29 uses for every machinelearningservices type (and
azure-ai-ml 1.35's ARM client): one version for every write to one resource (vendor rules check it)."""
OPERATION_TIMEOUT_S = 3600

_ENDPOINT_ID = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/([^/]+)/onlineEndpoints/([^/]+)$",
    re.IGNORECASE,
)


class _LocalCredential:
    """The token a local fake ARM server gets (never a real one)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("local-fake", 4102444800)


def _token(arm_url: str) -> str:
    if arm_url.startswith("http://"):
        return "local-fake"
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential().get_token(arm_url.rstrip("/") + "/.default").token


def _request(method: str, url: str, token: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - ARM or a local fake
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, dict(error.headers), json.loads(raw) if raw else None


def _fail(what: str, status: int, body: Any) -> Exception:
    message = (body or {}).get("error", {}).get("message", body) if isinstance(body, dict) else body
    return Exception(f"{what} failed with HTTP {status}: {message}")  # noqa: TRY002 - shown by Pulumi


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def _wait(what: str, headers: dict[str, str], token: str, poll_seconds: float) -> None:
    """Follow an ARM long-running operation (Azure-AsyncOperation, else Location) to its end."""
    operation = _header(headers, "Azure-AsyncOperation")
    location = None if operation else _header(headers, "Location")
    deadline = time.monotonic() + OPERATION_TIMEOUT_S
    while url := operation or location:
        status, headers, state = _request("GET", url, token)
        if operation:
            if status != 200:
                raise _fail(f"waiting for {what}", status, state)
            if state.get("status") == "Succeeded":
                return
            if state.get("status") in ("Failed", "Canceled"):
                raise _fail(what, status, state)
        elif status != 202:
            if status >= 400:
                raise _fail(f"waiting for {what}", status, state)
            return
        if time.monotonic() > deadline:
            raise Exception(f"{what} did not finish in {OPERATION_TIMEOUT_S}s")  # noqa: TRY002
        time.sleep(float(_header(headers, "Retry-After") or poll_seconds))


# ---------------------------------------------------------------------------------------------
# EndpointTraffic: azure-ai-ml's entity and ARM client, at pulumi_azure_native's API version
# ---------------------------------------------------------------------------------------------


def _ml_client(endpoint_id: str, arm_url: str) -> tuple[Any, tuple[str, str, str]]:
    """azure-ai-ml's ARM client (`MachineLearningServicesMgmtClient`, the one MLClient wraps) at
    `ML_API_VERSION`, and (resource group, workspace, endpoint) of the endpoint."""
    match = _ENDPOINT_ID.match(endpoint_id)
    if not match:
        raise ValueError(f"not an online endpoint ARM id: {endpoint_id!r}")
    subscription, group, workspace, name = match.groups()
    from azure.ai.ml._restclient.arm_ml_service import MachineLearningServicesMgmtClient

    base = arm_url.rstrip("/")
    if base == ARM_URL:
        from azure.identity import DefaultAzureCredential

        credential: Any = DefaultAzureCredential()
    else:
        credential = _LocalCredential()
    client = MachineLearningServicesMgmtClient(
        credential=credential,
        subscription_id=subscription,
        base_url=base + "/",
        api_version=ML_API_VERSION,
        credential_scopes=[base + "/.default"],
    )
    return client, (group, workspace, name)


def as_traffic(traffic: Any) -> dict[str, int]:
    """{deployment: percent} as integers (the REST model's type; Pulumi hands numbers over as
    floats), without zero entries (azure-ai-ml strips them before it sends traffic)."""
    return {str(k): int(v) for k, v in (traffic or {}).items() if int(v) != 0}


def read_traffic(endpoint_id: str, arm_url: str = ARM_URL) -> dict[str, int] | None:
    """The endpoint's live traffic, or None when the endpoint does not exist."""
    from azure.core.exceptions import ResourceNotFoundError

    client, (group, workspace, name) = _ml_client(endpoint_id, arm_url)
    try:
        rest = client.online_endpoints.get(group, workspace, name)
    except ResourceNotFoundError:
        return None
    return as_traffic(rest.properties.traffic)


def set_traffic(
    endpoint_id: str,
    traffic: dict[str, Any],
    arm_url: str = ARM_URL,
    missing_ok: bool = False,
    mirror: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Route `traffic` ({deployment name: percent}); returns the traffic Azure reports.

    What `az ml online-endpoint update --traffic` does: GET the endpoint, load it into azure-ai-ml's
    `OnlineEndpoint` entity, set `traffic`, PUT the entity's own REST body, wait for the operation.
    """
    from azure.core.exceptions import ResourceNotFoundError

    client, (group, workspace, name) = _ml_client(endpoint_id, arm_url)
    try:
        rest = client.online_endpoints.get(group, workspace, name)
    except ResourceNotFoundError:
        if missing_ok:
            return {}
        raise
    body = traffic_body(rest.as_dict(), traffic, mirror)
    result = client.online_endpoints.begin_create_or_update(group, workspace, name, body).result()
    return as_traffic(result.properties.traffic)


def traffic_body(
    current: dict[str, Any], traffic: dict[str, Any], mirror: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The PUT body for `traffic` (and `mirror`: the shadow's share of copied requests) on the
    endpoint ARM returned as `current`: azure-ai-ml's `OnlineEndpoint` entity loaded from it, the
    shares set, and its own REST body written back."""
    from azure.ai.ml._restclient.arm_ml_service.models import OnlineEndpoint as RestOnlineEndpoint
    from azure.ai.ml.entities import OnlineEndpoint

    endpoint = OnlineEndpoint._from_rest_object(RestOnlineEndpoint(current))
    endpoint.traffic = as_traffic(traffic)
    if mirror is not None:
        endpoint.mirror_traffic = as_traffic(mirror)
    return endpoint._to_rest_online_endpoint(location=current["location"]).as_dict()


# ---------------------------------------------------------------------------------------------
# Safe rollout: the split shifts in steps, watching the new deployment's errors and latency
# ---------------------------------------------------------------------------------------------

METRICS_API_VERSION = "2023-10-01"
"""Azure Monitor Metrics - List (REST)."""
# Endpoint-level platform metrics with a `deployment` dimension (Microsoft Learn "Supported metrics
# for Microsoft.MachineLearningServices/workspaces/onlineEndpoints"): RequestsPerMinute (dimensions
# deployment, statusCode, statusCodeClass, modelStatusCode), RequestLatency_P99 (milliseconds).
REQUESTS_METRIC = "RequestsPerMinute"
LATENCY_METRIC = "RequestLatency_P99"


class RolloutReverted(Exception):  # noqa: N818 - what `pulumi up` shows
    """A canary or linear step breached `rollback_on`: all traffic went back to the old deployment."""


def steps(rollout: dict[str, Any]) -> list[int]:
    """The new deployment's share at each step, ending at 100."""
    strategy = rollout.get("strategy", "all_at_once")
    if strategy == "canary":
        return [int(rollout["canary_percent"]), 100]
    if strategy == "linear":
        step = int(rollout["step_percent"])
        return [*range(step, 100, step), 100]
    return [100]


def _series_values(body: dict[str, Any], metric: str) -> list[tuple[dict[str, str], list[float]]]:
    out = []
    for value in body.get("value") or []:
        if str((value.get("name") or {}).get("value", "")).lower() != metric.lower():
            continue
        for series in value.get("timeseries") or []:
            dims = {str(d["name"]["value"]).lower(): str(d["value"]) for d in series.get("metadatavalues") or []}
            points = [float(p["average"]) for p in series.get("data") or [] if p.get("average") is not None]
            out.append((dims, points))
    return out


def deployment_health(
    endpoint_id: str, deployment: str, start: str, end: str, arm_url: str = ARM_URL
) -> dict[str, float | None]:
    """The new deployment over [start, end]: requests, server errors (5xx), error rate, p99 latency.
    Each a sum/max over one-minute points of the endpoint's metrics filtered by `deployment`."""
    token = _token(arm_url)
    base = f"{arm_url.rstrip('/')}{endpoint_id}/providers/Microsoft.Insights/metrics"
    # An ISO time's `+00:00` would read as a space in a query string: the timespan is percent-encoded.
    timespan = urllib.parse.quote(f"{start}/{end}", safe="")
    common = f"api-version={METRICS_API_VERSION}&timespan={timespan}&interval=PT1M&aggregation=Average"
    requests_url = (
        f"{base}?{common}&metricnames={REQUESTS_METRIC}&$filter=deployment eq '{deployment}' and statusCodeClass eq '*'"
    ).replace(" ", "%20")
    status, _, body = _request("GET", requests_url, token)
    if status != 200:
        raise _fail(f"reading {REQUESTS_METRIC} of {deployment}", status, body)
    total = errors = 0.0
    for dims, points in _series_values(body, REQUESTS_METRIC):
        total += sum(points)
        if dims.get("statuscodeclass", "").startswith("5"):
            errors += sum(points)
    latency_url = (f"{base}?{common}&metricnames={LATENCY_METRIC}&$filter=deployment eq '{deployment}'").replace(
        " ", "%20"
    )
    status, _, body = _request("GET", latency_url, token)
    if status != 200:
        raise _fail(f"reading {LATENCY_METRIC} of {deployment}", status, body)
    latencies = [p for _, points in _series_values(body, LATENCY_METRIC) for p in points]
    return {
        "requests": total,
        "errors": errors,
        "error_rate": errors / total if total else None,
        "p99_latency_ms": max(latencies) if latencies else None,
    }


def breach(health: dict[str, float | None], rollback: dict[str, Any]) -> str | None:
    """Why the step is rolled back, or None. A bake without a request judges nothing (and passes)."""
    rate, limit = health.get("error_rate"), rollback.get("error_rate")
    if limit is not None and rate is not None and rate > float(limit):
        return f"error rate {rate:.3f} > {float(limit)}"
    latency, cap = health.get("p99_latency_ms"), rollback.get("p99_latency_ms")
    if cap is not None and latency is not None and latency > float(cap):
        return f"p99 latency {latency:.0f} ms > {int(cap)} ms"
    return None


def served_from(live: dict[str, int] | None, new: str) -> str | None:
    """The deployment that serves before the rollout: the one with the largest share, not `new`."""
    others = {k: v for k, v in (live or {}).items() if k != new and v > 0}
    return max(sorted(others), key=lambda k: others[k]) if others else None


def roll_out(
    endpoint_id: str,
    target: dict[str, Any],
    rollout: dict[str, Any] | None,
    arm_url: str = ARM_URL,
    mirror: dict[str, Any] | None = None,
    sleep: Any = None,
    now: Any = None,
) -> dict[str, int]:
    """Move the endpoint to `target` ({new deployment: 100}) by `rollout`'s steps: each step but the
    last bakes `bake_minutes`, then the new deployment's metrics over the bake are held against
    `rollback_on`; a breach sends all traffic back to the old deployment and raises."""
    from datetime import UTC, datetime

    clock = now or (lambda: datetime.now(UTC))
    wait = sleep or time.sleep  # looked up at call time (a test may replace time.sleep)
    wanted = as_traffic(target)
    new = max(sorted(wanted), key=lambda k: wanted[k]) if wanted else None
    old = served_from(read_traffic(endpoint_id, arm_url), new) if new else None
    plan = steps(rollout or {})
    if new is None or old is None or plan == [100]:
        return set_traffic(endpoint_id, wanted, arm_url, mirror=mirror)
    for share in plan[:-1]:
        set_traffic(endpoint_id, {old: 100 - share, new: share}, arm_url, mirror=mirror)
        start = clock()
        wait(60 * int(rollout["bake_minutes"]))  # type: ignore[index]
        end = clock()
        try:
            health = deployment_health(endpoint_id, new, start.isoformat(), end.isoformat(), arm_url)
        except Exception as exc:  # health unknown: never leave traffic on an unwatched version
            set_traffic(endpoint_id, {old: 100}, arm_url, mirror=mirror)
            raise RolloutReverted(
                f"rollout of {new} reverted at {share}%: its health could not be read ({exc}); "
                f"all traffic is back on {old}"
            ) from None
        why = breach(health, (rollout or {}).get("rollback_on") or {})
        if why:
            set_traffic(endpoint_id, {old: 100}, arm_url, mirror=mirror)
            raise RolloutReverted(
                f"rollout of {new} reverted at {share}%: {why} over {int(rollout['bake_minutes'])} min "  # type: ignore[index]
                f"({int(health['requests'] or 0)} requests); all traffic is back on {old}"
            )
    return set_traffic(endpoint_id, wanted, arm_url, mirror=mirror)


class TrafficProvider(ResourceProvider):
    """inputs: endpoint_id (ARM id), traffic ({deployment: percent}), rollout (endpoint.rollout),
    mirror ({shadow deployment: percent}), arm_url."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        arm_url = props.get("arm_url") or ARM_URL
        routed = roll_out(props["endpoint_id"], props["traffic"], props.get("rollout"), arm_url, props.get("mirror"))
        return CreateResult(id_=f"{props['endpoint_id']}/traffic", outs={**props, "traffic": routed})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = read_traffic(props["endpoint_id"], props.get("arm_url") or ARM_URL)
        if live is None:
            return ReadResult(None, {})
        state = {**props, "traffic": live}
        # The live traffic becomes the recorded input: the next `pulumi up` diffs it against the
        # program's traffic and puts the declared one back.
        return ReadResult(id_, state, state)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("endpoint_id", "arm_url", "rollout") if olds.get(k) != news.get(k)]
        for key in ("traffic", "mirror"):
            if as_traffic(olds.get(key)) != as_traffic(news.get(key)):
                changed.append(key)
        replaces = [k for k in changed if k == "endpoint_id"]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        arm_url = news.get("arm_url") or ARM_URL
        routed = roll_out(news["endpoint_id"], news["traffic"], news.get("rollout"), arm_url, news.get("mirror"))
        return UpdateResult(outs={**news, "traffic": routed})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # Route nothing, so the deployment (deleted after this) is no longer in use.
        set_traffic(props["endpoint_id"], {}, props.get("arm_url") or ARM_URL, missing_ok=True)


class EndpointTraffic(pulumi.dynamic.Resource):
    traffic: pulumi.Output[dict]

    def __init__(
        self,
        name: str,
        endpoint_id: pulumi.Input[str],
        traffic: pulumi.Input[dict],
        arm_url: str = ARM_URL,
        rollout: dict[str, Any] | None = None,
        mirror: pulumi.Input[dict] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "endpoint_id": endpoint_id,
            "traffic": traffic,
            "arm_url": arm_url,
            "rollout": rollout or {"strategy": "all_at_once"},
            "mirror": mirror or {},
        }
        super().__init__(TrafficProvider(), name, props, opts)


# ---------------------------------------------------------------------------------------------
# ArmPatch and ManagedNetworkProvision: plain ARM requests
# ---------------------------------------------------------------------------------------------


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    """{"properties.a.b": leaf} for every leaf of a nested dict."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(leaves(item, f"{path}.{key}" if path else key))
        return out
    return {path: value}


def at(document: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(document, dict):
            return None
        # ARM property names are case-insensitive.
        document = next((v for k, v in document.items() if k.lower() == part.lower()), None)
    return document


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()  # ARM enum-like values and ids are case-insensitive
    return a == b


def observed(resource_id: str, api_version: str, paths: list[str], arm_url: str) -> dict[str, Any] | None:
    """The live values at `paths` (None when the resource does not exist)."""
    token = _token(arm_url)
    status, _, current = _request("GET", f"{arm_url.rstrip('/')}{resource_id}?api-version={api_version}", token)
    if status == 404:
        return None
    if status != 200:
        raise _fail(f"reading {resource_id}", status, current)
    return {path: at(current, path) for path in paths}


def apply_patch(
    resource_id: str, api_version: str, patch: dict[str, Any], arm_url: str = ARM_URL, poll_seconds: float = 10.0
) -> dict[str, Any]:
    """PATCH `patch` onto the resource, wait for ARM, and return the live values it set."""
    token = _token(arm_url)
    url = f"{arm_url.rstrip('/')}{resource_id}?api-version={api_version}"
    status, headers, result = _request("PATCH", url, token, patch)
    if status not in (200, 201, 202):
        raise _fail(f"patching {resource_id}", status, result)
    _wait(f"the update of {resource_id}", headers, token, poll_seconds)
    return observed(resource_id, api_version, sorted(leaves(patch)), arm_url) or {}


class ArmPatchProvider(ResourceProvider):
    """inputs: resource_id, api_version, patch (a JSON merge-patch body), arm_url."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        live = apply_patch(props["resource_id"], props["api_version"], props["patch"], props.get("arm_url") or ARM_URL)
        digest = hashlib.sha256(json.dumps(props["patch"], sort_keys=True).encode()).hexdigest()[:12]
        return CreateResult(id_=f"{props['resource_id']}#patch-{digest}", outs={**props, "observed": live})

    def _drifted(self, props: dict[str, Any]) -> bool:
        wanted = leaves(props["patch"])
        live = observed(props["resource_id"], props["api_version"], sorted(wanted), props.get("arm_url") or ARM_URL)
        return live is not None and any(not _same(live[path], value) for path, value in wanted.items())

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = observed(
            props["resource_id"], props["api_version"], sorted(leaves(props["patch"])), props.get("arm_url") or ARM_URL
        )
        if live is None:
            return ReadResult(None, {})
        return ReadResult(id_, {**props, "observed": live})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in ("resource_id",) if olds.get(k) != news.get(k)]
        changed = replaces + [k for k in ("api_version", "patch", "arm_url") if olds.get(k) != news.get(k)]
        if not changed and self._drifted(news):
            changed.append("patch")  # Pulumi's PUT of the resource dropped what this patch set
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        live = apply_patch(news["resource_id"], news["api_version"], news["patch"], news.get("arm_url") or ARM_URL)
        return UpdateResult(outs={**news, "observed": live})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to undo: the setting stays on the resource (or went with it)."""


class ArmPatch(pulumi.dynamic.Resource):
    """PATCH `patch` onto the ARM resource `resource_id` once it (and what the patch names) exists."""

    observed: pulumi.Output[dict]

    def __init__(
        self,
        name: str,
        resource_id: pulumi.Input[str],
        api_version: str,
        patch: pulumi.Input[dict],
        arm_url: str = ARM_URL,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "resource_id": resource_id,
            "api_version": api_version,
            "patch": patch,
            "arm_url": arm_url,
            "observed": None,
        }
        super().__init__(ArmPatchProvider(), name, props, opts)


def network_status(workspace_id: str, arm_url: str = ARM_URL) -> dict[str, Any] | None:
    live = observed(workspace_id, ML_API_VERSION, ["properties.managedNetwork.status"], arm_url)
    return None if live is None else (live["properties.managedNetwork.status"] or {})


def provision_network(
    workspace_id: str, include_spark: bool, arm_url: str = ARM_URL, poll_seconds: float = 10.0
) -> dict[str, Any]:
    """POST provisionManagedNetwork (`az ml workspace provision-network [--include-spark]`)."""
    token = _token(arm_url)
    url = f"{arm_url.rstrip('/')}{workspace_id}/provisionManagedNetwork?api-version={ML_API_VERSION}"
    status, headers, result = _request("POST", url, token, {"includeSpark": include_spark})
    if status not in (200, 202):
        raise _fail(f"provisioning the managed network of {workspace_id}", status, result)
    _wait(f"the managed network of {workspace_id}", headers, token, poll_seconds)
    return network_status(workspace_id, arm_url) or {}


def _provisioned(status: dict[str, Any] | None, include_spark: bool) -> bool:
    return (
        status is not None
        and bool(status)
        and str(status.get("status")) == "Active"
        and (bool(status.get("sparkReady")) or not include_spark)
    )


class NetworkProvider(ResourceProvider):
    """inputs: workspace_id, include_spark, arm_url."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        status = provision_network(props["workspace_id"], bool(props["include_spark"]), props.get("arm_url") or ARM_URL)
        return CreateResult(id_=f"{props['workspace_id']}/managedNetwork", outs={**props, "status": status})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        status = network_status(props["workspace_id"], props.get("arm_url") or ARM_URL)
        if status is None:
            return ReadResult(None, {})
        return ReadResult(id_, {**props, "status": status})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in ("workspace_id",) if olds.get(k) != news.get(k)]
        changed = replaces + [k for k in ("include_spark", "arm_url") if olds.get(k) != news.get(k)]
        if not changed:
            live = network_status(news["workspace_id"], news.get("arm_url") or ARM_URL)
            if live is not None and not _provisioned(live, bool(news["include_spark"])):
                changed.append("include_spark")
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        status = provision_network(news["workspace_id"], bool(news["include_spark"]), news.get("arm_url") or ARM_URL)
        return UpdateResult(outs={**news, "status": status})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """A provisioned managed network goes with its workspace."""


class ManagedNetworkProvision(pulumi.dynamic.Resource):
    status: pulumi.Output[dict]

    def __init__(
        self,
        name: str,
        workspace_id: pulumi.Input[str],
        include_spark: bool,
        arm_url: str = ARM_URL,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"workspace_id": workspace_id, "include_spark": include_spark, "arm_url": arm_url, "status": None}
        super().__init__(NetworkProvider(), name, props, opts)
