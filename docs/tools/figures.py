"""The figures the blog and the slides quote, read from the committed bundles' model.json.

The TF-IDF model is not served, so it has no bundle: its test figures are the MLflow run's
(`tfidf`, README "Results") and are kept here once, by hand.
"""

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = ROOT / "edge-model" / "models"


@dataclass(frozen=True)
class ModelFigures:
    approach: str
    accuracy: float
    f1: float
    roc_auc: float
    latency_ms: float
    size_mb: float
    fp32_accuracy: float | None = None


TFIDF = ModelFigures("TF-IDF + logistic regression", 0.869, 0.766, 0.927, 1.61, 3.2)

APPROACHES = {
    "lstm": "Embeddings + BiLSTM (int8 ONNX)",
    "bert": "MiniLM-L6 fine-tuned (int8 ONNX)",
}


def bundle(name: str) -> dict:
    return json.loads((BUNDLES / name / "model.json").read_text())


def served(name: str) -> ModelFigures:
    metrics = bundle(name)["metrics"]
    int8, fp32 = metrics["int8"], metrics["fp32"]
    return ModelFigures(
        APPROACHES[name],
        int8["accuracy"],
        int8["f1"],
        int8["roc_auc"],
        int8["latency_ms_p50_onnxruntime"],
        int8["size_mb"],
        fp32["accuracy"],
    )


def all_models() -> list[ModelFigures]:
    return [TFIDF, served("lstm"), served("bert")]


def test_split_size() -> int:
    return bundle("lstm")["data"]["splits"]["test"]["count"]


def metrics_table() -> str:
    """The Markdown table of the three approaches on the test split."""
    rows = [
        "| approach | accuracy | F1 (positive) | ROC-AUC | latency / tweet | size |",
        "|---|---|---|---|---|---|",
    ]
    for m in all_models():
        rows.append(
            f"| {m.approach} | {m.accuracy:.3f} | {m.f1:.3f} | {m.roc_auc:.3f} "
            f"| {m.latency_ms:.2f} ms | {m.size_mb:.1f} MB |"
        )
    return "\n".join(rows)
