"""The figures the blog and the slides quote, read from the committed bundles' model.json and from
`docs/figures/reference.json` (the rows without a bundle: VADER and the TF-IDF run, written by
`python -m moodwing_training.report --write`).
"""

import json
from dataclasses import dataclass
from pathlib import Path

from moodwing_training.report import comparison_markdown

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = ROOT / "edge-model" / "models"
REFERENCE = ROOT / "docs" / "figures" / "reference.json"
EXTERNAL = "tweeteval_sentiment"


@dataclass(frozen=True)
class SetFigures:
    accuracy: float
    f1: float
    roc_auc: float
    ece: float | None


@dataclass(frozen=True)
class ModelFigures:
    approach: str
    test: SetFigures
    external: SetFigures
    latency_ms: float | None
    size_mb: float | None
    fp32_accuracy: float | None = None  # on our test split
    threshold: float | None = None


APPROACHES = {
    "lstm": "BiLSTM student, distilled from MiniLM (int8 ONNX)",
    "bert": "MiniLM-L6 fine-tuned (int8 ONNX)",
}


def bundle(name: str) -> dict:
    return json.loads((BUNDLES / name / "model.json").read_text())


def reference() -> dict:
    return json.loads(REFERENCE.read_text())


def _set(metrics: dict) -> SetFigures:
    return SetFigures(metrics["accuracy"], metrics["f1"], metrics["roc_auc"], metrics.get("ece"))


def served(name: str) -> ModelFigures:
    card = bundle(name)
    metrics = card["metrics"]
    return ModelFigures(
        APPROACHES[name],
        _set(metrics["int8"]["test"]),
        _set(metrics["int8"][EXTERNAL]),
        metrics["latency_ms_p50_onnxruntime"]["int8"],
        metrics["size_mb"]["int8"],
        metrics["fp32"]["test"]["accuracy"],
        card["threshold"],
    )


def vader() -> ModelFigures:
    sets = reference()["vader"]["metrics"]
    return ModelFigures("VADER lexicon (reference)", _set(sets["test"]), _set(sets[EXTERNAL]), None, None)


def tfidf() -> ModelFigures:
    row = reference()["tfidf"]
    sets = row["metrics"]
    return ModelFigures(
        "TF-IDF + logistic regression",
        _set(sets["test"]),
        _set(sets[EXTERNAL]),
        row["latency_ms_p50"],
        row["size_mb"],
        threshold=row["threshold"],
    )


def all_models() -> list[ModelFigures]:
    return [vader(), tfidf(), served("lstm"), served("bert")]


def set_size(name: str) -> int:
    data = bundle("lstm")["data"]
    return (data["splits"] | data["evaluation"])[name]["count"]


def test_split_size() -> int:
    return set_size("test")


def metrics_table() -> str:
    """The Markdown table of the README and the blog: VADER and the three approaches, both sets."""
    return comparison_markdown(reference())
