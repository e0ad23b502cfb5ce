"""Tables and figures for the notebooks and the README, read from the data, MLflow and the bundles.

python -m moodwing_training.report            # prints the comparison table as Markdown
python -m moodwing_training.report --write    # also writes docs/figures/reference.json (TF-IDF, VADER)

VADER (a rule-based lexicon, `vaderSentiment`; compound > 0 is positive) is scored on every
reported set as the reference any learned model must beat.
"""

import argparse
import json
from collections import Counter

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient

from . import tracking, tweeteval
from .corpus import EXTERNAL, Corpus, load_corpus
from .data import LABELS, Tweet
from .metrics import classification_metrics
from .normalize import normalize

BUNDLES = tracking.TRAINING_DIR.parent / "edge-model" / "models"
REFERENCE = tracking.TRAINING_DIR.parent / "docs" / "figures" / "reference.json"
APPROACH_TITLES = {
    "tfidf": "TF-IDF + logistic regression",
    "lstm": "BiLSTM student, distilled from MiniLM",
    "bert": "MiniLM-L6 (BERT family), fine-tuned",
}
# VADER says positive when compound > 0; as a score in [0, 1], (compound + 1) / 2 > 0.5.
VADER_THRESHOLD = float(np.nextafter(0.5, 1.0))


def vader_scores(corpus: Corpus) -> dict[str, dict[str, float]]:
    """VADER's metrics on every reported set (its ECE is not a calibration: VADER gives no probability)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    scores = {}
    for name, tweets in corpus.reported_sets().items():
        compound = np.array([analyzer.polarity_scores(t.text)["compound"] for t in tweets])
        metrics = classification_metrics(np.array([t.label for t in tweets]), (compound + 1) / 2, VADER_THRESHOLD)
        metrics.pop("ece")
        scores[name] = metrics
    return scores


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
                **{
                    k: metrics[k]
                    for k in sorted(metrics)
                    if k.startswith(("val_", "test_", "tweeteval_", "threshold", "latency", "model_size"))
                },
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


def reference_rows(corpus: Corpus) -> dict:
    """The rows that have no bundle: VADER, and the TF-IDF champion's run (not served)."""
    tracking.configure()
    client = MlflowClient()
    version = client.get_model_version_by_alias(tracking.registered_name("tfidf"), tracking.CHAMPION)
    run = client.get_run(version.run_id)
    tfidf = {
        name: {k.removeprefix(f"{prefix}_"): v for k, v in run.data.metrics.items() if k.startswith(f"{prefix}_")}
        for name, prefix in (("validation", "val"), ("test", "test"), *((n, n) for n in corpus.evaluation))
    }
    return {
        "vader": {
            "package": "vaderSentiment 3.3.2",
            "rule": "compound > 0 is positive",
            "metrics": vader_scores(corpus),
        },
        "tfidf": {
            "model": f"{version.name}/{version.version}",
            "run_id": version.run_id,
            "threshold": run.data.metrics["threshold"],
            "metrics": tfidf,
            "latency_ms_p50": run.data.metrics["latency_ms_p50"],
            "size_mb": run.data.metrics["model_size_mb"],
        },
    }


