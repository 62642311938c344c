"""Quality gate + model registration, run as the Azure ML pipeline's last job (see providers/azure)."""

import argparse
import json
import os
import sys
from pathlib import Path


def gate(metrics_dir, metric, threshold, metrics_file="evaluation.json"):
    metrics = json.loads((Path(metrics_dir) / metrics_file).read_text())["metrics"]
    return float(metrics[metric]) >= float(threshold), metrics


def next_version(ml_client, name):
    versions = [int(m.version) for m in ml_client.models.list(name=name) if str(m.version).isdigit()]
    return str(max(versions, default=0) + 1)


def register(ml_client, name, model_uri, metrics, approval, run_id=""):
    from azure.ai.ml.entities import Model

    tags = {"approval": "approved" if approval == "auto" else "pending"}
    tags.update({k: f"{v:.4f}" for k, v in metrics.items()})
    if run_id:
        tags["run"] = run_id
    model = Model(
        name=name,
        version=next_version(ml_client, name),
        path=model_uri,
        type="custom_model",
        tags=tags,
        description="registered by the quality gate",
    )
    return ml_client.models.create_or_update(model)


def main(argv=None):
    ap = argparse.ArgumentParser()
    for arg in ("--metrics", "--model", "--metric", "--model_name", "--approval"):
        ap.add_argument(arg, required=True)
    ap.add_argument("--threshold", type=float, required=True)
    args = ap.parse_args(argv)
    passed, metrics = gate(args.metrics, args.metric, args.threshold)
    print(f"quality gate {args.metric} {metrics[args.metric]:.4f} >= {args.threshold}: {passed}")
    if not passed:
        print("quality gate failed: model not registered", file=sys.stderr)
        return 1
    from azure.ai.ml import MLClient
    from azure.identity import ManagedIdentityCredential

    client = MLClient(
        ManagedIdentityCredential(client_id=os.environ.get("DEFAULT_IDENTITY_CLIENT_ID")),
        os.environ["AZUREML_ARM_SUBSCRIPTION"],
        os.environ["AZUREML_ARM_RESOURCEGROUP"],
        os.environ["AZUREML_ARM_WORKSPACE_NAME"],
    )
    model = register(client, args.model_name, args.model, metrics, args.approval, os.environ.get("AZUREML_RUN_ID", ""))
    print(f"registered {model.name}:{model.version} tags={model.tags}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
