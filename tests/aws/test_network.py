"""`network.public_access: false` on AWS: the private network, every job and the model in it, the
wheelhouse the isolated step containers install from, and what `mlops diff` says between the two.

Expected values are literal; the private plans are aws-dev (the default) and aws-all-options, the
public one aws-public (tests/aws/stacks.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.diff import diff_plans
from pipelines import get_pipeline
from providers.aws import pipeline_definition as pd
from providers.aws import translate as tr
from providers.aws import wheelhouse

ROOT = Path(__file__).resolve().parents[2]
NETWORK_TYPES = {
    "aws:ec2/vpc:Vpc": 1,
    "aws:ec2/subnet:Subnet": 2,
    "aws:ec2/routeTable:RouteTable": 1,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": 2,
    "aws:ec2/securityGroup:SecurityGroup": 2,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": 2,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": 1,
    "aws:ec2/vpcEndpoint:VpcEndpoint": 4,
}


def _types(plan) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in plan.resources:
        if r.type.startswith(("aws:ec2/", "aws:vpc/")):
            out[r.type] = out.get(r.type, 0) + 1
    return out


def test_private_plans_declare_the_network_and_the_public_one_none(aws_plans):
    assert _types(aws_plans["aws-dev"]) == NETWORK_TYPES
    assert _types(aws_plans["aws-all-options"]) == NETWORK_TYPES
    assert _types(aws_plans["aws-public"]) == {}


def test_the_vpc_has_two_private_subnets_in_two_zones_and_no_way_out(aws_plans):
    plan = aws_plans["aws-dev"]
    vpc = plan.one("aws:ec2/vpc:Vpc").inputs
    assert (vpc["cidrBlock"], vpc["enableDnsSupport"], vpc["enableDnsHostnames"]) == ("10.64.0.0/16", True, True)
    subnets = sorted(
        (s.inputs["availabilityZone"], s.inputs["cidrBlock"], s.inputs["mapPublicIpOnLaunch"])
        for s in plan.by_type("aws:ec2/subnet:Subnet")
    )
    assert subnets == [("eu-west-1a", "10.64.0.0/20", False), ("eu-west-1b", "10.64.16.0/20", False)]
    routes = plan.one("aws:ec2/routeTable:RouteTable").inputs
    assert "routes" not in routes  # local only: no internet gateway, no NAT
    for absent in ("aws:ec2/internetGateway:InternetGateway", "aws:ec2/natGateway:NatGateway", "aws:ec2/route:Route"):
        assert plan.by_type(absent) == []


def test_security_groups_take_nothing_from_outside(aws_plans):
    plan = aws_plans["aws-dev"]
    rules = sorted(
        (
            r.type.rsplit(":", 1)[1],
            r.name,
            r.inputs["ipProtocol"],
            r.inputs["fromPort"],
            r.inputs["toPort"],
            r.inputs.get("cidrIpv4")
            or ("prefix list" if r.inputs.get("prefixListId", "").startswith("pl-") else None)
            or ("endpoints group" if r.inputs.get("referencedSecurityGroupId", "").startswith("sg-") else None),
        )
        for r in plan.resources
        if r.type.startswith("aws:vpc/securityGroup")
    )
    assert rules == [
        ("SecurityGroupEgressRule", "churn-dev-foundation-workloads-to-endpoints", "tcp", 443, 443, "endpoints group"),
        ("SecurityGroupEgressRule", "churn-dev-foundation-workloads-to-s3", "tcp", 443, 443, "prefix list"),
        ("SecurityGroupIngressRule", "churn-dev-foundation-endpoints-from-vpc", "tcp", 443, 443, "10.64.0.0/16"),
    ]
    to_endpoints = next(r for r in plan.resources if r.name == "churn-dev-foundation-workloads-to-endpoints")
    endpoints_group = next(
        r for r in plan.by_type("aws:ec2/securityGroup:SecurityGroup") if r.name.endswith("endpoints")
    )
    assert to_endpoints.inputs["referencedSecurityGroupId"] == _id(plan, endpoints_group)
    for group in plan.by_type("aws:ec2/securityGroup:SecurityGroup"):
        assert "ingress" not in group.inputs and "egress" not in group.inputs  # no inline rules


def test_the_endpoints_are_the_ones_something_in_the_vpc_calls_and_limited_to_the_platform(aws_plans):
    plan = aws_plans["aws-dev"]
    endpoints = {r.inputs["serviceName"]: r.inputs for r in plan.by_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert {k: v["vpcEndpointType"] for k, v in endpoints.items()} == {
        "com.amazonaws.eu-west-1.s3": "Gateway",
        "com.amazonaws.eu-west-1.sagemaker.runtime": "Interface",  # callers invoking the endpoint
        "com.amazonaws.eu-west-1.sagemaker.featurestore-runtime": "Interface",  # store_features' PutRecord
        "com.amazonaws.eu-west-1.monitoring": "Interface",  # the drift job's PutMetricData
    }
    s3 = json.loads(endpoints["com.amazonaws.eu-west-1.s3"]["policy"])["Statement"]
    assert [st["Resource"] for st in s3] == [
        ["arn:aws:s3:::churn-dev-foundation-data-mock", "arn:aws:s3:::churn-dev-foundation-data-mock/*"]
    ]
    for service in ("sagemaker.runtime", "sagemaker.featurestore-runtime", "monitoring"):
        endpoint = endpoints[f"com.amazonaws.eu-west-1.{service}"]
        assert endpoint["privateDnsEnabled"] is True and len(endpoint["subnetIds"]) == 2, service
    runtime = endpoints["com.amazonaws.eu-west-1.sagemaker.runtime"]
    assert json.loads(runtime["policy"])["Statement"] == [
        {
            "Sid": "InvokePlatformEndpoints",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "sagemaker:InvokeEndpoint",
            "Resource": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/churn-dev-endpoint-*",
        }
    ]


def test_no_monitoring_endpoint_without_the_kits_drift_job(tmp_path):
    """Model Monitor publishes its metrics itself, and nothing is monitored when nothing is served."""
    from infra.config import load_stack_file
    from infra.plan import plan
    from tests.aws.stacks import EXAMPLE, with_changes, write

    for stack, changes in (
        ("aws-builtin", {"monitor": {"engine": "builtin"}}),
        ("aws-unserved", {"endpoint": {"model_version": None}}),
    ):
        result = plan(load_stack_file(write(tmp_path, stack, with_changes(EXAMPLE, **changes))))
        services = sorted(r.inputs["serviceName"] for r in result.by_type("aws:ec2/vpcEndpoint:VpcEndpoint"))
        assert services == [
            "com.amazonaws.eu-west-1.s3",
            "com.amazonaws.eu-west-1.sagemaker.featurestore-runtime",
            "com.amazonaws.eu-west-1.sagemaker.runtime",
        ], stack


def _subnets_and_group(plan) -> dict:
    subnets = sorted(s_id for s_id in (_id(plan, r) for r in plan.by_type("aws:ec2/subnet:Subnet")))
    (group,) = [
        _id(plan, r) for r in plan.by_type("aws:ec2/securityGroup:SecurityGroup") if r.name.endswith("workloads")
    ]
    return {"Subnets": subnets, "SecurityGroupIds": [group]}


def _id(plan, resource) -> str:
    from providers.aws.mocks import _EC2_IDS, _ec2_id

    return _ec2_id(_EC2_IDS[resource.type], resource.name)


def _jobs(plan) -> dict[str, dict]:
    """Every job of the pipeline definition, inside Condition branches too."""
    definition = json.loads(plan.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"])
    steps = list(definition["Steps"])
    for step in definition["Steps"]:
        if step["Type"] == "Condition":
            steps += step["Arguments"].get("IfSteps", []) + step["Arguments"].get("ElseSteps", [])
    return {s["Name"]: s for s in steps if s["Type"] in ("Processing", "QualityCheck", "Training")}


def _network_of(step: dict) -> dict:
    args = step["Arguments"]
    if step["Type"] == "Training":
        return {
            k: args.get(k) for k in ("EnableNetworkIsolation", "EnableInterContainerTrafficEncryption", "VpcConfig")
        }
    net = args["NetworkConfig"]
    return {k: net.get(k) for k in ("EnableNetworkIsolation", "EnableInterContainerTrafficEncryption", "VpcConfig")}


FEATURE_STORE_STEPS = ("store_features", "training_data")
"""The kit's steps that call Feature Store and S3: in the private subnets, not isolated."""


