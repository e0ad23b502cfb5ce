"""The improvement loop: what people said about the predictions retrains the model, and the
challenger replaces the champion only where it is better on what people corrected and no worse
elsewhere.

    python -m moodwing_training.improve --feedback export.ndjson [--approach lstm|tfidf|bert]
        [--holdout-percent 30] [--weight 10] [--tweeteval DIR] [--teacher ...] [--sample N]

`export.ndjson` is the cloud-api's `GET /api/feedback/export` (README, "Improving the model").

1. **Slice.** Each feedback becomes a labelled tweet: a rejection its corrected label, a validation
   the label it confirmed. One per tweet (the newest; a tweet labelled both ways is dropped), none
   whose text is a tweet of our validation, test or reported sets (they stay untouched), split by a
   hash of the text into a training part and a held-out part. The slice's version is the hash of
   its content; the slice and its manifest (counts, hashes, models: no text) are logged.
2. **Challenger.** The approach retrained exactly as `train` does, with the slice's training part
   added `weight` times to the training tweets (as labelled: never softened by a teacher).
   Registered as a new version with the alias `challenger`.
3. **Comparison.** Champion and challenger, as registered, at their own thresholds, on our test
   split, the TweetEval sets and the held-out feedback: one MLflow run, a table and a plot.
4. **Rule.** `champion` moves to the challenger only when both hold:
   - *better on feedback*: on the held-out feedback, the tweets the challenger gets right and the
     champion wrong (b) outnumber the reverse (c) beyond chance: b - c >= 2 sqrt(b + c), b + c >= 5
     (McNemar's test, one-sided, about p < 0.025);
   - *not worse elsewhere*: on every guard set (our test split; TweetEval emotion's test when
     present), accuracy is not below the champion's by more than the noise band, 2 standard errors
     of the paired difference and at least half a point.
   TweetEval sentiment/val, the external set, is reported and never decides.
"""

import argparse
import hashlib
import json
import math
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import mlflow
import numpy as np
from matplotlib.figure import Figure
from mlflow import MlflowClient

from . import distill, tracking, train
from .corpus import EMOTION_TEST, Corpus
from .data import LABELS, DataError, Tweet
from .normalize import normalize

CHALLENGER = "challenger"
FEEDBACK_SET = "feedback_held_out"
GUARD_SETS = ("test", EMOTION_TEST)
SLICE_SALT = "moodwing-feedback-v1"
MIN_DISAGREEMENTS = 5
MIN_BAND = 0.005


@dataclass(frozen=True)
class FeedbackSlice:
    version: str
    train: list[Tweet]
    held_out: list[Tweet]
    manifest: dict


@dataclass(frozen=True)
class Comparison:
    """Champion and challenger on one set: accuracies and their paired disagreements."""

    count: int
    champion_accuracy: float
    challenger_accuracy: float
    challenger_only: int  # right by the challenger, wrong by the champion (b)
    champion_only: int  # the reverse (c)

    @property
    def difference(self) -> float:
        return self.challenger_accuracy - self.champion_accuracy

    @property
    def noise_band(self) -> float:
        """Two standard errors of the paired accuracy difference, at least half a point."""
        b, c, n = self.challenger_only, self.champion_only, max(self.count, 1)
        variance = max(b + c - (b - c) ** 2 / n, 0.0) / n**2
        return max(2 * math.sqrt(variance), MIN_BAND)


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)


def read_feedback(path: Path) -> list[dict]:
    """The exported feedback lines (`{"row", "received_at_ms", "feedback": {...}}`), checked."""
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                feedback = record["feedback"]
                if feedback["verdict"] not in ("rejection", "validation"):
                    raise ValueError(f"verdict {feedback['verdict']!r}")
                if feedback["predicted_label"] not in LABELS or not feedback["text"].strip():
                    raise ValueError("predicted_label or text")
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise DataError(f"{path}:{number}: not an exported feedback ({error})") from error
            records.append(record)
    return records


def label_of(feedback: dict) -> int:
    """What the person said the tweet is: the correction of a rejection, or the confirmed label."""
    predicted = LABELS.index(feedback["predicted_label"])
    if feedback["verdict"] == "validation":
        return predicted
    corrected = feedback.get("corrected_label")
    return LABELS.index(corrected) if corrected in LABELS else 1 - predicted


