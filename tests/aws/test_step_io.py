"""The AWS step I/O (`providers/aws/step_io.py`, shipped as `mlops_io.py`) against the real clients.

S3 and CloudWatch are moto's; featurestore-runtime (which moto does not emulate) is a botocore
Stubber, so every PutRecord is still validated against botocore's model. Feature Store's offline
ingestion is played by `ingest`: it writes what PutRecord received as Parquet under the group's
resolved offline prefix, with the three columns Feature Store adds to every offline record
(`api_invocation_time`, `write_time`, `is_deleted`; "Amazon SageMaker Feature Store offline store
data format", https://docs.aws.amazon.com/sagemaker/latest/dg/feature-store-offline.html). The
kit's own steps (store_features, training_data, drift) run on top, as in a SageMaker container.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from pipelines import get_pipeline
from pipelines.spec import KIT_DIR

REGION = "eu-west-1"
BUCKET = "churn-dev-data"
OFFLINE = f"s3://{BUCKET}/feature-store/123456789012/sagemaker/{REGION}/offline-store/churn-dev-customer_profile-1700000000/data"
CAPTURE = f"s3://{BUCKET}/data-capture/churn-dev-endpoint-small/primary"
NAMESPACE = "mlops/churn-dev"
PIPELINE = get_pipeline("churn")
CONTRACT = PIPELINE.contract.to_json()
REQUEST = [c["name"] for c in CONTRACT["request"]]


@pytest.fixture
def io_module(tmp_path, monkeypatch):
    """`providers.aws.step_io` as a container imports it: the kit's modules next to it, the contract
    in `$MLOPS_CONTRACT`, `$MLOPS_IO` as the pipeline definition writes it."""
    monkeypatch.syspath_prepend(str(KIT_DIR))
    contract = tmp_path / "mlops_contract.json"
    contract.write_text(json.dumps(CONTRACT))
    monkeypatch.setenv("MLOPS_CONTRACT", str(contract))
    monkeypatch.setenv(
        "MLOPS_IO",
        json.dumps(
            {
                "kind": "aws",
                "region": REGION,
                "groups": {
                    "customer_profile": {"name": "churn-dev-customer_profile", "online": False, "offline": OFFLINE}
                },
                "receipts": f"s3://{BUCKET}/feature-store-receipts",
                "capture": CAPTURE,
                "metrics": {"namespace": NAMESPACE, "endpoint": "churn-dev-endpoint-small"},
                "landing_timeout_seconds": 0,
                "poll_seconds": 0,
            }
        ),
    )
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    from providers.aws import step_io

    return step_io


class FeatureStore:
    """featurestore-runtime behind a Stubber (every call validated against botocore's model), and
    the offline store as Feature Store fills it."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self.client = boto3.client("sagemaker-featurestore-runtime", region_name=REGION)
        self.stubber = Stubber(self.client)
        self.calls: list[dict[str, Any]] = []
        self.client.meta.events.register(
            "before-parameter-build.sagemaker-featurestore-runtime.PutRecord", self._record
        )
        self.stubber.activate()

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(params)

    def expect(self, n: int) -> None:
        for _ in range(n):
            self.stubber.add_response("put_record", {})

    def ingest(self, at: datetime, *, deleted: bool = False) -> None:
        """What Feature Store writes to the offline store for the PutRecords received so far."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = []
        for call in self.calls:
            row: dict[str, Any] = {f["FeatureName"]: f["ValueAsString"] for f in call["Record"]}
            row.update(api_invocation_time=at, write_time=at + timedelta(minutes=3), is_deleted=deleted)
            rows.append(row)
        self.calls = []
        frame = pd.DataFrame(rows)
        for column in ("tenure_months", "support_calls", "paperless_billing"):  # Integral -> bigint
            frame[column] = frame[column].astype("int64")
        for column in ("monthly_charges", "total_charges", "avg_monthly_spend", "support_calls_per_year"):
            frame[column] = frame[column].astype("float64")
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
        key = (
            OFFLINE.removeprefix(f"s3://{BUCKET}/")
            + f"/year={at:%Y}/month={at:%m}/day={at:%d}/hour={at:%H}/{at:%Y%m%dT%H%M%SZ}_x.parquet"
        )
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=sink.getvalue())


@pytest.fixture
def aws(io_module, monkeypatch):
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        store = FeatureStore(s3)
        real = io_module.client

        def client(service: str) -> Any:
            return store.client if service == "sagemaker-featurestore-runtime" else real(service)

        monkeypatch.setattr(io_module, "client", client)
        yield {"s3": s3, "store": store, "cloudwatch": boto3.client("cloudwatch", region_name=REGION)}


def _features(customers: list[str], when: str, tenure: int) -> pd.DataFrame:
    from mlops_schema import coerce, feature_columns

    raw = pd.DataFrame(
        {
            "customer_id": customers,
            "event_time": [when] * len(customers),
            "tenure_months": [str(tenure)] * len(customers),
            "monthly_charges": ["70.5"] * len(customers),
            "total_charges": ["1410.0"] * len(customers),
            "support_calls": ["2"] * len(customers),
            "contract_type": ["monthly"] * len(customers),
            "payment_method": ["card"] * len(customers),
            "paperless_billing": ["true"] * len(customers),
            "avg_monthly_spend": ["70.5"] * len(customers),
            "support_calls_per_year": ["1.2"] * len(customers),
        }
    )
    return coerce(raw, feature_columns(CONTRACT, "customer_profile"))


def test_values_are_written_as_feature_store_reads_them(io_module):
    assert io_module.as_feature_value(pd.Timestamp("2024-03-01T10:00:00Z"), "timestamp") == "2024-03-01T10:00:00Z"
    assert io_module.as_feature_value(pd.Timestamp("2024-03-01T10:00:00.250Z"), "timestamp") == (
        "2024-03-01T10:00:00.250Z"
    )
    assert io_module.as_feature_value(pd.Timestamp("2024-03-01T12:00:00+02:00"), "timestamp") == "2024-03-01T10:00:00Z"
    assert io_module.as_feature_value(True, "bool") == "1"
    assert io_module.as_feature_value(False, "bool") == "0"
    assert io_module.as_feature_value(7, "int") == "7"
    assert io_module.as_feature_value(70.5, "float") == "70.5"


def test_an_offline_only_group_is_written_to_the_offline_store_only(aws, io_module):
    frame = _features(["c1", "c2"], "2024-01-01T00:00:00Z", 10)
    aws["store"].expect(2)
    io_module.write_features("customer_profile", frame)
    calls = sorted(aws["store"].calls, key=lambda c: c["Record"][0]["ValueAsString"])
    assert [c["FeatureGroupName"] for c in calls] == ["churn-dev-customer_profile"] * 2
    assert [c["TargetStores"] for c in calls] == [["OfflineStore"], ["OfflineStore"]]
    assert calls[0]["Record"] == [
        {"FeatureName": "customer_id", "ValueAsString": "c1"},
        {"FeatureName": "event_time", "ValueAsString": "2024-01-01T00:00:00Z"},
        {"FeatureName": "tenure_months", "ValueAsString": "10"},
        {"FeatureName": "monthly_charges", "ValueAsString": "70.5"},
        {"FeatureName": "total_charges", "ValueAsString": "1410.0"},
        {"FeatureName": "support_calls", "ValueAsString": "2"},
        {"FeatureName": "contract_type", "ValueAsString": "monthly"},
        {"FeatureName": "payment_method", "ValueAsString": "card"},
        {"FeatureName": "paperless_billing", "ValueAsString": "1"},
        {"FeatureName": "avg_monthly_spend", "ValueAsString": "70.5"},
        {"FeatureName": "support_calls_per_year", "ValueAsString": "1.2"},
    ]
    aws["store"].stubber.assert_no_pending_responses()


def test_reading_back_waits_for_the_offline_store_then_the_last_write_wins(aws, io_module):
    store = aws["store"]
    first = datetime.now(UTC)
    store.expect(2)
    io_module.write_features("customer_profile", _features(["c1", "c2"], "2024-01-01T00:00:00Z", 10))
    # Not in the offline store yet (Feature Store takes up to 15 minutes): the read refuses to guess.
    with pytest.raises(io_module.NotLanded, match=r"churn-dev-customer_profile: records not in the offline store"):
        io_module.read_features("customer_profile")
    store.ingest(first)
    # The same (entity, event time) written again later, with a corrected value; and a new month.
    store.expect(2)
    io_module.write_features("customer_profile", _features(["c1"], "2024-01-01T00:00:00Z", 11))
    io_module.write_features("customer_profile", _features(["c1"], "2024-02-01T00:00:00Z", 12))
    store.ingest(first + timedelta(minutes=1))
    rows = io_module.read_features("customer_profile").sort_values(["customer_id", "event_time"])
    assert rows[["customer_id", "tenure_months"]].values.tolist() == [["c1", 11], ["c1", 12], ["c2", 10]]
    assert list(rows.columns) == ["customer_id", "event_time", *(f["name"] for f in CONTRACT["reads"][0]["features"])]
    assert rows["paperless_billing"].tolist() == [True, True, True]
    assert rows["event_time"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-02-01", "2024-01-01"]
    # Landed receipts are gone: the next read does not wait again.
    assert list(io_module._objects(aws["s3"], f"s3://{BUCKET}/feature-store-receipts", ".json")) == []


def test_a_deletion_written_last_removes_the_record(aws, io_module):
    store = aws["store"]
    store.expect(1)
    io_module.write_features("customer_profile", _features(["c1"], "2024-01-01T00:00:00Z", 10))
    store.ingest(datetime.now(UTC) - timedelta(minutes=1))
    store.expect(1)
    io_module.write_features("customer_profile", _features(["c1"], "2024-01-01T00:00:00Z", 10))
    store.ingest(datetime.now(UTC), deleted=True)
    assert io_module.read_features("customer_profile").empty


def test_the_kit_steps_store_and_read_back_point_in_time_through_feature_store(aws, io_module, tmp_path, monkeypatch):
    """store_features -> (Feature Store ingests) -> training_data, the kit's own code on the AWS I/O:
    a label at 2024-01-15 gets the features written for 2024-01-01, not the later 2024-02-01 ones."""
    monkeypatch.setitem(sys.modules, "mlops_io", io_module)  # what the bundle ships as mlops_io.py
    import mlops_store_features
    import mlops_training_data

    monkeypatch.setattr(mlops_store_features, "mlops_io", io_module)
    monkeypatch.setattr(mlops_training_data, "mlops_io", io_module)
    customers = [f"c{i}" for i in range(40)]
    features = tmp_path / "features"
    features.mkdir()
    early = _features(customers, "2024-01-01T00:00:00Z", 10)
    late = _features(customers, "2024-02-01T00:00:00Z", 99)
    table = pd.concat([early, late]).assign(event_time=lambda f: f["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    table.to_csv(features / "customer_profile.csv", index=False)
    aws["store"].expect(80)
    manifest = mlops_store_features.store(features, tmp_path / "written")
    assert manifest["customer_profile"]["rows"] == 80
    aws["store"].ingest(datetime.now(UTC))

    labels = tmp_path / "labels"
    labels.mkdir()
    pd.DataFrame(
        {"customer_id": customers, "event_time": ["2024-01-15T00:00:00Z"] * 40, "churned": [i % 2 for i in range(40)]}
    ).to_csv(labels / "labels.csv", index=False)
    train, test, dropped = mlops_training_data.build(labels, test_size=0.25, seed=7)
    assert dropped == 0
    assert set(pd.concat([train, test])["tenure_months"]) == {10}
    assert len(train) + len(test) == 40


def _capture_line(at: str, content_type: str, data: str, encoding: str) -> str:
    """One line of SageMaker's data capture file, Input mode ("Capture data from real-time
    endpoint", https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html)."""
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content_type,
                    "mode": "INPUT",
                    "data": data,
                    "encoding": encoding,
                }
            },
            "eventMetadata": {"eventId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "inferenceTime": at},
            "eventVersion": "0",
        }
    )