@pytest.mark.parametrize("stack", ["aws-dev", "aws-all-options"])
def test_every_job_and_the_model_run_in_the_private_subnets_isolated_but_the_feature_store_steps(aws_plans, stack):
    plan = aws_plans[stack]
    vpc = _subnets_and_group(plan)
    jobs = _jobs(plan)
    assert sorted(jobs) == [
        "evaluate",
        "features",
        "publish_baseline",
        "store_features",
        "train",
        "training_data",
        "validate",
    ]
    for name, step in jobs.items():
        net = _network_of(step)
        assert net == {
            "EnableNetworkIsolation": name not in FEATURE_STORE_STEPS,
            "EnableInterContainerTrafficEncryption": True,
            "VpcConfig": {"Subnets": sorted(net["VpcConfig"]["Subnets"]), "SecurityGroupIds": vpc["SecurityGroupIds"]},
        }, name
        assert sorted(net["VpcConfig"]["Subnets"]) == vpc["Subnets"], name
    models = plan.by_type("aws:sagemaker/model:Model")
    assert len(models) == {"aws-dev": 1, "aws-all-options": 2}[stack]  # all-options: the shadow's too
    for model in (m.inputs for m in models):
        assert model["enableNetworkIsolation"] is True
        assert sorted(model["vpcConfig"]["subnets"]) == vpc["Subnets"]
        assert model["vpcConfig"]["securityGroupIds"] == vpc["SecurityGroupIds"]
    job = json.loads(
        next(
            r.inputs["target"]["input"]
            for r in plan.by_type("aws:scheduler/schedule:Schedule")
            if r.inputs["name"].endswith("-drift-check")
        )
    )
    # The drift job publishes to CloudWatch: not isolated, in the private subnets (monitoring endpoint).
    assert job["NetworkConfig"] == {
        "EnableInterContainerTrafficEncryption": True,
        "EnableNetworkIsolation": False,
        "VpcConfig": {
            "Subnets": sorted(job["NetworkConfig"]["VpcConfig"]["Subnets"]),
            "SecurityGroupIds": vpc["SecurityGroupIds"],
        },
    }
    assert sorted(job["NetworkConfig"]["VpcConfig"]["Subnets"]) == vpc["Subnets"]


