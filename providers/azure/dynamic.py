"""A Pulumi dynamic provider for what pulumi-azure-native cannot order: an online endpoint's traffic.

`OnlineEndpoint.properties.traffic` may only name deployments that already exist, but every
`OnlineDeployment` depends on its endpoint. Setting traffic on the endpoint resource therefore
points it at a deployment Pulumi has not created yet, on every version change. `EndpointTraffic`
sets the traffic AFTER the deployment exists (it takes the deployment's name as an input, so it
depends on it): GET the endpoint, PUT it back with the new `traffic`, wait for the ARM operation.
Deleting it routes no traffic (Azure refuses to delete a deployment that still takes traffic).

`arm_url` is normally https://management.azure.com; tests point it at a local fake ARM server
(an `http://` URL is only ever a local fake, so it gets no real token).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

ARM_URL = "https://management.azure.com"
API_VERSION = "2024-10-01"
OPERATION_TIMEOUT_S = 3600
# The writable parts of an online endpoint; GET also returns read-only ones ARM would reject.
_WRITABLE = ("authMode", "description", "properties", "publicNetworkAccess", "mirrorTraffic", "compute")


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


def endpoint_body(current: dict[str, Any], traffic: dict[str, int]) -> dict[str, Any]:
    """The PUT body: the endpoint as it is, writable fields only, with `traffic` replaced."""
    props = {k: v for k, v in (current.get("properties") or {}).items() if k in _WRITABLE}
    body: dict[str, Any] = {"location": current["location"], "properties": {**props, "traffic": traffic}}
    for key in ("kind", "tags", "sku"):
        if current.get(key) is not None:
            body[key] = current[key]
    identity = current.get("identity")
    if identity:
        body["identity"] = {"type": identity["type"]}
        if identity.get("userAssignedIdentities"):
            body["identity"]["userAssignedIdentities"] = {k: {} for k in identity["userAssignedIdentities"]}
    return body


def set_traffic(
    endpoint_id: str,
    traffic: dict[str, int],
    arm_url: str = ARM_URL,
    poll_seconds: float = 10.0,
    missing_ok: bool = False,
) -> dict[str, int]:
    """Route `traffic` ({deployment name: percent}) on the endpoint; returns what ARM reports."""
    token = _token(arm_url)
    url = f"{arm_url.rstrip('/')}{endpoint_id}?api-version={API_VERSION}"
    status, _, current = _request("GET", url, token)
    if status == 404 and missing_ok:
        return {}
    if status != 200:
        raise _fail(f"reading endpoint {endpoint_id}", status, current)
    status, headers, result = _request("PUT", url, token, endpoint_body(current, traffic))
    if status not in (200, 201, 202):
        raise _fail(f"setting traffic {traffic} on {endpoint_id}", status, result)
    operation = headers.get("Azure-AsyncOperation") or headers.get("azure-asyncoperation")
    deadline = time.monotonic() + OPERATION_TIMEOUT_S
    while operation:
        status, headers, state = _request("GET", operation, token)
        if status != 200:
            raise _fail(f"waiting for the traffic update of {endpoint_id}", status, state)
        if state.get("status") == "Succeeded":
            break
        if state.get("status") in ("Failed", "Canceled"):
            raise _fail(f"the traffic update of {endpoint_id}", status, state)
        if time.monotonic() > deadline:
            raise Exception(f"the traffic update of {endpoint_id} did not finish in {OPERATION_TIMEOUT_S}s")  # noqa: TRY002
        time.sleep(float(headers.get("Retry-After") or poll_seconds))
    return dict(traffic)


class TrafficProvider(ResourceProvider):
    """inputs: endpoint_id (ARM id), traffic ({deployment: percent}), arm_url."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        set_traffic(props["endpoint_id"], props["traffic"], props.get("arm_url") or ARM_URL)
        return CreateResult(id_=f"{props['endpoint_id']}/traffic", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("endpoint_id", "traffic", "arm_url") if olds.get(k) != news.get(k)]
        replaces = [k for k in changed if k == "endpoint_id"]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        set_traffic(news["endpoint_id"], news["traffic"], news.get("arm_url") or ARM_URL)
        return UpdateResult(outs=news)

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
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"endpoint_id": endpoint_id, "traffic": traffic, "arm_url": arm_url}
        super().__init__(TrafficProvider(), name, props, opts)
