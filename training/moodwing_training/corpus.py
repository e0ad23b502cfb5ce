"""The project's data, assembled from its sources: labelled splits, report-only sets, unlabelled text.

- `train` / `validation` / `test`: the CrowdFlower corpus split by hash (or Sentiment140), with
  TweetEval emotion's train and val splits (mapped to sentiment) added to train and validation.
  `test` stays CrowdFlower's own, so its figures compare with earlier runs.
- `evaluation`: sets that are only ever reported: TweetEval emotion's test split and the external
  set, TweetEval `sentiment/val`.
- `unlabelled`: tweets with no sentiment label (CrowdFlower's neutral ones, the other TweetEval
  tasks), for distillation.

No text of a reported set (test, evaluation) reaches train, validation or unlabelled: anything whose
normalised text equals a held-out tweet's is dropped, so a retweet cannot leak an answer.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import tweeteval
from .data import (
    CROWDFLOWER_PROVENANCE,
    SENTIMENT140_PROVENANCE,
    SplitConfig,
    Tweet,
    deduplicate,
    load_crowdflower_corpus,
    load_crowdflower_neutral,
    load_sentiment140,
    split,
)
from .normalize import normalize

EXTERNAL = "tweeteval_sentiment"  # the external evaluation set: never trained on or tuned on
EMOTION_TEST = "tweeteval_emotion_test"


@dataclass
class Corpus:
    parts: dict[str, list[Tweet]]  # train, validation, test
    evaluation: dict[str, list[Tweet]] = field(default_factory=dict)
    unlabelled: list[str] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)

    def reported_sets(self) -> dict[str, list[Tweet]]:
        """Every labelled set scores are reported on, validation first."""
        return {"validation": self.parts["validation"], "test": self.parts["test"], **self.evaluation}


def load_corpus(
    sentiment140_csv: Path | None = None,
    tweeteval_dir: Path | None = None,
    config: SplitConfig | None = None,
) -> Corpus:
    """The labelled splits from CrowdFlower (or Sentiment140), plus TweetEval when a folder is given."""
    config = config or SplitConfig()
    if sentiment140_csv:
        parts, neutral, source = (
            split(deduplicate(load_sentiment140(sentiment140_csv)), config),
            [],
            SENTIMENT140_PROVENANCE,
        )
    else:
        parts = split(deduplicate(load_crowdflower_corpus()), config)
        neutral, source = load_crowdflower_neutral(), CROWDFLOWER_PROVENANCE
    corpus = Corpus(parts={name: list(tweets) for name, tweets in parts.items()}, unlabelled=neutral)
    sources: list[dict] = [{"name": "sentiment140" if sentiment140_csv else "crowdflower", "provenance": source}]
    if tweeteval_dir is not None:
        corpus.evaluation = {
            EMOTION_TEST: deduplicate(tweeteval.emotion(tweeteval_dir, "test")),
            EXTERNAL: tweeteval.sentiment_validation(tweeteval_dir),
        }
        corpus.parts["train"] += tweeteval.emotion(tweeteval_dir, "train")
        corpus.parts["validation"] += tweeteval.emotion(tweeteval_dir, "val")
        corpus.unlabelled += tweeteval.unlabelled(tweeteval_dir)
        sources.append(
            {
                "name": "tweeteval",
                "provenance": tweeteval.PROVENANCE,
                "use": "sentiment/val (negative, positive) is the external evaluation set; emotion is read as "
                "sentiment (joy, optimism -> positive; anger, sadness -> negative): train and val join ours, "
                "test is reported; every other task's text is unlabelled (distillation only)",
                "files": tweeteval.files_manifest(tweeteval_dir),
            }
        )
    _remove_held_out(corpus)
    corpus.manifest = manifest(corpus, config, sources)
    return corpus


def _remove_held_out(corpus: Corpus) -> None:
    held_out = {normalize(t.text) for t in corpus.parts["test"]}
    held_out |= {normalize(t.text) for tweets in corpus.evaluation.values() for t in tweets}
    for name in ("train", "validation"):
        corpus.parts[name] = [t for t in deduplicate(corpus.parts[name]) if normalize(t.text) not in held_out]
    seen = held_out | {normalize(t.text) for name in ("train", "validation") for t in corpus.parts[name]}
    unlabelled = []
    for text in corpus.unlabelled:
        key = normalize(text)
        if key and key not in seen:
            seen.add(key)
            unlabelled.append(text)
    corpus.unlabelled = unlabelled


def _digest(items) -> str:
    digest = hashlib.sha256()
    for item in sorted(items):
        digest.update(json.dumps(item).encode("utf-8"))
    return digest.hexdigest()


def set_summary(tweets: list[Tweet]) -> dict:
    return {
        "count": len(tweets),
        "positive": sum(t.label for t in tweets),
        "sha256": _digest([t.text, t.label] for t in tweets),
        "by_source": {s: sum(t.source == s for t in tweets) for s in sorted({t.source for t in tweets})},
    }


def manifest(corpus: Corpus, config: SplitConfig, sources: list[dict]) -> dict:
    """Counts and content hashes of every set (no text): the record that a later run used the same data."""
    return {
        "config": asdict(config),
        "sources": sources,
        "splits": {name: set_summary(tweets) for name, tweets in corpus.parts.items()},
        "evaluation": {name: set_summary(tweets) for name, tweets in corpus.evaluation.items()},
        "unlabelled": {"count": len(corpus.unlabelled), "sha256": _digest(corpus.unlabelled)},
    }
