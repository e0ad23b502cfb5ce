import csv
from pathlib import Path

import pytest

from moodwing_training import data, tweeteval
from moodwing_training.corpus import load_corpus, set_summary


def write_sentiment140(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="latin-1", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(rows)
    return path


def sentiment140_rows(tweets: list[data.Tweet]) -> list[list[str]]:
    return [
        ["4" if t.label else "0", str(1467810369 + i), "Mon Apr 06 22:19:45 PDT 2009", "NO_QUERY", "someone", t.text]
        for i, t in enumerate(tweets)
    ]


def test_crowdflower_corpus_is_real_and_binary(corpus) -> None:
    assert len(corpus) > 20_000
    assert {t.label for t in corpus} == {0, 1}
    assert sum(t.label for t in corpus) / len(corpus) == pytest.approx(0.30, abs=0.05)
    assert sum("@united" in t.text.lower() for t in corpus) > 1000  # the airline tweets are in


def test_sentiment140_format_round_trip(tmp_path, corpus) -> None:
    sample = corpus[:50]
    path = write_sentiment140(
        tmp_path / "s140.csv", [*sentiment140_rows(sample), ["2", "1", "d", "NO_QUERY", "u", "neutral is skipped"]]
    )
    loaded = data.load_sentiment140(path)
    assert [(t.text, t.label) for t in loaded] == [(t.text, t.label) for t in sample]
    assert {t.source for t in loaded} == {"sentiment140"}


def test_sentiment140_reads_latin1(tmp_path) -> None:
    path = write_sentiment140(tmp_path / "s140.csv", [["0", "1", "d", "NO_QUERY", "u", "caf\xe9 was closed"]])
    assert data.load_sentiment140(path)[0].text == "café was closed"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["1", "1", "d", "NO_QUERY", "u", "bad target"], "target must be 0, 2 or 4"),
        (["0", "1", "d", "u", "too few columns"], "expected 6 columns, got 5"),
    ],
)
def test_sentiment140_bad_rows_name_the_line(tmp_path, corpus, row, message) -> None:
    path = write_sentiment140(tmp_path / "s140.csv", [*sentiment140_rows(corpus[:3]), row])
    with pytest.raises(data.DataError, match=rf"s140.csv:4: {message}"):
        data.load_sentiment140(path)


def test_crowdflower_bad_sentiment_is_an_error(tmp_path) -> None:
    path = tmp_path / "corpus.csv"
    path.write_text("sentiment,confidence,text\npositive,1,fine\nangry,1,what\n", encoding="latin-1")
    with pytest.raises(data.DataError, match=r"corpus.csv:3: unknown sentiment 'angry'"):
        data.load_crowdflower_corpus(path)


def test_missing_file_is_an_error(tmp_path) -> None:
    with pytest.raises(data.DataError, match="no such file"):
        data.load_sentiment140(tmp_path / "absent.csv")


def test_deduplicate_merges_normalised_twins_and_drops_conflicts() -> None:
    tweets = [
        data.Tweet("@united sooo late", 0, "t"),
        data.Tweet("@delta soooooo late", 0, "t"),  # same once normalised
        data.Tweet("love it", 1, "t"),
        data.Tweet("love it", 0, "t"),  # labelled both ways
    ]
    assert [t.text for t in data.deduplicate(tweets)] == ["@united sooo late"]


def test_split_is_fixed_disjoint_and_sized(corpus) -> None:
    tweets = data.deduplicate(corpus)
    parts = data.split(tweets)
    assert sum(len(p) for p in parts.values()) == len(tweets)
    for name, share in (("validation", 0.10), ("test", 0.10), ("train", 0.80)):
        assert len(parts[name]) / len(tweets) == pytest.approx(share, abs=0.01)
    texts = {name: {t.text for t in p} for name, p in parts.items()}
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["validation"]
    # The split does not depend on order.
    again = data.split(list(reversed(tweets)))
    assert {n: set_summary(p) for n, p in again.items()} == {n: set_summary(p) for n, p in parts.items()}


def test_committed_bundles_were_trained_on_this_data() -> None:
    """The manifest the committed bundles were trained on still describes this machine's data."""
    import json

    if tweeteval.default_dir() is None:
        pytest.skip(f"no TweetEval folder at {tweeteval.DEFAULT_DIR}")
    corpus = load_corpus(tweeteval_dir=tweeteval.default_dir())
    for name in ("lstm", "bert"):
        card = json.loads(
            (Path(__file__).resolve().parents[2] / "edge-model" / "models" / name / "model.json").read_text()
        )
        for key in ("splits", "evaluation", "unlabelled", "sources"):
            assert corpus.manifest[key] == card["data"][key], (name, key)


def test_crowdflower_neutral_tweets_are_the_rest(corpus) -> None:
    neutral = data.load_crowdflower_neutral()
    assert len(neutral) > 10_000
    assert not set(neutral) & {t.text for t in corpus[:5000]}
