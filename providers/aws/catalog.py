"""What the kit's tools know about AWS without importing any AWS SDK: plain data only.

Read through `providers.registry` (never imported by name elsewhere), by `mlops diff` (which
resources hold data, which inputs force a replacement), `mlops stack new` (provider keys) and the
extra check (`pip install -e '.[aws]'`).
"""

from __future__ import annotations

EXTRA = "aws"
"""The pip extra that installs this cloud's SDKs (pyproject.toml)."""
REQUIRED_MODULES = ("pulumi_aws", "sagemaker", "boto3", "botocore")
"""Modules a plan of an AWS stack imports; a missing one means the extra is not installed."""
CONFIG_KEYS = {"region": "aws:region"}
"""Provider keys a stack must set: logical name -> stack config key."""
OPTIONAL_CONFIG_KEYS: dict[str, str] = {}
EXAMPLE_CONFIG = {"aws:region": "eu-west-1"}
"""Valid stand-ins for the provider keys: `mlops stack new` checks the cloud's rules with them
while the real values are still to be filled in."""
REGION_KEY = "aws:region"

# Pulumi type -> what it holds: a delete or replace loses data. Only types the provider declares
# (tests/providers/test_catalog.py checks each against the example plans and the installed SDK).
DATA_BEARING: dict[str, str] = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:kms/key:Key": "encryption key",
    "aws:sagemaker/featureGroup:FeatureGroup": "feature group",
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": "model registry",
}

# Pulumi type -> top-level inputs (camelCase) the provider cannot update in place: a change
# replaces the resource. The kit's knowledge, from the providers' force-new properties; not
# exhaustive, and Pulumi's schema decides.
REPLACE_ON_CHANGE: dict[str, tuple[str, ...]] = {
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", "objectLockEnabled"),
    "aws:kms/key:Key": ("customerMasterKeySpec", "keyUsage", "multiRegion", "customKeyStoreId", "xksKeyId"),
    "aws:sagemaker/featureGroup:FeatureGroup": (
        "featureGroupName",
        "recordIdentifierFeatureName",
        "eventTimeFeatureName",
        "featureDefinitions",
        "offlineStoreConfig",
        "roleArn",
        "description",
    ),
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": ("modelPackageGroupName", "modelPackageGroupDescription"),
    # Not data-bearing: listed so the diff says "replace" where it is one.
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": (
        "name",
        "productionVariants",
        "dataCaptureConfig",
        "kmsKeyArn",
        "shadowProductionVariants",
    ),
    "aws:sagemaker/model:Model": ("name", "primaryContainer", "containers", "executionRoleArn", "vpcConfig"),
    "aws:sagemaker/endpoint:Endpoint": ("name",),
    # The endpoint's name carries its size, so a new size moves the scaling target and policy too.
    "aws:appautoscaling/target:Target": ("resourceId", "scalableDimension", "serviceNamespace"),
    "aws:appautoscaling/policy:Policy": ("name", "resourceId", "scalableDimension", "serviceNamespace"),
    "aws:iam/role:Role": ("name", "namePrefix", "path"),
}
