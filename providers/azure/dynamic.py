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
    return _arm_client(subscription, arm_url, ML_API_VERSION), (group, workspace, name)


def _arm_client(subscription: str, arm_url: str, api_version: str) -> Any:
    """azure-ai-ml's ARM client for `subscription` at `api_version`: Azure's default credential
    chain against Azure, a local token against anything else (the tests' fake ARM)."""
    from azure.ai.ml._restclient.arm_ml_service import MachineLearningServicesMgmtClient

    base = arm_url.rstrip("/")
    if base == ARM_URL:
        from azure.identity import DefaultAzureCredential

        credential: Any = DefaultAzureCredential()
    else:
        credential = _LocalCredential()
    return MachineLearningServicesMgmtClient(
        credential=credential,
        subscription_id=subscription,
        base_url=base + "/",
        api_version=api_version,
        credential_scopes=[base + "/.default"],
    )


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


# ---------------------------------------------------------------------------------------------
# ApprovedVersionCheck: the approval gate, as a check that only reads
# ---------------------------------------------------------------------------------------------
#
# Two things say whether a model version may be deployed:
# - its `approval` tag (pending | approved | rejected), which people see in Studio and which the
#   pipeline's gate step sets at registration (approved with `registry.approval: auto`);
# - an approval RECORD: a blob in the `approvals` container of the platform's approvals account,
#   written by the approval command (`model_registry.approve`, `mlops model approve|reject`) with
#   the approver's own credentials. The runtime identity, which registers versions and could
#   register one already tagged approved (a model version's `tags` are part of the body it PUTs),
#   holds no role on that account, so it cannot write a record (providers/azure/foundation.py).
# With `manual`, a version is approved only by its newest record saying "approved" about this very
# version (same ARM id, model path and creation time): the tag is not consulted. With `auto`, the
# tag the gate step set at registration is the configured approval, unless a newer record revokes
# or rejects the version.

RECORD_KIND = "mlops-approval"
BLOB_URL = "https://{account}.blob.core.windows.net"
_VERSION_ID = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/([^/]+)/models/([^/]+)/versions/([^/]+)$",
    re.IGNORECASE,
)


def version_facts(model: Any) -> dict[str, str]:
    """What binds a record to one registration of a version (azure-ai-ml's `Model` entity): a
    version deleted and registered again under the same number has another creation time."""
    created: Any = getattr(getattr(model, "creation_context", None), "created_at", None)
    return {
        "model_uri": str(getattr(model, "path", "") or ""),
        "created_at": created.isoformat() if hasattr(created, "isoformat") else str(created or ""),
    }


def read_version(version_id: str, arm_url: str = ARM_URL, api_version: str = ML_API_VERSION) -> Any:
    """The model version as azure-ai-ml's `Model` entity (GET through its ARM client at
    `api_version`, pulumi_azure_native's for ModelVersion); ResourceNotFoundError when it does not exist."""
    match = _VERSION_ID.match(version_id)
    if not match:
        raise ValueError(f"not an Azure ML model version ARM id: {version_id!r}")
    subscription, group, workspace, name, version = match.groups()
    from azure.ai.ml.entities import Model

    client = _arm_client(subscription, arm_url, api_version)
    return Model._from_rest_object(client.model_versions.get(group, workspace, name, version))


def _principal(credential: Any) -> str:
    """Who the approving credential says it is (its token's `oid`/`upn`): informative only. What
    authorises a record is the role on the container; Storage's resource logs say who wrote it."""
    import base64

    try:
        token = credential.get_token("https://storage.azure.com/.default").token
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except Exception:  # noqa: BLE001 - informative only
        return "unknown"
    return str(claims.get("upn") or claims.get("unique_name") or claims.get("oid") or "unknown")


