"""Tables and figures for the notebooks and the README, read from the data and from MLflow.

python -m moodwing_training.report   # prints the comparison table as Markdown
"""

import json
from collections import Counter

import mlflow
import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient

from . import tracking
from .data import LABELS, Tweet
from .normalize import normalize

BUNDLES = tracking.TRAINING_DIR.parent / "edge-model" / "models"
APPROACH_TITLES = {
    "tfidf": "TF-IDF + logistic regression",
    "lstm": "Embeddings + BiLSTM",
    "bert": "MiniLM-L6 (BERT family), fine-tuned",
}


def split_overview(parts: dict[str, list[Tweet]]) -> pd.DataFrame:
    rows = []
    for name, tweets in parts.items():
        lengths = [len(normalize(t.text).split()) for t in tweets]
        rows.append(
            {
                "split": name,
                "tweets": len(tweets),
                "positive share": sum(t.label for t in tweets) / len(tweets),
                "median words": float(pd.Series(lengths).median()),
                "airline tweets": sum(_is_airline(t.text) for t in tweets),
            }
        )
    return pd.DataFrame(rows).set_index("split")


def _is_airline(text: str) -> bool:
    handles = ("@united", "@americanair", "@southwestair", "@jetblue", "@usairways", "@virginamerica")
    return any(h in text.lower() for h in handles)


def top_words(tweets: list[Tweet], label: int, count: int = 15) -> list[tuple[str, int]]:
    stop = {
        "the",
        "to",
        "a",
        "i",
        "and",
        "you",
        "for",
        "is",
        "on",
        "my",
        "in",
        "of",
        "it",
        "me",
        "@user",
        "http",
        "that",
        "at",
        "your",
        "with",
        "be",
        "this",
        "was",
        "have",
        "are",
        "we",
        "so",
        "but",
        "just",
    }
    words = Counter(
        w
        for t in tweets
        if t.label == label
        for w in normalize(t.text).lower().split()
        if w not in stop and w.isalpha()
    )
    return words.most_common(count)


def plot_length_histogram(parts: dict[str, list[Tweet]]):
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    for label, name in enumerate(LABELS):
        lengths = [len(normalize(t.text)) for t in parts["train"] if t.label == label]
        ax.hist(lengths, bins=40, alpha=0.6, label=name)
    ax.set_xlabel("characters after normalisation")
    ax.set_ylabel("tweets")
    ax.legend()
    fig.tight_layout()
    return fig


def runs_table() -> pd.DataFrame:
    """The champion run of each approach, with its validation and test scores."""
    tracking.configure()
    client = MlflowClient()
    rows = []
    for approach in APPROACH_TITLES:
        try:
            version = client.get_model_version_by_alias(tracking.registered_name(approach), tracking.CHAMPION)
        except mlflow.exceptions.MlflowException:
            continue
        metrics = client.get_run(version.run_id).data.metrics
        rows.append(
            {
                "approach": approach,
                "model": f"{version.name} v{version.version}",
                "run": version.run_id[:8],
                **{k: metrics[k] for k in sorted(metrics) if k.startswith(("val_", "test_", "latency", "model_size"))},
            }
        )
    return pd.DataFrame(rows).set_index("approach")


def plot_training_curves(metric: str = "epoch_val_roc_auc"):
    """Per-epoch curves of the champion neural runs, from MLflow's metric history."""
    tracking.configure()
    client = MlflowClient()
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    for approach in ("lstm", "bert"):
        version = client.get_model_version_by_alias(tracking.registered_name(approach), tracking.CHAMPION)
        history = client.get_metric_history(version.run_id, metric)
        ax.plot([m.step for m in history], [m.value for m in history], marker="o", label=approach)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.legend()
    fig.tight_layout()
    return fig


def comparison_markdown() -> str:
    """The README table: test-split scores of the three approaches, as served."""
    table = runs_table()
    lines = [
        "| approach | test accuracy | test F1 (positive) | test ROC-AUC | latency / tweet | size |",
        "|---|---|---|---|---|---|",
    ]
    for approach, title in APPROACH_TITLES.items():
        bundle = BUNDLES / approach / "model.json"
        if bundle.is_file():  # served models: the int8 figures from the bundle
            served = json.loads(bundle.read_text())["metrics"]["int8"]
            lines.append(
                f"| {title} (int8 ONNX) | {served['accuracy']:.3f} | {served['f1']:.3f} | "
                f"{served['roc_auc']:.3f} | {served['latency_ms_p50_onnxruntime']:.2f} ms | "
                f"{served['size_mb']:.1f} MB |"
            )
        elif approach in table.index:
            row = table.loc[approach]
            lines.append(
                f"| {title} | {row['test_accuracy']:.3f} | {row['test_f1']:.3f} | {row['test_roc_auc']:.3f} | "
                f"{row['latency_ms_p50']:.2f} ms | {row['model_size_mb']:.1f} MB |"
            )
    return "\n".join(lines)


def main() -> None:
    print(comparison_markdown())


if __name__ == "__main__":
    main()
