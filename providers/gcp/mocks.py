"""What the offline plan's mocks answer for GCP: computed attributes and invoke results.

Only attributes the program reads back are faked (ids, emails, URLs); everything else echoes the
inputs. Values are shaped like the real ones so outputs read naturally, but they are fakes.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

PROJECT_NUMBER = "123456789012"


def _project(inputs: dict[str, Any]) -> str:
    return str(inputs.get("project") or "offline-project")


def _location(inputs: dict[str, Any]) -> str:
    return str(inputs.get("region") or inputs.get("location") or "offline-region")


def fake_state(typ: str, name: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
    project, location = _project(inputs), _location(inputs)
    base = f"projects/{project}/locations/{location}"
    if typ == "gcp:storage/bucket:Bucket":
        bucket = inputs.get("name", name)
        return {
            "url": f"gs://{bucket}",
            "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}",
        }, bucket
    if typ == "gcp:storage/bucketObject:BucketObject":
        return {
            "mediaLink": f"https://storage.googleapis.com/{inputs.get('bucket')}/{inputs.get('name')}"
        }, f"{inputs.get('bucket')}-{inputs.get('name')}"
    if typ == "gcp:kms/keyRing:KeyRing":
        return {}, f"{base}/keyRings/{inputs.get('name', name)}"
    if typ == "gcp:kms/cryptoKey:CryptoKey":
        return {}, f"{inputs.get('keyRing')}/cryptoKeys/{inputs.get('name', name)}"
    if typ == "gcp:serviceaccount/account:Account":
        email = f"{inputs.get('accountId')}@{project}.iam.gserviceaccount.com"
        sa_name = f"projects/{project}/serviceAccounts/{email}"
        return {"email": email, "member": f"serviceAccount:{email}", "name": sa_name}, sa_name
    if typ == "gcp:projects/serviceIdentity:ServiceIdentity":
        agent = str(inputs.get("service", "")).split(".")[0]
        email = f"service-{PROJECT_NUMBER}@gcp-sa-{agent}.iam.gserviceaccount.com"
        return {"email": email, "member": f"serviceAccount:{email}"}, f"{project}/{inputs.get('service')}"
    if typ == "gcp:bigquery/dataset:Dataset":
        return {}, f"projects/{project}/datasets/{inputs.get('datasetId')}"
    if typ == "gcp:bigquery/table:Table":
        return {}, f"projects/{project}/datasets/{inputs.get('datasetId')}/tables/{inputs.get('tableId')}"
    if typ == "gcp:vertex/aiEndpoint:AiEndpoint":
        return {}, f"{base}/endpoints/{inputs.get('name')}"
    if typ == "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore":
        return {}, f"{base}/featureOnlineStores/{inputs.get('name')}"
    if typ == "gcp:vertex/aiFeatureGroup:AiFeatureGroup":
        return {}, f"{base}/featureGroups/{inputs.get('name')}"
    if typ == "gcp:vertex/aiFeatureGroupFeature:AiFeatureGroupFeature":
        return {}, f"{base}/featureGroups/{inputs.get('featureGroup')}/features/{inputs.get('name')}"
    if typ == "gcp:vertex/aiFeatureOnlineStoreFeatureview:AiFeatureOnlineStoreFeatureview":
        store = inputs.get("featureOnlineStore")
        return {}, f"{base}/featureOnlineStores/{store}/featureViews/{inputs.get('name')}"
    if typ == "gcp:colab/schedule:Schedule":
        sched = f"{base}/schedules/{zlib.crc32(name.encode())}"
        return {"name": sched}, sched
    if typ == "gcp:pubsub/topic:Topic":
        return {}, f"projects/{project}/topics/{inputs.get('name', name)}"
    if typ == "gcp:monitoring/notificationChannel:NotificationChannel":
        channel = f"projects/{project}/notificationChannels/{zlib.crc32(name.encode())}"
        return {"name": channel}, channel
    if typ == "gcp:monitoring/alertPolicy:AlertPolicy":
        policy = f"projects/{project}/alertPolicies/{zlib.crc32(name.encode())}"
        return {"name": policy}, policy
    if typ == "gcp:logging/projectBucketConfig:ProjectBucketConfig":
        bucket = f"projects/{project}/locations/{inputs.get('location')}/buckets/{inputs.get('bucketId')}"
        return {"name": bucket}, bucket
    if typ == "gcp:logging/metric:Metric":
        return {}, str(inputs.get("name", name))
    if typ == "gcp:workflows/workflow:Workflow":
        return {}, f"{base}/workflows/{inputs.get('name', name)}"
    if typ == "gcp:eventarc/trigger:Trigger":
        return {}, f"{base}/triggers/{inputs.get('name', name)}"
    if typ == "gcp:projects/iAMCustomRole:IAMCustomRole":
        role = f"projects/{project}/roles/{inputs.get('roleId')}"
        return {"name": role}, role
    if typ == "pulumi-python:dynamic:Resource":
        outs: dict[str, Any] = {"approved": True}
        if "machine_type" in inputs:  # DeployedModel: Vertex creates the PSC attachment with the first deployment
            outs["deployed_model_id"] = "1234567890"
            outs["service_attachment"] = (
                f"projects/offline-tenant-project/regions/{inputs.get('region')}/serviceAttachments/"
                f"sa-{zlib.crc32(str(inputs.get('endpoint')).encode())}"
            )
        return outs, f"{name}-offline"
    if typ == "gcp:compute/network:Network":
        return {
            "selfLink": f"https://www.googleapis.com/compute/v1/projects/{project}/global/networks/{inputs.get('name')}"
        }, (f"projects/{project}/global/networks/{inputs.get('name')}")
    if typ == "gcp:compute/subnetwork:Subnetwork":
        return {}, f"projects/{project}/regions/{inputs.get('region')}/subnetworks/{inputs.get('name')}"
    if typ == "gcp:compute/address:Address":
        return {
            "address": "10.201.0.2"
        }, f"projects/{project}/regions/{inputs.get('region')}/addresses/{inputs.get('name')}"
    if typ == "gcp:compute/forwardingRule:ForwardingRule":
        return {}, f"projects/{project}/regions/{inputs.get('region')}/forwardingRules/{inputs.get('name')}"
    return {}, f"{name}-id"


def fake_call(token: str, args: dict[str, Any]) -> dict[str, Any]:
    project = str(args.get("project") or "offline-project")
    if token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
        email = f"service-{PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
        return {"emailAddress": email, "member": f"serviceAccount:{email}", "project": project, "id": email}
    if token == "gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount":
        email = f"bq-{PROJECT_NUMBER}@bigquery-encryption.iam.gserviceaccount.com"
        return {"email": email, "member": f"serviceAccount:{email}", "project": project, "id": email}
    if token == "gcp:artifactregistry/getDockerImage:getDockerImage":
        # A fake digest (sha256 of the name): the real one is whatever the tag points at during `pulumi up`.
        name = str(args.get("imageName", "")).split(":", 1)[0]
        repo = f"{args.get('location')}-docker.pkg.dev/{args.get('project')}/{args.get('repositoryId')}/{name}"
        digest = hashlib.sha256(repo.encode()).hexdigest()
        return {"selfLink": f"{repo}@sha256:{digest}", "name": repo, "imageName": name, "project": args.get("project")}
    if token == "gcp:logging/getProjectCmekSettings:getProjectCmekSettings":
        email = f"service-{PROJECT_NUMBER}@gcp-sa-logging.iam.gserviceaccount.com"
        return {"serviceAccountId": email, "project": project, "id": f"projects/{project}/cmekSettings"}
    if token == "gcp:organizations/getProject:getProject":
        return {"number": PROJECT_NUMBER, "projectId": project, "id": f"projects/{project}", "name": project}
    return {}