ROW = {
    "tenure_months": 12,
    "monthly_charges": 70.5,
    "total_charges": 846.0,
    "support_calls": 1,
    "contract_type": "monthly",
    "payment_method": "card",
    "paperless_billing": True,
    "avg_monthly_spend": 70.5,
    "support_calls_per_year": 1.0,
}
CSV_ROW = "12,70.5,846.0,1,monthly,card,true,70.5,1.0"


def test_captured_requests_decode_into_exactly_the_request_columns(aws, io_module):
    lines = [
        _capture_line("2024-05-01T10:05:00Z", "text/csv", CSV_ROW, "CSV"),
        _capture_line("2024-05-01T10:10:00Z", "application/json", json.dumps([ROW, ROW]), "JSON"),
        _capture_line(
            "2024-05-01T10:20:00Z",
            "application/json",
            base64.b64encode(json.dumps({"instances": [ROW]}).encode()).decode(),
            "BASE64",
        ),
        # off the request schema: serving refused it, the drift check leaves it out
        _capture_line("2024-05-01T10:30:00Z", "application/json", json.dumps([{**ROW, "tenure_months": "x"}]), "JSON"),
        # outside the window [10:00, 11:00)
        _capture_line("2024-05-01T11:00:00Z", "text/csv", CSV_ROW, "CSV"),
    ]
    key = "data-capture/churn-dev-endpoint-small/primary/2024/05/01/10/12-34-56-789-0abc.jsonl"
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines[:4]).encode())
    later = "data-capture/churn-dev-endpoint-small/primary/2024/05/01/11/00-00-01-000-0abc.jsonl"
    aws["s3"].put_object(Bucket=BUCKET, Key=later, Body=lines[4].encode())
    # another variant's (a shadow's) capture is not the served model's traffic
    shadow = "data-capture/churn-dev-endpoint-small/shadow/2024/05/01/10/12-34-56-789-0abc.jsonl"
    aws["s3"].put_object(Bucket=BUCKET, Key=shadow, Body=lines[0].encode())

    frame = io_module.read_captured(datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 11, tzinfo=UTC))
    assert list(frame.columns) == REQUEST
    assert len(frame) == 4
    assert frame["tenure_months"].tolist() == [12, 12, 12, 12]
    assert frame["paperless_billing"].tolist() == [True] * 4


