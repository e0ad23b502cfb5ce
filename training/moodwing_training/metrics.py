"""Scores and pictures for a set of predictions (probability of `positive` per tweet)."""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    roc_auc_score,
    roc_curve,
)

from .data import LABELS


def classification_metrics(labels: np.ndarray, p_positive: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    predicted = (p_positive >= threshold).astype(int)
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "f1": float(f1_score(labels, predicted)),
        "f1_macro": float(f1_score(labels, predicted, average="macro")),
        "roc_auc": float(roc_auc_score(labels, p_positive)),
    }


def plot_confusion_matrix(labels: np.ndarray, p_positive: np.ndarray, title: str, path: Path) -> Path:
    matrix = confusion_matrix(labels, (p_positive >= 0.5).astype(int), labels=[0, 1])
    fig = Figure(figsize=(4.2, 3.6))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        share = count / max(matrix[row].sum(), 1)
        color = "white" if count > matrix.max() / 2 else "black"
        ax.text(col, row, f"{count}\n{share:.0%}", ha="center", va="center", color=color)
    ax.set_xticks([0, 1], LABELS)
    ax.set_yticks([0, 1], LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_roc_curve(labels: np.ndarray, p_positive: np.ndarray, title: str, path: Path) -> Path:
    fpr, tpr, _ = roc_curve(labels, p_positive)
    fig = Figure(figsize=(4.2, 3.8))
    ax = fig.subplots()
    ax.plot(fpr, tpr, label=f"AUC = {roc_auc_score(labels, p_positive):.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
