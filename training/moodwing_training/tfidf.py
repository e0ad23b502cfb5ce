"""Approach 1, the simple custom model: TF-IDF on word and character n-grams + logistic regression."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import FeatureUnion, Pipeline

from .data import Tweet
from .neural import fit_temperature
from .normalize import normalize


@dataclass(frozen=True)
class TfidfConfig:
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    min_df: int = 2
    max_features: int = 200_000
    # Inverse regularisation strengths tried on the validation split.
    c_grid: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def build_pipeline(config: TfidfConfig, c: float) -> Pipeline:
    features = FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    preprocessor=_preprocess,
                    ngram_range=config.word_ngrams,
                    min_df=config.min_df,
                    max_features=config.max_features,
                    sublinear_tf=True,
                    token_pattern=r"(?u)[@#]?\b\w+\b|[!?]+",
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    preprocessor=_preprocess,
                    analyzer="char_wb",
                    ngram_range=config.char_ngrams,
                    min_df=config.min_df,
                    max_features=config.max_features,
                    sublinear_tf=True,
                ),
            ),
        ]
    )
    # Balanced: the training mix (70 % negative) is not the share a customer will see.
    classifier = LogisticRegression(C=c, solver="liblinear", max_iter=1000, class_weight="balanced")
    return Pipeline([("features", features), ("classifier", classifier)])


def _preprocess(text: str) -> str:
    return normalize(text).lower()


def fit(
    train: list[Tweet],
    validation: list[Tweet],
    config: TfidfConfig,
    log_step: Callable[[dict[str, float], int], None],
) -> tuple[Pipeline, dict[str, float]]:
    """Fit one pipeline per C, keep the best by validation ROC-AUC, refit nothing on test."""
    texts, labels = [t.text for t in train], np.array([t.label for t in train])
    val_texts, val_labels = [t.text for t in validation], np.array([t.label for t in validation])
    best: tuple[float, float, Pipeline] | None = None
    for step, c in enumerate(config.c_grid):
        pipeline = _compact(build_pipeline(config, c).fit(texts, labels))
        auc = float(roc_auc_score(val_labels, pipeline.predict_proba(val_texts)[:, 1]))
        print(f"[tfidf] C={c:<5} validation ROC-AUC {auc:.4f}", flush=True)
        log_step({"search_val_roc_auc": auc, "search_C": c}, step)
        if best is None or auc > best[0]:
            best = (auc, c, pipeline)
    assert best is not None, "c_grid must not be empty"
    return best[2], {"C": best[1]}


def _compact(pipeline: Pipeline) -> Pipeline:
    """Drop what serving does not need and make the vocabulary plain Python: `stop_words_` holds
    every pruned n-gram, and numpy ints in `vocabulary_` make the MLflow (skops) save crawl."""
    for _, vectorizer in pipeline.named_steps["features"].transformer_list:
        vectorizer.stop_words_ = None
        vectorizer.vocabulary_ = {term: int(index) for term, index in vectorizer.vocabulary_.items()}
    return pipeline


def calibrate(pipeline: Pipeline, validation: list[Tweet]) -> float:
    """Temperature scaling on validation, folded into the logistic regression; returns T."""
    margin = pipeline.decision_function([t.text for t in validation])
    logits = np.stack([np.zeros_like(margin), margin], axis=1)
    temperature = fit_temperature(logits, np.array([t.label for t in validation]))
    classifier = pipeline.named_steps["classifier"]
    classifier.coef_ /= temperature
    classifier.intercept_ /= temperature
    return temperature


def predict(pipeline: Pipeline, texts: list[str]) -> np.ndarray:
    return pipeline.predict_proba(texts)[:, 1]
