"""The improvement loop end to end on real tweets, in its own throw-away MLflow store: a champion
that is systematically wrong on one kind of tweet is replaced; noise does not replace it.

The feedback files are written here from CrowdFlower tweets (the corpus package), in the cloud-api's
export format; nothing of them is committed.
"""

import json
import random
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient

from moodwing_training import data, improve, tracking, train

SAMPLE = 3000
OPTIONS = train.Options(tweeteval=None, sample=SAMPLE, teacher=None)
# Each feedback tweet counts twice here: on 3,000 training tweets, the default 10 would make the
# corrections a third of the data (the loop's own guard caught that: 1.9 points lost on test).
WEIGHT = 2
NAME = tracking.registered_name("tfidf")


@pytest.fixture(scope="module")
def champion(tmp_path_factory) -> str:
    """A tfidf champion in a store of its own; its version."""
    root = tmp_path_factory.mktemp("improve-mlflow")
    patch = pytest.MonkeyPatch()
    patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    patch.setenv("MOODWING_ARTIFACT_ROOT", (root / "artifacts").as_uri())
    train.run("tfidf", OPTIONS)
    yield MlflowClient().get_model_version_by_alias(NAME, tracking.CHAMPION).version
    patch.undo()


@pytest.fixture(scope="module")
def training_tweets(corpus) -> list[data.Tweet]:
    """Corpus tweets of the training split: never in a set the loop must leave untouched."""
    return [t for t in corpus if data.split_of(t, data.SplitConfig()) == "train"]


def exported(text: str, predicted: str, verdict: str, row: int, corrected: str | None = None) -> str:
    feedback = {
        "id": str(uuid.UUID(int=row)),
        "verdict": verdict,
        "text": text,
        "predicted_label": predicted,
        "score": 0.9 if predicted == "positive" else 0.1,
        "model": {"name": NAME, "version": "1"},
    }
    if corrected:
        feedback["corrected_label"] = corrected
    return json.dumps({"row": row, "received_at_ms": 1_795_672_800_000 + row, "feedback": feedback})


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_systematic_error_is_fixed_and_the_challenger_promoted(champion, training_tweets, tmp_path) -> None:
    # People complain with sarcastic praise tagged #stillwaiting; the champion reads it as praise.
    rng = random.Random(3)
    praise = rng.sample([t for t in training_tweets if t.label == 1], 160)
    lines = [
        exported(f"{t.text} #stillwaiting", "positive", "rejection", row, "negative")
        for row, t in enumerate(praise, start=1)
    ]
    ordinary = rng.sample(training_tweets, 60)
    lines += [exported(t.text, data.LABELS[t.label], "validation", 1000 + i) for i, t in enumerate(ordinary)]
    # A retry exported twice and a tweet labelled both ways are dropped from the slice.
    first = ordinary[0]
    lines += [
        lines[0].replace('"row": 1,', '"row": 5000,'),
        exported(first.text, data.LABELS[first.label], "rejection", 5001),  # someone else disagrees
    ]

    outcome = improve.improve("tfidf", write(tmp_path / "export.ndjson", lines), OPTIONS, weight=WEIGHT)

    held_out = outcome.comparisons[improve.FEEDBACK_SET]
    assert held_out.count > 40
    champion_errors = held_out.count - round(held_out.champion_accuracy * held_out.count)
    assert champion_errors > 0.5 * held_out.count, "the champion is systematically wrong on them"
    assert held_out.challenger_only >= 0.7 * champion_errors, "the challenger fixes most of them"
    assert outcome.decision.promote, outcome.decision.reasons
    client = MlflowClient()
    assert str(client.get_model_version_by_alias(NAME, tracking.CHAMPION).version) == outcome.challenger_version
    assert str(client.get_model_version_by_alias(NAME, improve.CHALLENGER).version) == outcome.challenger_version

    run = client.get_run(outcome.run_id)
    assert run.data.tags["decision"] == "promoted"
    assert run.data.tags["feedback_slice"] == outcome.slice_version
    artifacts = {a.path for a in client.list_artifacts(outcome.run_id)}
    assert {"comparison.md", "comparison.json", "comparison.png"} <= artifacts
    manifest = client.download_artifacts(outcome.run_id, f"feedback_slice/{outcome.slice_version}/manifest.json")
    manifest = json.loads(Path(manifest).read_text())
    assert (manifest["records"], manifest["repeated_tweets"], manifest["labelled_both_ways"]) == (222, 2, 1)
    assert manifest["train"]["count"] + manifest["held_out"]["count"] == 219
    # The challenger's training run is nested in the loop's run and knows how much feedback it saw.
    child = client.get_run(run.data.tags["challenger_run_id"])
    assert child.data.tags["mlflow.parentRunId"] == outcome.run_id
    assert int(child.data.params["data.feedback.count"]) == manifest["train"]["count"]


def test_noise_is_not_promoted(champion, training_tweets, tmp_path) -> None:
    before = MlflowClient().get_model_version_by_alias(NAME, tracking.CHAMPION).version
    rng = random.Random(5)
    lines = []
    for row, tweet in enumerate(rng.sample(training_tweets, 220), start=1):
        said = rng.choice(data.LABELS)  # people clicking at random
        lines.append(exported(tweet.text, "positive" if said == "negative" else "negative", "rejection", row, said))

    outcome = improve.improve("tfidf", write(tmp_path / "noise.ndjson", lines), OPTIONS, weight=WEIGHT)

    assert not outcome.decision.promote, outcome.decision.reasons
    assert MlflowClient().get_model_version_by_alias(NAME, tracking.CHAMPION).version == before
    assert MlflowClient().get_run(outcome.run_id).data.tags["decision"] == "kept champion"


def test_a_bad_export_line_is_named(tmp_path) -> None:
    path = write(tmp_path / "bad.ndjson", [exported("fine", "positive", "validation", 1), '{"row": 2}'])
    with pytest.raises(data.DataError, match=r"bad\.ndjson:2"):
        improve.read_feedback(path)


def test_the_rule_needs_a_significant_gain_and_no_loss_beyond_noise() -> None:
    def comparison(b: int, c: int, n: int = 100, accuracy: float = 0.8) -> improve.Comparison:
        return improve.Comparison(n, accuracy, accuracy + (b - c) / n, b, c)

    gain = {improve.FEEDBACK_SET: comparison(12, 2), "test": comparison(3, 3, 1000)}
    assert improve.decide(gain).promote
    assert not improve.decide({**gain, improve.FEEDBACK_SET: comparison(6, 2)}).promote, "4 of 8: chance"
    assert not improve.decide({**gain, "test": comparison(5, 40, 1000)}).promote, "3.5 points lost on test"