def test_the_builtin_monitor_runs_isolated_in_the_private_subnets(tmp_path):
    from infra.config import load_stack_file
    from infra.plan import plan
    from tests.aws.stacks import EXAMPLE, with_changes, write

    result = plan(load_stack_file(write(tmp_path, "aws-builtin", with_changes(EXAMPLE, monitor={"engine": "builtin"}))))
    vpc = _subnets_and_group(result)
    jobs = _jobs(result)
    assert _network_of(jobs["data_baseline"])["EnableNetworkIsolation"] is True
    monitor = result.one("aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition").inputs["networkConfig"]
    assert monitor["enableNetworkIsolation"] is True and monitor["enableInterContainerTrafficEncryption"] is True
    assert sorted(monitor["vpcConfig"]["subnets"]) == vpc["Subnets"]
    assert monitor["vpcConfig"]["securityGroupIds"] == vpc["SecurityGroupIds"]


def test_public_jobs_keep_todays_network(aws_plans):
    plan = aws_plans["aws-public"]
    expected = {
        "validate": False,
        "features": False,
        "store_features": False,
        "training_data": False,
        "train": False,
        "evaluate": False,
        "publish_baseline": True,  # a copy: needs no network in either mode
    }
    for name, step in _jobs(plan).items():
        assert _network_of(step) == {
            "EnableNetworkIsolation": expected[name],
            "EnableInterContainerTrafficEncryption": True,
            "VpcConfig": None,
        }, name
    assert "vpcConfig" not in plan.one("aws:sagemaker/model:Model").inputs
    job = json.loads(
        next(
            r.inputs["target"]["input"]
            for r in plan.by_type("aws:scheduler/schedule:Schedule")
            if r.inputs["name"].endswith("-drift-check")
        )
    )
    assert job["NetworkConfig"] == {"EnableInterContainerTrafficEncryption": True, "EnableNetworkIsolation": False}


def _bundle(plan) -> dict[str, dict]:
    return {r.inputs["key"].rsplit("/", 1)[1]: r.inputs for r in plan.by_type("aws:s3/bucketObjectv2:BucketObjectv2")}


def test_private_steps_install_from_the_wheelhouse_next_to_the_step_code(aws_plans):
    private, public = _bundle(aws_plans["aws-dev"]), _bundle(aws_plans["aws-public"])
    wheels = private["wheelhouse.zip"]
    assert wheels["source"]["asset"] == "FileArchive"
    assert wheels["source"]["path"].startswith("pipelines/churn/build/wheelhouse-cp312-")
    code = {o["key"].rsplit("/", 1)[0] for name, o in private.items() if name != "mlops_io.json"}
    assert code == {wheels["key"].rsplit("/", 1)[0]}
    assert "--no-index --find-links" in private["run.sh"]["source"]["text"]
    assert "wheelhouse.zip" not in public and "--no-index" not in public["run.sh"]["source"]["text"]