def comparison_markdown(reference: dict) -> str:
    """The README table: VADER and the three approaches on our test split and the external set."""
    lines = [
        "| approach | our test: accuracy | F1 (positive) | ROC-AUC | TweetEval: accuracy | ROC-AUC | ECE "
        "| latency / tweet | size |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def row(title: str, sets: dict, latency: str, size: str) -> str:
        test, external = sets["test"], sets[EXTERNAL]
        ece = f"{external['ece']:.3f}" if "ece" in external else "–"
        return (
            f"| {title} | {test['accuracy']:.3f} | {test['f1']:.3f} | {test['roc_auc']:.3f} "
            f"| {external['accuracy']:.3f} | {external['roc_auc']:.3f} | {ece} | {latency} | {size} |"
        )

    lines.append(row("VADER lexicon (reference)", reference["vader"]["metrics"], "–", "–"))
    tfidf = reference["tfidf"]
    lines.append(
        row(
            APPROACH_TITLES["tfidf"],
            tfidf["metrics"],
            f"{tfidf['latency_ms_p50']:.2f} ms",
            f"{tfidf['size_mb']:.1f} MB",
        )
    )
    for approach in ("lstm", "bert"):
        metrics = json.loads((BUNDLES / approach / "model.json").read_text())["metrics"]
        lines.append(
            row(
                f"{APPROACH_TITLES[approach]} (int8)",
                metrics["int8"],
                f"{metrics['latency_ms_p50_onnxruntime']['int8']:.2f} ms",
                f"{metrics['size_mb']['int8']:.1f} MB",
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"write the reference rows to {REFERENCE}")
    args = parser.parse_args(argv)
    folder = tweeteval.default_dir()
    if folder is None:
        raise SystemExit(f"the report needs TweetEval at {tweeteval.DEFAULT_DIR} ({tweeteval.WHERE_TO_GET})")
    reference = reference_rows(load_corpus(tweeteval_dir=folder))
    if args.write:
        REFERENCE.write_text(json.dumps(reference, indent=2) + "\n")
    print(comparison_markdown(reference))


if __name__ == "__main__":
    main()


NEGATIONS = {"not", "no", "never", "nothing", "nobody", "nor", "cannot", "without"}
_EMOJI_RANGES = ((0x1F300, 0x1FAFF), (0x2600, 0x27BF))


def tweet_traits(text: str) -> dict[str, bool]:
    """Traits that error analysis slices on; each is a plain rule, so a slice can be read and checked."""
    normalised = normalize(text)
    words = normalised.lower().replace("’", "'").split()
    return {
        "negation": any(w.strip(".,!?") in NEGATIONS or w.endswith("n't") for w in words),
        "emoji": any(any(lo <= ord(c) <= hi for lo, hi in _EMOJI_RANGES) for c in normalised),
        "question": "?" in normalised,
        "hashtag": "#" in normalised,
        "airline": _is_airline(text),
        "short (< 8 words)": len(words) < 8,
    }


def error_slices(tweets: list[Tweet], p_positive: np.ndarray, threshold: float) -> pd.DataFrame:
    """Error rate and the kind of error (missed positives, missed negatives) per trait."""
    labels = np.array([t.label for t in tweets])
    predicted = (np.asarray(p_positive) >= threshold).astype(int)
    traits = pd.DataFrame([tweet_traits(t.text) for t in tweets])
    rows = [{"slice": "all", "tweets": len(tweets), "error rate": float(np.mean(predicted != labels))}]
    for trait in traits.columns:
        mask = traits[trait].to_numpy()
        if mask.any():
            rows.append(
                {
                    "slice": trait,
                    "tweets": int(mask.sum()),
                    "error rate": float(np.mean(predicted[mask] != labels[mask])),
                    "missed positives": int(np.sum(mask & (labels == 1) & (predicted == 0))),
                    "missed negatives": int(np.sum(mask & (labels == 0) & (predicted == 1))),
                }
            )
    return pd.DataFrame(rows).set_index("slice")


TYPICAL_FAILURES = """\
What the slices and the worst mistakes of our test split show, in short: the model reads the words
of a tweet, not its intent. It misses positive tweets that state news or facts, or that praise one
thing while complaining about another ("I love the team, but this study..."); it flags tweets full
of hashtags and topic words (sports, politics) more often than airline replies; emoji carry much of
the feeling in TweetEval's tweets and are where it errs most there; a negation flips a sentence for
it only when the negated word is strongly coloured. Sarcasm ("great, another delay") reads as
praise: nothing in the data teaches it otherwise. Review rejected predictions of these kinds first."""


def error_analysis_markdown(scored: dict[str, tuple[list[Tweet], np.ndarray]], threshold: float) -> str:
    """The model card's error analysis: error rate per slice on each set, the worst slices named,
    and the typical failures in words. Only counts and rates: no tweet is quoted."""
    tables = {name: error_slices(tweets, p, threshold) for name, (tweets, p) in scored.items()}
    slices = list(dict.fromkeys(s for table in tables.values() for s in table.index))
    lines = [
        "| slice | " + " | ".join(f"{name}: tweets / error rate" for name in tables) + " |",
        "|---|" + "---|" * len(tables),
    ]
    for name in slices:
        cells = [
            f"{int(t.loc[name, 'tweets'])} / {t.loc[name, 'error rate']:.3f}" if name in t.index else "–"
            for t in tables.values()
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    worst = []
    for set_name, table in tables.items():
        overall = table.loc["all", "error rate"]
        enough = table.drop(index="all")
        enough = enough[enough["tweets"] >= 30]
        if not enough.empty:
            top = enough["error rate"].idxmax()
            worst.append(f"{top} on {set_name} ({enough.loc[top, 'error rate']:.3f} against {overall:.3f} overall)")
    summary = "Highest error rate among slices of 30 tweets or more: " + "; ".join(worst) + "."
    return "\n".join(lines) + "\n\n" + summary + "\n\n" + TYPICAL_FAILURES
