"""TweetEval (Barbieri et al., Findings of EMNLP 2020), read from a local copy of its `datasets/` folder.

The tweets are not ours to redistribute, so they are read where the user keeps them (by default
`../shared/data/tweeteval` beside the repository) and never copied into it. Layout, as published:
`<task>/{train,val,test}_text.txt` (one tweet per line; stance has one folder per target) and, for
labelled splits, `<task>/<split>_labels.txt` with the label index on the same line.

What we take from it:
- `sentiment/val`, negative and positive only: the external evaluation set. Never trained on,
  never used to tune, pick thresholds or stop early.
- `emotion/*`: labelled for sentiment by a stated mapping (joy, optimism -> positive; anger,
  sadness -> negative). Its train and val splits join ours; its test split is reported.
- every other text (emoji, hate, irony, offensive, stance, all splits): unlabelled tweets on many
  topics, which the distilled student learns from through the teacher's probabilities.
"""

import hashlib
from pathlib import Path

from .data import DataError, Tweet

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPOSITORY_ROOT.parent / "shared" / "data" / "tweeteval"
PROVENANCE = (
    "TweetEval (Barbieri, Camacho-Collados, Espinosa-Anke, Neves, Findings of EMNLP 2020), datasets/ folder "
    "of the public cardiffnlp/tweeteval repository; tweets of 2016-2018 from SemEval tasks"
)
WHERE_TO_GET = "TweetEval's datasets/ folder (cardiffnlp/tweeteval on GitHub); pass it with --tweeteval DIR"
SPLITS = ("train", "val", "test")
# Emotion labels (mapping.txt: 0 anger, 1 joy, 2 optimism, 3 sadness) read as sentiment.
EMOTION_SENTIMENT = {0: 0, 1: 1, 2: 1, 3: 0}
SENTIMENT_BINARY = {0: 0, 2: 1}  # negative, positive; neutral (1) is left out
UNLABELLED_TASKS = (
    "emoji",
    "hate",
    "irony",
    "offensive",
    "stance/abortion",
    "stance/atheism",
    "stance/climate",
    "stance/feminist",
    "stance/hillary",
)


def default_dir() -> Path | None:
    return DEFAULT_DIR if DEFAULT_DIR.is_dir() else None


def read_texts(folder: Path, task: str, split: str) -> list[str]:
    path = folder / task / f"{split}_text.txt"
    if not path.is_file():
        raise DataError(f"{path}: no such file ({WHERE_TO_GET})")
    # One tweet per line, split on "\n" only: a tweet may hold a carriage return.
    return path.read_bytes().decode("utf-8").split("\n")[:-1]


def read_labelled(folder: Path, task: str, split: str) -> list[tuple[str, int]]:
    texts = read_texts(folder, task, split)
    path = folder / task / f"{split}_labels.txt"
    if not path.is_file():
        raise DataError(f"{path}: no such file ({WHERE_TO_GET})")
    labels = path.read_text(encoding="utf-8").split()
    if len(labels) != len(texts):
        raise DataError(f"{path}: {len(labels)} labels for {len(texts)} tweets")
    try:
        return [(text, int(label)) for text, label in zip(texts, labels, strict=True)]
    except ValueError as error:
        raise DataError(f"{path}: {error}") from None


def sentiment_validation(folder: Path) -> list[Tweet]:
    """The external evaluation set: `sentiment/val`, negative and positive tweets only."""
    return [
        Tweet(text, SENTIMENT_BINARY[label], "tweeteval-sentiment")
        for text, label in read_labelled(folder, "sentiment", "val")
        if label in SENTIMENT_BINARY
    ]


def emotion(folder: Path, split: str) -> list[Tweet]:
    pairs = read_labelled(folder, "emotion", split)
    unknown = {label for _, label in pairs} - EMOTION_SENTIMENT.keys()
    if unknown:
        raise DataError(f"{folder / 'emotion'}/{split}_labels.txt: unknown emotion labels {sorted(unknown)}")
    return [Tweet(text, EMOTION_SENTIMENT[label], "tweeteval-emotion") for text, label in pairs]


def unlabelled(folder: Path) -> list[str]:
    """Every tweet of the tasks that carry no sentiment label, all splits."""
    return [text for task in UNLABELLED_TASKS for split in SPLITS for text in read_texts(folder, task, split)]


def files_manifest(folder: Path) -> dict[str, dict]:
    """Line count and sha256 of every file read, so a bundle records exactly which copy it saw."""
    files = {}
    for path in sorted(folder.rglob("*.txt")):
        relative = path.relative_to(folder).as_posix()
        if relative.count("/") == 0:
            continue  # README.txt
        data = path.read_bytes()
        files[relative] = {"lines": data.count(b"\n"), "sha256": hashlib.sha256(data).hexdigest()}
    return files