def make_slice(records: list[dict], untouchable: set[str], holdout_percent: int, source: dict) -> FeedbackSlice:
    """The versioned data slice of `records`; `untouchable`: normalised texts of the evaluation sets."""
    newest: dict[str, tuple[int, dict]] = {}
    labels_seen: dict[str, set[int]] = {}
    for record in sorted(records, key=lambda r: (r["received_at_ms"], r["row"])):
        feedback = record["feedback"]
        key = normalize(feedback["text"])
        newest[key] = (label_of(feedback), record)
        labels_seen.setdefault(key, set()).add(label_of(feedback))
    conflicting = {key for key, labels in labels_seen.items() if len(labels) > 1}
    kept = {k: v for k, v in newest.items() if k not in conflicting and k not in untouchable and k}
    parts: dict[str, list[Tweet]] = {"train": [], "held_out": []}
    for key, (label, record) in sorted(kept.items()):
        bucket = int.from_bytes(hashlib.sha256((SLICE_SALT + key).encode("utf-8")).digest()[:8], "big") % 100
        part = "held_out" if bucket < holdout_percent else "train"
        parts[part].append(Tweet(record["feedback"]["text"], label, distill.FEEDBACK_SOURCE))

    def summary(tweets: list[Tweet]) -> dict:
        digest = hashlib.sha256(json.dumps([[t.text, t.label] for t in tweets]).encode("utf-8")).hexdigest()
        return {"count": len(tweets), "positive": sum(t.label for t in tweets), "sha256": digest}

    content = {part: summary(tweets) for part, tweets in parts.items()}
    version = hashlib.sha256(json.dumps(content, sort_keys=True).encode("utf-8")).hexdigest()[:12]
    models: dict[str, int] = {}
    for record in records:
        model = record["feedback"].get("model", {})
        tag = f"{model.get('name', '?')} v{model.get('version', '?')}"
        models[tag] = models.get(tag, 0) + 1
    verdicts = [r["feedback"]["verdict"] for r in records]
    manifest = {
        "version": version,
        "source": source,
        "holdout_percent": holdout_percent,
        "records": len(records),
        "rejections": verdicts.count("rejection"),
        "validations": verdicts.count("validation"),
        "repeated_tweets": len(records) - len(newest),
        "labelled_both_ways": len(conflicting),
        "in_evaluation_sets": sum(1 for k in newest if k in untouchable and k not in conflicting),
        "by_model": models,
        "received_at_ms": [min(r["received_at_ms"] for r in records), max(r["received_at_ms"] for r in records)]
        if records
        else [],
        **content,
    }
    return FeedbackSlice(version, parts["train"], parts["held_out"], manifest)


def compare(
    labels: np.ndarray,
    champion: np.ndarray,
    champion_threshold: float,
    challenger: np.ndarray,
    challenger_threshold: float,
) -> Comparison:
    champion_right = (champion >= champion_threshold).astype(int) == labels
    challenger_right = (challenger >= challenger_threshold).astype(int) == labels
    return Comparison(
        count=len(labels),
        champion_accuracy=float(champion_right.mean()) if len(labels) else 0.0,
        challenger_accuracy=float(challenger_right.mean()) if len(labels) else 0.0,
        challenger_only=int(np.sum(challenger_right & ~champion_right)),
        champion_only=int(np.sum(champion_right & ~challenger_right)),
    )


def decide(comparisons: dict[str, Comparison]) -> Decision:
    """The promotion rule (module docstring), with the reason for each part."""
    reasons = []
    feedback = comparisons[FEEDBACK_SET]
    b, c = feedback.challenger_only, feedback.champion_only
    better = b + c >= MIN_DISAGREEMENTS and b - c >= 2 * math.sqrt(b + c)
    reasons.append(
        f"held-out feedback ({feedback.count}): challenger right where the champion is wrong {b} times, "
        f"the reverse {c}: {'better' if better else 'not better'} (rule: b - c >= 2 sqrt(b + c), b + c >= 5)"
    )
    not_worse = True
    for name in GUARD_SETS:
        if name not in comparisons:
            continue
        guard = comparisons[name]
        ok = guard.difference >= -guard.noise_band
        not_worse &= ok
        reasons.append(
            f"{name} ({guard.count}): accuracy {guard.champion_accuracy:.4f} -> {guard.challenger_accuracy:.4f} "
            f"({guard.difference:+.4f}, noise band {guard.noise_band:.4f}): {'within' if ok else 'WORSE than'} the band"
        )
    return Decision(better and not_worse, reasons)