def test_an_unreadable_capture_line_is_skipped_and_counted_not_the_end_of_the_check(aws, io_module):
    """Audit 2 finding 7: one line that is not JSON, a BASE64 body that is not UTF-8 text (a client's
    binary body under an undeclared content type), or a line without `inferenceTime` used to abort
    the whole drift check (no metric; only the silent-check alarm, two windows later)."""
    good = _capture_line("2024-05-01T10:05:00Z", "text/csv", CSV_ROW, "CSV")
    no_time = json.loads(good)
    del no_time["eventMetadata"]["inferenceTime"]
    lines = [
        good,
        '{"captureData": {"endpointInput": ',  # cut off mid-line
        _capture_line(
            "2024-05-01T10:06:00Z", "application/octet-stream", base64.b64encode(b"\xff\xfe\x00").decode(), "BASE64"
        ),
        json.dumps(no_time),
        _capture_line("2024-05-01T10:07:00Z", "text/csv", "not base64 at all!", "BASE64"),
        _capture_line("2024-05-01T10:08:00Z", "text/csv", CSV_ROW, "CSV"),
    ]
    key = "data-capture/churn-dev-endpoint-small/primary/2024/05/01/10/12-34-56-789-0abc.jsonl"
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines).encode())
    frame = io_module.read_captured(datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 11, tzinfo=UTC))
    assert len(frame) == 2 and frame["tenure_months"].tolist() == [12, 12]
    io_module.publish_drift({"status": "skipped", "n_current": 2, "features": {}})
    endpoint = [{"Name": "Endpoint", "Value": "churn-dev-endpoint-small"}]
    assert _published(aws["cloudwatch"], "unreadable_requests", endpoint) == [4.0]


