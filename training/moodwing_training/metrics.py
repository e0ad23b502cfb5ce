"""Scores and pictures for a set of predictions (probability of `positive` per tweet)."""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    roc_auc_score,
    roc_curve,
)

from .data import LABELS

ECE_BINS = 15


def classification_metrics(labels: np.ndarray, p_positive: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Scores of the labels given at `threshold`, ranking (ROC-AUC) and calibration (ECE) of the score."""
    predicted = (p_positive >= threshold).astype(int)
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)),
        "f1": float(f1_score(labels, predicted)),
        "f1_macro": float(f1_score(labels, predicted, average="macro")),
        "roc_auc": float(roc_auc_score(labels, p_positive)),
        "ece": expected_calibration_error(labels, p_positive),
    }


def expected_calibration_error(labels: np.ndarray, p_positive: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE (Guo et al. 2017): the gap between the confidence max(p, 1 - p) and the share of
    right answers, per equal-width confidence bin, weighted by the bin's size."""
    confidence, correct, which = _confidence_bins(labels, p_positive, bins)
    gap = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            gap += in_bin.mean() * abs(confidence[in_bin].mean() - correct[in_bin].mean())
    return float(gap)


def _confidence_bins(labels, p_positive, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confidence max(p, 1 - p) of the argmax label, whether it was right, and its equal-width bin."""
    labels, p_positive = np.asarray(labels), np.asarray(p_positive, dtype=np.float64)
    confidence = np.maximum(p_positive, 1 - p_positive)
    correct = ((p_positive >= 0.5).astype(int) == labels).astype(float)
    edges = np.linspace(0.5, 1.0, bins + 1)
    return confidence, correct, np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)


def choose_threshold(labels: np.ndarray, p_positive: np.ndarray) -> float:
    """The decision threshold with the best balanced accuracy: the share of positives in the
    customer's stream is unknown, so neither class's recall is traded for the validation set's mix."""
    candidates = np.unique(np.round(np.asarray(p_positive), 3))
    candidates = candidates[(candidates > 0.05) & (candidates < 0.95)]
    if candidates.size == 0:
        return 0.5
    scores = [balanced_accuracy_score(labels, (p_positive >= c).astype(int)) for c in candidates]
    return float(candidates[int(np.argmax(scores))])


def plot_reliability(labels: np.ndarray, p_positive: np.ndarray, title: str, path: Path) -> Path:
    """Reliability diagram: per confidence bin, how often the model was right."""
    confidence, correct, which = _confidence_bins(labels, p_positive, ECE_BINS)
    centres, accuracy, counts = [], [], []
    for b in range(ECE_BINS):
        in_bin = which == b
        if in_bin.any():
            centres.append(confidence[in_bin].mean())
            accuracy.append(correct[in_bin].mean())
            counts.append(int(in_bin.sum()))
    fig = Figure(figsize=(4.2, 3.8))
    ax = fig.subplots()
    ax.plot([0.5, 1], [0.5, 1], linestyle="--", color="grey", linewidth=0.8, label="perfectly calibrated")
    ax.scatter(centres, accuracy, s=[10 + 200 * c / max(counts) for c in counts], label="bins (size = tweets)")
    ax.plot(centres, accuracy)
    ax.set_xlabel("confidence")
    ax.set_ylabel("share right")
    ax.set_title(f"{title}\nECE = {expected_calibration_error(labels, p_positive):.3f}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_confusion_matrix(
    labels: np.ndarray, p_positive: np.ndarray, title: str, path: Path, threshold: float = 0.5
) -> Path:
    matrix = confusion_matrix(labels, (p_positive >= threshold).astype(int), labels=[0, 1])
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
