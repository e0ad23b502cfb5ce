"""MLflow conventions: where runs go, how models are named, and which version is `champion`."""

import os
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from tokenizers import Tokenizer

from . import tfidf
from .onnx_export import OnnxClassifier

EXPERIMENT = "moodwing-sentiment"
CHAMPION = "champion"
SELECTION_METRIC = "val_roc_auc"
TRAINING_DIR = Path(__file__).resolve().parent.parent


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set (the team's tracking server), else a SQLite store beside the
    training package."""
    return os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{TRAINING_DIR / 'mlflow.db'}")


def configure() -> str:
    """Point MLflow at the store and the experiment; returns the experiment id."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network beyond the registries
    mlflow.set_tracking_uri(tracking_uri())
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        mlflow.set_experiment(EXPERIMENT)
        return experiment.experiment_id
    artifacts = os.environ.get("MOODWING_ARTIFACT_ROOT")
    if artifacts is None and not tracking_uri().startswith(("http://", "https://")):
        artifacts = (TRAINING_DIR / "mlartifacts").as_uri()
    # A tracking server keeps the artifacts where it was told to (proxied: mlflow-artifacts:/).
    experiment_id = mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts)
    mlflow.set_experiment(EXPERIMENT)
    return experiment_id


def registered_name(approach: str) -> str:
    return f"moodwing-{approach}"


def promote_if_best(name: str, version: ModelVersion) -> bool:
    """Give `version` the `champion` alias if its validation ROC-AUC beats the current champion's."""
    client = MlflowClient()
    score = _selection_score(client, version)
    current = (aliases_of(name) or {}).get(CHAMPION)
    if current is not None and _selection_score(client, client.get_model_version(name, current)) >= score:
        return False
    client.set_registered_model_alias(name, CHAMPION, version.version)
    return True


def _selection_score(client: MlflowClient, version: ModelVersion) -> float:
    return client.get_run(version.run_id).data.metrics[SELECTION_METRIC]


class RegistryError(RuntimeError):
    """The registry cannot give what was asked, or what it gives does not check out."""


def aliases_of(name: str) -> dict[str, str] | None:
    """A registered model's aliases (alias -> version), or None when the registry has no such model."""
    try:
        return dict(MlflowClient().get_registered_model(name).aliases)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return None


def resolve(name: str, alias: str | None = CHAMPION, version: str | None = None) -> ModelVersion:
    """A registered version, by number or else by alias (`champion` by default)."""
    aliases = aliases_of(name)
    if aliases is None:
        raise RegistryError(f"the registry has no model {name}")
    if version is None:
        alias = alias or CHAMPION
        if alias not in aliases:
            raise RegistryError(f"the registry has no {name} alias @{alias}")
        version = aliases[alias]
    try:
        return MlflowClient().get_model_version(name, version)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise RegistryError(f"the registry has no {name} version {version}") from None


def load_registered(name: str, version: str, workdir: Path) -> tuple[Callable[[list[str]], np.ndarray], float]:
    """A registered version as it was registered (sklearn pipeline or fp32 ONNX graph + tokenizer):
    its P(positive) function and the decision threshold its run chose on validation."""
    model_version = MlflowClient().get_model_version(name, version)
    threshold = float(mlflow.get_run(model_version.run_id).data.metrics["threshold"])
    uri = f"models:/{name}/{version}"
    if name == registered_name("tfidf"):
        pipeline = mlflow.sklearn.load_model(uri)
        return (lambda texts: tfidf.predict(pipeline, texts)), threshold
    target = workdir / f"{name}-{version}"
    model_dir = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(target)))
    tokenizer_path = mlflow.artifacts.download_artifacts(
        run_id=model_version.run_id, artifact_path="tokenizer/tokenizer.json", dst_path=str(target)
    )
    classifier = OnnxClassifier(model_dir / "model.onnx", Tokenizer.from_file(tokenizer_path))
    return classifier.predict, threshold
