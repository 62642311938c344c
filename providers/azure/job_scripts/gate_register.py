"""Quality gate + model registration, run as the Azure ML pipeline's last job (see providers/azure).

The version number is the server's: azure-ai-ml takes it from the model container's `nextVersion`
when `Model.version` is None (`_utils/_asset_utils.py _get_next_version_from_container`), and Azure ML
refuses to change an existing version's files ("Asset paths cannot be updated",
`_artifacts/_constants.py ASSET_PATH_ERROR`). Two runs registering at once therefore cannot share a
number: the one that lost is refused, reads `nextVersion` again and registers the next one. No
client-side `max + 1`.

The registered version is tagged with its approval, its metrics, the run, what started the run
(`trigger`: the pipeline job's own tag, `drift` when the retraining workflow started it) and where its
drift baseline is: `baselines/<model>/<version>/` on the data account (`mlops_io.write_baseline`), the
reference both drift engines read for the version that is served.
"""

import argparse
import json
import os
import sys
from pathlib import Path

REGISTER_ATTEMPTS = 5
CONFLICT = "asset paths cannot be updated"


def gate(metrics_dir, metric, threshold, metrics_file="evaluation.json"):
    metrics = json.loads((Path(metrics_dir) / metrics_file).read_text())["metrics"]
    return float(metrics[metric]) >= float(threshold), metrics


def _lost_the_race(error):
    from azure.ai.ml.exceptions import AssetPathException
    from azure.core.exceptions import HttpResponseError, ResourceExistsError

    if isinstance(error, (AssetPathException, ResourceExistsError)):
        return True
    return isinstance(error, HttpResponseError) and (
        error.status_code == 409 or CONFLICT in str(error.message or error).lower()
    )


def register(ml_client, name, model_uri, metrics, approval, run_id="", trigger=""):
    from azure.ai.ml.entities import Model

    tags = {"approval": "approved" if approval == "auto" else "pending"}
    tags.update({k: f"{v:.4f}" for k, v in metrics.items()})
    if run_id:
        tags["run"] = run_id
    if trigger:
        tags["trigger"] = trigger
    for attempt in range(1, REGISTER_ATTEMPTS + 1):
        model = Model(
            name=name,
            version=None,  # the server's nextVersion
            path=model_uri,
            type="custom_model",
            tags=dict(tags),
            description="registered by the quality gate",
        )
        try:
            return ml_client.models.create_or_update(model)
        except Exception as error:  # noqa: BLE001 - only a lost race is retried
            if not _lost_the_race(error) or attempt == REGISTER_ATTEMPTS:
                raise
            print(f"version taken by a concurrent registration ({error}); asking for the next one")
    raise AssertionError("unreachable")


def run_trigger(ml_client, run_id):
    """What started the pipeline run: its `trigger` tag (`drift` from the retraining workflow,
    `manual` from `mlops run`), or nothing."""
    return str(dict(ml_client.jobs.get(run_id).tags or {}).get("trigger", "")) if run_id else ""


def main(argv=None):
    ap = argparse.ArgumentParser()
    for arg in ("--metrics", "--model", "--metric", "--model_name", "--approval"):
        ap.add_argument(arg, required=True)
    ap.add_argument("--threshold", type=float, required=True)
    ap.add_argument("--baseline", help="training_data's baseline/ (mounted)")
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
    root = os.environ.get("AZUREML_ROOT_RUN_ID") or os.environ.get("AZUREML_RUN_ID", "")
    model = register(
        client, args.model_name, args.model, metrics, args.approval, root, run_trigger(client, root) if root else ""
    )
    print(f"registered {model.name}:{model.version} tags={model.tags}")
    if args.baseline:
        import mlops_io

        where = mlops_io.write_baseline(Path(args.baseline), model.name, model.version)
        print(f"drift baseline of version {model.version}: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
