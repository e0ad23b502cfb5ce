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
    plots = {"confusion_matrix", "roc_curve", "reliability"}
    assert artifacts == {f"plots/{p}.png" for p in plots} | {f"plots/{p}_tweeteval_sentiment.png" for p in plots}
    # Every reported set is scored, at a threshold chosen on validation.
    for prefix in ("val", "test", "tweeteval_emotion_test", "tweeteval_sentiment"):
        for metric in ("accuracy", "roc_auc", "ece"):
            assert f"{prefix}_{metric}" in run.data.metrics
    assert 0.0 < run.data.metrics["threshold"] < 1.0
    assert float(run.data.params["temperature"]) > 0
    assert "model_card.md" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_tfidf(mlflow_store, tweeteval_dir) -> None:
    scores = train.run("tfidf", train.Options(tweeteval=tweeteval_dir, sample=SAMPLE))
    assert scores["val_roc_auc"] > 0.75  # chance is 0.5
    assert_tracked("tfidf", scores)


def test_lstm_is_distilled_from_the_teacher(lstm_run, bert_run) -> None:
    assert lstm_run["val_roc_auc"] > 0.6
    assert_tracked("lstm", lstm_run)
    client = MlflowClient()
    student = client.get_run(client.get_model_version_by_alias("moodwing-lstm", "champion").run_id)
    teacher = client.get_model_version_by_alias("moodwing-bert", "champion")
    assert [m.step for m in client.get_metric_history(student.info.run_id, "epoch_val_roc_auc")] == [1, 2]
    assert student.data.params["distill.teacher_run_id"] == teacher.run_id
    # The teacher's probabilities are cached on the teacher's run, under the name the student logged.
    cached = {a.path for a in client.list_artifacts(teacher.run_id, "soft_labels")}
    assert student.data.params["distill.soft_labels_artifact"] in cached
    assert int(student.data.params["distill.unlabelled"]) > 0


def test_second_student_reuses_the_cached_teacher_probabilities(lstm_run, tweeteval_dir, capsys) -> None:
    train.run("lstm", train.Options(tweeteval=tweeteval_dir, sample=400, embeddings="learned"))
    assert "teacher probabilities: cached in run" in capsys.readouterr().out


def test_bert(bert_run) -> None:
    assert bert_run["val_roc_auc"] > 0.6
    assert_tracked("bert", bert_run)


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