class ApprovalRecords:
    """The approval records of one platform: `<account>/approvals/<model>/versions/<n>/<time>-<decision>.json`.

    Each decision is a new blob, written create-only (`If-None-Match: *`: an existing blob is never
    overwritten); the account keeps versions of anything overwritten or deleted anyway. The newest
    blob of a version is its state."""

    def __init__(self, account: str, container: str = "approvals", blob_url: str | None = None) -> None:
        self.account, self.container = account, container
        self.url = blob_url or BLOB_URL.format(account=account)

    @property
    def credential(self) -> Any:
        if self.url.startswith("http://"):  # only ever a local fake (tests): no token
            return None
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()

    @property
    def client(self) -> Any:
        if not hasattr(self, "_client"):
            from azure.storage.blob import ContainerClient

            self._client = ContainerClient(self.url, self.container, credential=self.credential)
        return self._client

    @staticmethod
    def prefix(version_id: str) -> str:
        match = _VERSION_ID.match(version_id)
        if not match:
            raise ValueError(f"not an Azure ML model version ARM id: {version_id!r}")
        return f"{match.group(4)}/versions/{match.group(5)}/"

    def where(self, version_id: str) -> str:
        return f"{self.url}/{self.container}/{self.prefix(version_id)}"

    def write(self, version_id: str, decision: str, model: Any, reason: str = "", by: str = "") -> dict[str, Any]:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        if not by:
            credential = self.credential
            by = _principal(credential) if credential is not None else "unknown"
        record = {
            "kind": RECORD_KIND,
            "version_id": version_id.lower(),
            "decision": decision,
            "by": by,
            "at": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "reason": reason,
            **version_facts(model),
        }
        name = f"{self.prefix(version_id)}{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{decision}.json"
        self.client.upload_blob(name, json.dumps(record, sort_keys=True).encode(), overwrite=False)
        return {**record, "blob": f"{self.url}/{self.container}/{name}"}

    def latest(self, version_id: str) -> dict[str, Any] | None:
        """The version's newest record (blob names sort by time), or None."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            names = [b.name for b in self.client.list_blobs(name_starts_with=self.prefix(version_id))]
        except ResourceNotFoundError as error:
            raise RuntimeError(
                f"the approval records container {self.url}/{self.container} does not exist "
                "(the Foundation's, created by `pulumi up`)"
            ) from error
        names = [n for n in names if n.endswith(".json")]
        if not names:
            return None
        newest = max(names)
        record = json.loads(self.client.download_blob(newest).readall())
        return {**record, "blob": f"{self.url}/{self.container}/{newest}"}


def approval_state(model: Any, version_id: str, records: ApprovalRecords, mode: str) -> tuple[bool, str]:
    """(approved, why) for the version `model` (azure-ai-ml `Model`, ARM id `version_id`) under
    `registry.approval` `mode`."""
    tag = str(dict(model.tags or {}).get("approval", ""))
    record = records.latest(version_id)
    if record is not None and record.get("decision") != "approved":
        return False, f"its newest approval record ({record['blob']}) says {record.get('decision')!r}"
    if mode == "auto":
        if tag == "approved":
            return True, "approved at registration (registry.approval: auto)"
        return False, f"approval={tag or 'none'}"
    if record is None:
        return False, (
            f"there is no approval record under {records.where(version_id)} (its tag says approval={tag or 'none'}): "
            "with registry.approval manual the tag is not an approval, since whoever registers a version can set it"
        )
    live = {"version_id": version_id.lower(), **version_facts(model)}
    stale = [k for k, v in live.items() if str(record.get(k, "")) != v]
    if stale or record.get("kind") != RECORD_KIND:
        return False, (
            f"its approval record {record['blob']} is about another registration ({', '.join(stale) or 'kind'} "
            "differ): approve this version again"
        )
    return True, f"approved by {record.get('by')} at {record.get('at')} ({record['blob']})"


class ApprovalCheckProvider(ResourceProvider):
    """inputs: version_id (the model version's ARM id), api_version (the one pulumi_azure_native uses
    for ModelVersion), mode ("manual" | "auto"), approvals_account, approvals_container, arm_url,
    blob_url (tests only).

    Reads the version and its newest approval record, refuses an unapproved version; writes nothing."""

    @staticmethod
    def _state(props: dict[str, Any]) -> tuple[Any, bool, str]:
        """(the version, approved, why); ResourceNotFoundError when the version does not exist."""
        records = ApprovalRecords(props["approvals_account"], props["approvals_container"], props.get("blob_url"))
        version_id = props["version_id"]
        model = read_version(version_id, props.get("arm_url") or ARM_URL, props.get("api_version") or ML_API_VERSION)
        approved, why = approval_state(model, version_id, records, props["mode"])
        return model, approved, why

    def _check(self, props: dict[str, Any]) -> dict[str, Any]:
        from azure.core.exceptions import ResourceNotFoundError

        version_id = props["version_id"]
        try:
            model, approved, why = self._state(props)
        except ResourceNotFoundError:
            raise Exception(  # noqa: B904, TRY002 - the message Pulumi shows the operator
                f"model version {version_id} does not exist: the training pipeline registers versions when they "
                "pass the quality gate; set endpoint.model_version to a registered version"
            )
        if approved:
            return {**props, "approved": True, "why": why}
        how = (
            "registry.approval is auto: the gate step approves a version when it registers it"
            if props["mode"] == "auto"
            else "registry.approval is manual: an approver approves each version"
        )
        raise Exception(  # noqa: TRY002 - the message Pulumi shows the operator
            f"model version {version_id} is not approved ({why}; {how}). Deploying never approves: an approver "
            f"runs `mlops model approve {model.version} --stack <stack>` (docs/azure.md, Approving a model version)"
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props['version_id']}/approval", outs=self._check(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("version_id", "api_version", "mode", "approvals_account", "approvals_container", "arm_url", "blob_url")
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        self._check(news)  # every preview and up asks again: a revocation stops the next deploy
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._check(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """`pulumi refresh` reads the version and its newest record again: a rejection or a revoked
        record made since the last `up` shows as `approved: false` with its reason (the next `up`
        then stops at the check); a deleted version drops the check from the state."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            _, approved, why = self._state(props)
        except ResourceNotFoundError:
            return ReadResult(None, {})
        return ReadResult(id_, {**props, "approved": approved, "why": why})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """A check: deleting it approves and revokes nothing."""


class ApprovedVersionCheck(pulumi.dynamic.Resource):
    """Fails `pulumi up` (and preview) unless model version `version_id` is approved; the deployment
    of that version depends on it."""

    approved: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        version_id: pulumi.Input[str],
        mode: str,
        approvals_account: pulumi.Input[str],
        approvals_container: str = "approvals",
        arm_url: str = ARM_URL,
        api_version: str = ML_API_VERSION,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "version_id": version_id,
            "api_version": api_version,
            "mode": mode,
            "approvals_account": approvals_account,
            "approvals_container": approvals_container,
            "arm_url": arm_url,
            "approved": None,
            "why": None,
        }
        super().__init__(ApprovalCheckProvider(), name, props, opts)
