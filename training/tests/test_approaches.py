"""Each approach trained end to end on a small real sample, into a throw-away MLflow store."""

import mlflow
import pytest
from mlflow import MlflowClient

from moodwing_training import tracking, train

SAMPLE = 400


def assert_tracked(approach: str, scores: dict[str, float]) -> None:
    client = MlflowClient()
    champion = client.get_model_version_by_alias(tracking.registered_name(approach), tracking.CHAMPION)
    run = client.get_run(champion.run_id)
    assert run.data.tags["approach"] == approach
    assert run.data.metrics["test_roc_auc"] == pytest.approx(scores["test_roc_auc"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {"plots/confusion_matrix.png", "plots/roc_curve.png"}
    assert "model_card.md" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_tfidf(mlflow_store) -> None:
    scores = train.run("tfidf", sample=SAMPLE)
    assert scores["val_roc_auc"] > 0.75  # chance is 0.5
    assert_tracked("tfidf", scores)


def test_lstm(lstm_run) -> None:
    assert lstm_run["val_roc_auc"] > 0.6
    assert_tracked("lstm", lstm_run)
    history = MlflowClient().get_metric_history(
        MlflowClient().get_model_version_by_alias("moodwing-lstm", "champion").run_id, "epoch_val_roc_auc"
    )
    assert [m.step for m in history] == [1, 2]  # one point per epoch


def test_bert(mlflow_store) -> None:
    scores = train.run("bert", sample=200)
    assert scores["val_roc_auc"] > 0.6
    assert_tracked("bert", scores)


def test_champion_moves_only_to_a_better_version(lstm_run) -> None:
    client = MlflowClient()
    name = tracking.registered_name("lstm")
    champion = client.get_model_version_by_alias(name, tracking.CHAMPION)
    # A second version whose run scored worse must not take the alias.
    with mlflow.start_run() as worse:
        mlflow.log_metric("val_roc_auc", 0.5)
    version = client.create_model_version(name, champion.source, run_id=worse.info.run_id)
    assert not tracking.promote_if_best(name, version)
    assert client.get_model_version_by_alias(name, tracking.CHAMPION).version == champion.version