def test_records_filed_under_the_next_or_previous_hour_still_count_in_their_window(aws, io_module):
    """Audit 2 finding 8: capture buffers before it writes, and AWS does not say whether the folder's
    hour is the records' or the file's; the window reads its neighbours' folders too, and the
    `inferenceTime` filter keeps their other records out."""
    folder = "data-capture/churn-dev-endpoint-small/primary/2024/05/01"
    files = {
        # written in the next hour, holding the last records of the window
        f"{folder}/11/00-00-30-000-0abc.jsonl": [
            _capture_line("2024-05-01T10:59:58Z", "text/csv", CSV_ROW, "CSV"),
            _capture_line("2024-05-01T11:00:10Z", "text/csv", CSV_ROW, "CSV"),  # the next window's
        ],
        # filed under the hour before, holding the window's first record
        f"{folder}/09/59-59-59-000-0abc.jsonl": [
            _capture_line("2024-05-01T09:59:59Z", "text/csv", CSV_ROW, "CSV"),  # the previous window's
            _capture_line("2024-05-01T10:00:00Z", "text/csv", CSV_ROW, "CSV"),
        ],
        f"{folder}/10/30-00-00-000-0abc.jsonl": [_capture_line("2024-05-01T10:30:00Z", "text/csv", CSV_ROW, "CSV")],
    }
    for key, lines in files.items():
        aws["s3"].put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines).encode())
    frame = io_module.read_captured(datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 11, tzinfo=UTC))
    assert len(frame) == 3


