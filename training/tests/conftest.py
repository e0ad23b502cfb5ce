from pathlib import Path

import pytest

from moodwing_training import data, train, tweeteval


@pytest.fixture(scope="session")
def corpus() -> list[data.Tweet]:
    return data.load_crowdflower_corpus()


def write_task(folder: Path, task: str, split: str, rows: list[tuple[str, int | None]]) -> None:
    """One split of a task in TweetEval's layout: `<split>_text.txt`, and `<split>_labels.txt` when labelled."""
    (folder / task).mkdir(parents=True, exist_ok=True)
    (folder / task / f"{split}_text.txt").write_text("".join(f"{text}\n" for text, _ in rows), encoding="utf-8")
    if rows and rows[0][1] is not None:
        (folder / task / f"{split}_labels.txt").write_text("".join(f"{label}\n" for _, label in rows))


@pytest.fixture(scope="session")
def write_tweeteval_task():
    return write_task


@pytest.fixture(scope="session")
def tweeteval_dir(tmp_path_factory, corpus) -> Path:
    """A small folder in TweetEval's format, written from CrowdFlower tweets (TweetEval's own tweets
    stay in ../shared and never enter the repository)."""
    folder = tmp_path_factory.mktemp("tweeteval")
    negatives = [t.text.replace("\n", " ") for t in corpus if t.label == 0][:600]
    positives = [t.text.replace("\n", " ") for t in corpus if t.label == 1][:600]
    sentiment = [(t, 0) for t in negatives[:40]] + [(t, 2) for t in positives[:40]] + [("a neutral line", 1)]
    write_task(folder, "sentiment", "val", sentiment)
    for split, (start, stop) in {"train": (40, 240), "val": (240, 300), "test": (300, 360)}.items():
        # anger (0) and sadness (3) are negative, joy (1) and optimism (2) positive
        rows = [(t, 0 if i % 2 else 3) for i, t in enumerate(negatives[start:stop])]
        rows += [(t, 1 if i % 2 else 2) for i, t in enumerate(positives[start:stop])]
        write_task(folder, "emotion", split, rows)
    for task in tweeteval.UNLABELLED_TASKS:
        for split in tweeteval.SPLITS:
            write_task(folder, task, split, [(t, 0) for t in negatives[360:380] + positives[360:380]])
    return folder


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory):
    """A throw-away MLflow store for the whole session; the real one is never touched."""
    root = tmp_path_factory.mktemp("mlflow")
    patch = pytest.MonkeyPatch()
    patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    patch.setenv("MOODWING_ARTIFACT_ROOT", (root / "artifacts").as_uri())
    yield root
    patch.undo()


@pytest.fixture(scope="session")
def bert_run(mlflow_store, tweeteval_dir) -> dict[str, float]:
    return train.run("bert", train.Options(tweeteval=tweeteval_dir, sample=200))


@pytest.fixture(scope="session")
def lstm_run(bert_run, tweeteval_dir) -> dict[str, float]:
    """The student, distilled from the sample teacher above."""
    return train.run("lstm", train.Options(tweeteval=tweeteval_dir, sample=400))