def comparison_markdown(comparisons: dict[str, Comparison], decision: Decision) -> str:
    rows = "\n".join(
        f"| {name} | {c.count} | {c.champion_accuracy:.4f} | {c.challenger_accuracy:.4f} | {c.difference:+.4f} "
        f"| {c.noise_band:.4f} | {c.challenger_only} / {c.champion_only} |"
        for name, c in comparisons.items()
    )
    verdict = "promoted" if decision.promote else "not promoted"
    reasons = "\n".join(f"- {reason}" for reason in decision.reasons)
    return f"""| set | tweets | champion | challenger | difference | noise band | b / c |
|---|---|---|---|---|---|---|
{rows}

**Challenger {verdict}.**
{reasons}
"""


def plot_comparison(comparisons: dict[str, Comparison], title: str, path: Path) -> Path:
    figure = Figure(figsize=(7, 3.6))
    axes = figure.subplots()
    names = list(comparisons)
    x = np.arange(len(names))
    for offset, (who, colour) in ((-0.2, ("champion", "#9aa5b5")), (0.2, ("challenger", "#0b4f8a"))):
        values = [getattr(comparisons[n], f"{who}_accuracy") for n in names]
        axes.bar(x + offset, values, width=0.4, label=who, color=colour)
    axes.set_xticks(x, [n.replace("_", " ") for n in names], fontsize=8)
    axes.set_ylim(0, 1)
    axes.set_ylabel("accuracy")
    axes.set_title(title)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path


def untouchable_texts(corpus: Corpus) -> set[str]:
    """Normalised texts of every set the loop must not train on: validation, test, reported sets."""
    sets = [corpus.parts["validation"], corpus.parts["test"], *corpus.evaluation.values()]
    return {normalize(t.text) for tweets in sets for t in tweets}


@dataclass(frozen=True)
class Outcome:
    slice_version: str
    champion_version: str
    challenger_version: str
    decision: Decision
    comparisons: dict[str, Comparison]
    run_id: str