def test_an_empty_window_is_an_empty_frame_of_the_request_columns(aws, io_module):
    frame = io_module.read_captured(datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 11, tzinfo=UTC))
    assert list(frame.columns) == REQUEST and frame.empty


def _published(cloudwatch: Any, name: str, dimensions: list[dict[str, str]]) -> list[float]:
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": dimensions},
                    "Period": 3600,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
    )
    return answer["MetricDataResults"][0]["Values"]


def test_a_judged_window_publishes_a_metric_per_request_column_and_the_heartbeat(aws, io_module):
    result = {
        "status": "ok",
        "n_current": 250,
        "features": {
            name: {"statistic": "ks", "value": 0.1 + i / 100, "drifted": False} for i, name in enumerate(REQUEST)
        },
    }
    assert io_module.publish_drift(result) == f"cloudwatch:{NAMESPACE} (12 metrics)"
    endpoint = [{"Name": "Endpoint", "Value": "churn-dev-endpoint-small"}]
    assert _published(aws["cloudwatch"], "drift_checks", endpoint) == [1.0]
    assert _published(aws["cloudwatch"], "captured_requests", endpoint) == [250.0]
    for i, name in enumerate(REQUEST):
        values = _published(aws["cloudwatch"], "feature_drift", [*endpoint, {"Name": "Feature", "Value": name}])
        assert values == [pytest.approx(0.1 + i / 100)]


def test_a_skipped_window_publishes_the_heartbeat_and_no_verdict(aws, io_module):
    io_module.publish_drift({"status": "skipped", "n_current": 12, "features": {}})
    endpoint = [{"Name": "Endpoint", "Value": "churn-dev-endpoint-small"}]
    assert _published(aws["cloudwatch"], "drift_checks", endpoint) == [1.0]
    assert _published(aws["cloudwatch"], "captured_requests", endpoint) == [12.0]
    assert _published(aws["cloudwatch"], "feature_drift", [*endpoint, {"Name": "Feature", "Value": REQUEST[0]}]) == []


def test_the_io_refuses_another_clouds_configuration(io_module, monkeypatch):
    monkeypatch.setenv("MLOPS_IO", json.dumps({"kind": "local", "root": "/tmp"}))
    with pytest.raises(RuntimeError, match=r"this is the AWS step I/O; \$MLOPS_IO asks for 'local'"):
        io_module.config()


def test_the_step_io_imports_only_what_a_step_image_has():
    """boto3, pandas, pyarrow and the kit's modules: nothing of the kit's own packages."""
    from pathlib import Path

    import providers.aws.step_io as module

    source = Path(module.__file__).read_text()
    imported = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.strip().startswith(("import ", "from ")) and not line.startswith("from __future__")
    }
    assert imported <= {
        "base64",
        "io",
        "json",
        "os",
        "sys",
        "time",
        "uuid",
        "collections",
        "concurrent",
        "datetime",
        "typing",
        "pandas",
        "boto3",
        "botocore",
        "pyarrow",
        "mlops_schema",
        "mlops_serve",
    }


def test_the_configuration_may_be_a_file_the_job_mounts(io_module, tmp_path, monkeypatch):
    path = tmp_path / "mlops_io.json"
    path.write_text(json.dumps({"kind": "aws", "region": "us-east-1", "receipts": "s3://b/r"}))
    monkeypatch.setenv("MLOPS_IO", json.dumps({"kind": "aws", "file": str(path)}))
    assert io_module.config() == {"kind": "aws", "region": "us-east-1", "receipts": "s3://b/r"}


