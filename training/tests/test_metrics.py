import numpy as np
import pytest

from moodwing_training import metrics, neural


def test_ece_is_zero_when_confidence_matches_and_large_when_overconfident() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 200_000)
    labels = (rng.uniform(0, 1, p.size) < p).astype(int)  # calibrated by construction
    assert metrics.expected_calibration_error(labels, p) < 0.01
    overconfident = np.where(p >= 0.5, 0.999, 0.001)
    assert metrics.expected_calibration_error(labels, overconfident) > 0.2


def test_temperature_scaling_recovers_the_temperature() -> None:
    rng = np.random.default_rng(5)
    true_margin = rng.normal(0, 2.5, 50_000)
    labels = (rng.uniform(0, 1, true_margin.size) < 1 / (1 + np.exp(-true_margin))).astype(int)
    logits = np.stack([np.zeros_like(true_margin), 3.0 * true_margin], axis=1)  # three times too sure
    assert neural.fit_temperature(logits, labels, balance_classes=False) == pytest.approx(3.0, rel=0.05)


def test_threshold_balances_the_classes() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    p = np.concatenate([np.linspace(0.0, 0.3, 90), np.linspace(0.31, 0.5, 10)])
    # Accuracy at 0.5 would be 0.9 with every positive missed; the threshold separates the classes.
    threshold = metrics.choose_threshold(labels, p)
    assert threshold == pytest.approx(0.31)
    assert metrics.classification_metrics(labels, p, threshold)["balanced_accuracy"] == 1.0
