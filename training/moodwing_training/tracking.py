"""MLflow conventions: where runs go, how models are named, and which version is `champion`."""

import os
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

EXPERIMENT = "moodwing-sentiment"
CHAMPION = "champion"
SELECTION_METRIC = "val_roc_auc"
TRAINING_DIR = Path(__file__).resolve().parent.parent


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set, else a SQLite store beside the training package."""
    return os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{TRAINING_DIR / 'mlflow.db'}")


def configure() -> str:
    """Point MLflow at the store and the experiment; returns the experiment id."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network beyond the registries
    mlflow.set_tracking_uri(tracking_uri())
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        mlflow.set_experiment(EXPERIMENT)
        return experiment.experiment_id
    artifacts = os.environ.get("MOODWING_ARTIFACT_ROOT", (TRAINING_DIR / "mlartifacts").as_uri())
    experiment_id = mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts)
    mlflow.set_experiment(EXPERIMENT)
    return experiment_id


def registered_name(approach: str) -> str:
    return f"moodwing-{approach}"


def promote_if_best(name: str, version: ModelVersion) -> bool:
    """Give `version` the `champion` alias if its validation ROC-AUC beats the current champion's."""
    client = MlflowClient()
    score = _selection_score(client, version)
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        current = None
    if current is not None and _selection_score(client, current) >= score:
        return False
    client.set_registered_model_alias(name, CHAMPION, version.version)
    return True


def _selection_score(client: MlflowClient, version: ModelVersion) -> float:
    return client.get_run(version.run_id).data.metrics[SELECTION_METRIC]


def resolve(name: str, alias: str | None = CHAMPION, version: str | None = None) -> ModelVersion:
    client = MlflowClient()
    if version is not None:
        return client.get_model_version(name, version)
    return client.get_model_version_by_alias(name, alias or CHAMPION)