def test_what_aws_ships_into_a_step_image_runs_on_the_oldest_python_of_its_images():
    """The AWS files a step container runs (the step I/O, the drift job's entry) hold to Python 3.9,
    the xgboost 1.7-1 image's (fraud): vermin, the version detector, finds no newer API or syntax.
    The kit's own files (pipelines/kit) are the kit's to hold."""
    import subprocess
    import sys
    from pathlib import Path

    from providers.aws import training_pipeline as tp

    shipped = [tp.STEP_IO, *(p for p in tp.code_files(PIPELINE, private=True).values() if isinstance(p, Path))]
    python_files = [str(p) for p in shipped if p.suffix == ".py"]
    assert sorted(Path(p).name for p in python_files) == ["drift_step.py", "step_io.py"]
    vermin = Path(sys.executable).with_name("vermin")
    done = subprocess.run(
        [str(vermin), "-t=3.9-", "--violations", "--no-tips", *python_files], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout


def test_a_capture_stream_the_check_cannot_read_at_all_is_published_as_unreadable_not_as_no_traffic(aws, io_module):
    """Audit 3 finding 4: every line a BASE64 body that is not UTF-8 text; the check publishes all of
    them as unreadable (which the unreadable-capture alarm reads), and none as captured."""
    lines = [
        _capture_line(
            f"2024-05-01T10:{m:02d}:00Z",
            "application/octet-stream",
            base64.b64encode(b"\x1f\x8b\x08\xff").decode(),
            "BASE64",
        )
        for m in range(7)
    ]
    key = "data-capture/churn-dev-endpoint-small/primary/2024/05/01/10/12-34-56-789-0abc.jsonl"
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines).encode())
    frame = io_module.read_captured(datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 11, tzinfo=UTC))
    assert len(frame) == 0
    data = io_module.metric_data(
        {"status": "skipped", "n_current": 0, "features": {}},
        "churn-dev-endpoint-small",
        datetime(2024, 5, 1, 11, tzinfo=UTC),
    )
    values = {d["MetricName"]: d["Value"] for d in data}
    assert (values["unreadable_requests"], values["captured_requests"], values["drift_checks"]) == (7.0, 0.0, 1.0)


def test_one_byte_that_is_not_utf8_costs_one_line_not_the_check(aws, io_module):
    """Audit 3 finding 5: the file was decoded whole, outside the per-line `try`."""
    good = _capture_line("2024-05-01T10:05:00Z", "text/csv", CSV_ROW, "CSV").encode()
    body = b"\n".join([good, b'{"captureData": "\xff\xfe"}', good])
    key = "data-capture/churn-dev-endpoint-small/primary/2024/05/01/10/12-34-56-789-0abc.jsonl"
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=body)
    frame = io_module.read_captured(datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 11, tzinfo=UTC))
    assert len(frame) == 2
    assert io_module._unreadable[0] == 1


def test_an_unreadable_line_of_a_neighbouring_window_is_not_counted_here(aws, io_module):
    """Audit 3 finding 5: the window also reads the hour before and the hour its end falls in; their
    lines belong to the neighbouring windows, which count them."""
    folder = "data-capture/churn-dev-endpoint-small/primary/2024/05/01"
    bad_outside = _capture_line("2024-05-01T09:30:00Z", "text/csv", "not base64!", "BASE64")
    aws["s3"].put_object(Bucket=BUCKET, Key=f"{folder}/09/a.jsonl", Body=f"{bad_outside}\nnot json".encode())
    aws["s3"].put_object(Bucket=BUCKET, Key=f"{folder}/11/b.jsonl", Body=b"not json either")
    aws["s3"].put_object(Bucket=BUCKET, Key=f"{folder}/10/c.jsonl", Body=b"not json, and in this window's own hour")
    io_module.read_captured(datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 11, tzinfo=UTC))
    assert io_module._unreadable[0] == 1


def test_an_error_of_the_kits_own_decoding_code_fails_the_check_loudly(aws, io_module, monkeypatch):
    """Audit 3 finding 4: only the errors of unreadable input are skipped; a TypeError from the kit's
    code is a bug, never a quietly empty window."""
    import mlops_serve

    def broken(*args, **kwargs):
        raise TypeError("a bug in the kit's decoder")

    monkeypatch.setattr(mlops_serve, "decode", broken)
    key = "data-capture/churn-dev-endpoint-small/primary/2024/05/01/10/12-34-56-789-0abc.jsonl"
    line = _capture_line("2024-05-01T10:05:00Z", "text/csv", CSV_ROW, "CSV")
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=line.encode())
    with pytest.raises(TypeError, match="a bug"):
        io_module.read_captured(datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 11, tzinfo=UTC))