def improve(
    approach: str, feedback_path: Path, options: train.Options, holdout_percent: int = 30, weight: int = 10
) -> Outcome:
    tracking.configure()
    name = tracking.registered_name(approach)
    champion = tracking.resolve(name)
    corpus = train.load_training_corpus(options)
    source = {
        "file": feedback_path.name,
        "sha256": hashlib.sha256(feedback_path.read_bytes()).hexdigest(),
    }
    data = make_slice(read_feedback(feedback_path), untouchable_texts(corpus), holdout_percent, source)
    print(
        f"[improve] slice {data.version}: {data.manifest['records']} feedbacks -> "
        f"{len(data.train)} to train on, {len(data.held_out)} held out",
        flush=True,
    )
    if not data.train or not data.held_out:
        raise DataError("the feedback slice needs tweets both to train on and to hold out: export more feedback")

    client = MlflowClient()
    with mlflow.start_run(run_name=f"improve-{approach}") as parent, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        mlflow.set_tags({"approach": approach, "loop": "improve", "feedback_slice": data.version})
        mlflow.log_params(
            {"champion_version": champion.version, "holdout_percent": holdout_percent, "feedback_weight": weight}
        )
        mlflow.log_dict(data.manifest, f"feedback_slice/{data.version}/manifest.json")
        lines = [
            json.dumps({"text": t.text, "label": LABELS[t.label], "part": part})
            for part, tweets in (("train", data.train), ("held_out", data.held_out))
            for t in tweets
        ]
        mlflow.log_text("\n".join(lines) + "\n", f"feedback_slice/{data.version}/tweets.jsonl")

        challenger = train.train_and_register(
            approach, replace(options, feedback=tuple(data.train), feedback_weight=weight, promote=False), corpus
        )
        client.set_registered_model_alias(name, CHALLENGER, challenger.version)
        mlflow.log_param("challenger_version", challenger.version)
        mlflow.set_tag("challenger_run_id", challenger.run_id)

        champion_predict, champion_threshold = tracking.load_registered(name, champion.version, workdir)
        challenger_predict, challenger_threshold = tracking.load_registered(name, challenger.version, workdir)
        sets = {"test": corpus.parts["test"], **corpus.evaluation, FEEDBACK_SET: data.held_out}
        comparisons = {}
        for set_name, tweets in sets.items():
            texts, labels = [t.text for t in tweets], np.array([t.label for t in tweets])
            comparisons[set_name] = compare(
                labels,
                champion_predict(texts),
                champion_threshold,
                challenger_predict(texts),
                challenger_threshold,
            )
            mlflow.log_metrics(
                {
                    f"{set_name}_champion_accuracy": comparisons[set_name].champion_accuracy,
                    f"{set_name}_challenger_accuracy": comparisons[set_name].challenger_accuracy,
                    f"{set_name}_noise_band": comparisons[set_name].noise_band,
                }
            )
        decision = decide(comparisons)
        mlflow.log_dict({k: asdict(v) for k, v in comparisons.items()}, "comparison.json")
        mlflow.log_text(comparison_markdown(comparisons, decision), "comparison.md")
        title = f"{name}: v{champion.version} (champion) vs v{challenger.version} (challenger)"
        mlflow.log_artifact(str(plot_comparison(comparisons, title, workdir / "comparison.png")))
        mlflow.set_tag("decision", "promoted" if decision.promote else "kept champion")
        if decision.promote:
            client.set_registered_model_alias(name, tracking.CHAMPION, challenger.version)
        print(comparison_markdown(comparisons, decision), flush=True)
        if decision.promote:
            bundle = f"python -m moodwing_training.bundle --model {name} --version {challenger.version} --out DIR"
            print(
                f"[improve] {name}@champion -> v{challenger.version}: build its bundle ({bundle}), then release it "
                f"(python -m moodwing_training.release --model {name}); moodwing_training.loop does both",
                flush=True,
            )
        else:
            print(f"[improve] {name}@champion stays v{champion.version}", flush=True)
    return Outcome(data.version, str(champion.version), challenger.version, decision, comparisons, parent.info.run_id)


def add_options(parser: argparse.ArgumentParser) -> None:
    """The loop's options (also `loop`'s): the slice's split and weight, and how to retrain."""
    parser.add_argument("--holdout-percent", type=int, default=30, help="share of the feedback held out (default 30)")
    parser.add_argument("--weight", type=int, default=10, help="times each feedback tweet is trained on (default 10)")
    parser.add_argument("--tweeteval", type=Path, default=train.AUTO, help="as for train ('none' to leave it out)")
    parser.add_argument("--teacher", default=distill.DEFAULT_TEACHER, help="lstm only, as for train")
    parser.add_argument("--sample", type=int, help="train on N corpus tweets only (smoke runs and tests)")
    parser.add_argument("--threads", type=int, default=2)


def options_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[train.Options, int, int]:
    """`add_options`' values, checked: the training options, the held-out percent and the weight."""
    if not 1 <= args.holdout_percent <= 90 or args.weight < 1:
        parser.error("--holdout-percent must be 1 to 90 and --weight at least 1")
    options = train.Options(
        tweeteval=None if str(args.tweeteval) == "none" else args.tweeteval,
        sample=args.sample,
        threads=args.threads,
        teacher=None if args.teacher == "none" else args.teacher,
    )
    return options, args.holdout_percent, args.weight


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feedback", type=Path, required=True, help="the cloud-api's export (NDJSON)")
    parser.add_argument("--approach", choices=train.APPROACHES, default="lstm", help="default: the served lstm")
    add_options(parser)
    args = parser.parse_args(argv)
    options, holdout_percent, weight = options_from(parser, args)
    improve(args.approach, args.feedback, options, holdout_percent, weight)


if __name__ == "__main__":
    main()