def test_mlops_diff_between_public_and_private_shows_the_network(aws_plans):
    diff = diff_plans(aws_plans["aws-public"].to_json(), aws_plans["aws-dev"].to_json())
    (change,) = [m for m in diff.ml if m.path == "network.public_access"]
    assert (change.old, change.new) == (True, False)
    created = sorted({c.type for c in diff.resources if c.op == "create"})
    assert created == sorted(
        [
            *NETWORK_TYPES,
            "aws:s3/bucketObjectv2:BucketObjectv2",  # the wheelhouse and the offline run.sh's new prefix
        ]
    )
    replaced = {c.type for c in diff.resources if c.op == "replace"}
    assert "aws:sagemaker/model:Model" in replaced  # vpcConfig forces a new model
    updated = {c.type for c in diff.resources if c.op in ("update", "replace")}
    assert {
        "aws:sagemaker/pipeline:Pipeline",
        "aws:scheduler/schedule:Schedule",  # the drift job's request names the subnets
        "aws:iam/rolePolicy:RolePolicy",
    } <= updated


# ---- the wheelhouse ---------------------------------------------------------------------------


def test_the_wheelhouse_is_built_for_the_image_the_steps_run_on():
    churn = get_pipeline("churn")
    image = tr.framework_image(churn, "k")
    dest = wheelhouse.directory(churn, image)
    assert dest.parent == churn.requirements.parent / "build"
    assert dest.name.startswith("wheelhouse-cp312-") and len(dest.name) == len("wheelhouse-cp312-") + 12
    assert wheelhouse.download_command(churn, image, dest) == [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--requirement",
        str(churn.requirements),
        "--requirement",
        str(ROOT / "providers/aws/step_requirements.txt"),
        "--only-binary=:all:",
        "--platform",
        "manylinux2014_x86_64",
        "--platform",
        "manylinux_2_28_x86_64",
        "--implementation",
        "cp",
        "--python-version",
        "3.12",
        "--dest",
        str(dest),
    ]


def test_the_wheelhouse_command_refuses_an_unknown_pipeline(capsys):
    assert wheelhouse.main(["nope"]) == 2
    assert "unknown pipeline 'nope'" in capsys.readouterr().out


def test_mlops_plan_says_when_the_wheelhouse_is_missing(monkeypatch, tmp_path, capsys, caplog):
    from infra import cli

    monkeypatch.setattr(wheelhouse, "directory", lambda pipeline, image: tmp_path / "absent")
    assert cli.main(["plan", "--config-file", str(ROOT / "Pulumi.aws-dev.yaml")]) == 0
    err = capsys.readouterr().err
    # A Pulumi warning: the CLI prints it on stderr (the mocks' engine logs it through `logging`).
    assert "python -m providers.aws.wheelhouse churn" in err + caplog.text and "Traceback" not in err


def _wheel(directory: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel, written by hand (no build backend, no network)."""
    path = directory / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr(f"{name}.py", "VALUE = 'installed offline'\n")
        whl.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        whl.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{info}/RECORD", f"{name}.py,,\n{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n")
    return path


def test_run_sh_installs_from_the_wheelhouse_with_no_index(tmp_path):
    """The private run.sh, in a fresh virtualenv, with PyPI unreachable by construction (--no-index)."""
    code = tmp_path / "code"
    code.mkdir()
    churn = get_pipeline("churn")
    (code / "run.sh").write_text(pd.run_script(churn, wheelhouse=True))
    (code / churn.requirements.name).write_text("kit-offline-probe==0.1\n")
    (code / pd.STEP_REQUIREMENTS).write_text("kit-offline-io==0.2\n")
    (code / "probe.py").write_text(
        "import sys, kit_offline_io, kit_offline_probe\nprint(kit_offline_probe.VALUE, sys.argv[1:])\n"
    )
    built = tmp_path / "wheels"
    built.mkdir()
    _wheel(built, "kit_offline_probe", "0.1")
    _wheel(built, "kit_offline_io", "0.2")
    with zipfile.ZipFile(code / pd.WHEELHOUSE, "w") as archive:  # what Pulumi's FileArchive uploads
        for wheel in built.iterdir():
            archive.write(wheel, wheel.name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "PIP_CONFIG_FILE": os.devnull}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [*pd.entrypoint(str(code), [], ["python", "probe.py"]), "--flag", "x"],
        check=True,
        env=env,
        timeout=120,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.stdout.strip() == "installed offline ['--flag', 'x']"
