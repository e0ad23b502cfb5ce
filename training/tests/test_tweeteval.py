"""TweetEval read from its own layout (a small copy written by conftest), and kept out of training
wherever it is held out."""

import pytest

from moodwing_training import corpus as corpus_module
from moodwing_training import data, tweeteval
from moodwing_training.normalize import normalize


def test_sentiment_validation_keeps_negative_and_positive(tweeteval_dir) -> None:
    tweets = tweeteval.sentiment_validation(tweeteval_dir)
    assert len(tweets) == 80  # the neutral line is left out
    assert sum(t.label for t in tweets) == 40
    assert {t.source for t in tweets} == {"tweeteval-sentiment"}


def test_emotion_is_read_as_sentiment(tmp_path, write_tweeteval_task) -> None:
    write_tweeteval_task(
        tmp_path, "emotion", "train", [("so angry", 0), ("pure joy", 1), ("it will work", 2), ("so sad", 3)]
    )
    assert [(t.text, t.label) for t in tweeteval.emotion(tmp_path, "train")] == [
        ("so angry", 0),
        ("pure joy", 1),
        ("it will work", 1),
        ("so sad", 0),
    ]
    write_tweeteval_task(tmp_path, "emotion", "val", [("what", 7)])
    with pytest.raises(data.DataError, match=r"unknown emotion labels \[7\]"):
        tweeteval.emotion(tmp_path, "val")


def test_a_label_file_of_another_length_is_an_error(tmp_path, write_tweeteval_task) -> None:
    write_tweeteval_task(tmp_path, "emotion", "train", [("one", 0), ("two", 1)])
    (tmp_path / "emotion" / "train_labels.txt").write_text("0\n")
    with pytest.raises(data.DataError, match="1 labels for 2 tweets"):
        tweeteval.emotion(tmp_path, "train")
    with pytest.raises(data.DataError, match="no such file"):
        tweeteval.sentiment_validation(tmp_path)


def test_held_out_tweets_never_reach_training(tweeteval_dir) -> None:
    loaded = corpus_module.load_corpus(tweeteval_dir=tweeteval_dir)
    held_out = {normalize(t.text) for t in loaded.parts["test"]}
    held_out |= {normalize(t.text) for tweets in loaded.evaluation.values() for t in tweets}
    # conftest's sentiment/val is made of CrowdFlower tweets: they must have left train and validation.
    external = {normalize(t.text) for t in loaded.evaluation[corpus_module.EXTERNAL]}
    assert len(external) == 80
    for name in ("train", "validation"):
        assert not {normalize(t.text) for t in loaded.parts[name]} & held_out, name
    assert not {normalize(t) for t in loaded.unlabelled} & held_out
    # TweetEval joined our splits, and its unlabelled text is there once.
    assert {t.source for t in loaded.parts["train"]} == {"crowdflower", "tweeteval-emotion"}
    assert len({normalize(t) for t in loaded.unlabelled}) == len(loaded.unlabelled)


def test_manifest_counts_every_set_and_file_without_text(tweeteval_dir) -> None:
    loaded = corpus_module.load_corpus(tweeteval_dir=tweeteval_dir)
    manifest = loaded.manifest
    assert set(manifest["evaluation"]) == {corpus_module.EXTERNAL, corpus_module.EMOTION_TEST}
    assert manifest["evaluation"][corpus_module.EXTERNAL]["count"] == 80
    files = manifest["sources"][1]["files"]
    assert files["sentiment/val_text.txt"]["lines"] == 81
    assert all(len(f["sha256"]) == 64 for f in files.values())
    assert "a neutral line" not in str(manifest)
