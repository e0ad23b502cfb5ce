"""Train one approach, evaluate it, and record everything in MLflow.

    python -m moodwing_training.train --approach tfidf|lstm|bert [--tweeteval DIR] [--sentiment140 FILE]
        [--teacher moodwing-bert@champion | --teacher none] [--embeddings minilm|learned] [--sample N]

Each run logs its parameters, per-epoch metrics, the scores on every reported set (validation, our
test split, TweetEval emotion test, the external TweetEval sentiment set), latency and size, the
confusion matrix, ROC curve and reliability diagram, a model card, and registers the model as
`moodwing-<approach>`; the best version by validation ROC-AUC carries the alias `champion`.

Every model is calibrated on validation (temperature scaling, folded into the exported graph) and
gets a decision threshold chosen on validation; neither ever looks at the reported sets.
`lstm` is a student distilled from the `bert` teacher's probabilities (train that first).
"""

import argparse
import json
import pickle
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import mlflow
import numpy as np
import onnx

from . import bert, distill, lstm, neural, tfidf, tracking, tweeteval
from .corpus import EXTERNAL, Corpus, load_corpus
from .data import LABELS, Tweet
from .metrics import (
    choose_threshold,
    classification_metrics,
    plot_confusion_matrix,
    plot_reliability,
    plot_roc_curve,
)
from .normalize import NORMALIZATION_VERSION
from .onnx_export import OnnxClassifier, export

APPROACHES = ("tfidf", "lstm", "bert")
LATENCY_SAMPLE = 200
AUTO = Path("auto")  # --tweeteval default: the shared copy beside the repository, when it exists
SET_PREFIXES = {"validation": "val", "test": "test"}  # other reported sets keep their own name


@dataclass
class Trained:
    """A trained approach, in the form it will be served."""

    predict: Callable[[list[str]], np.ndarray]
    log_model: Callable[[str], object]  # registered model name -> MLflow ModelInfo
    size_bytes: int
    params: dict
    max_length: int | None = None


def train_tfidf(corpus: Corpus, sample: bool) -> Trained:
    config = tfidf.TfidfConfig(c_grid=(1.0, 4.0)) if sample else tfidf.TfidfConfig()
    pipeline, chosen = tfidf.fit(corpus.parts["train"], corpus.parts["validation"], config, _log_step)
    temperature = tfidf.calibrate(pipeline, corpus.parts["validation"])
    return Trained(
        predict=lambda texts: tfidf.predict(pipeline, texts),
        log_model=lambda name: mlflow.sklearn.log_model(
            pipeline, name="model", registered_model_name=name, skops_trusted_types=[f"{tfidf.__name__}._preprocess"]
        ),
        size_bytes=len(pickle.dumps(pipeline)),
        params={**asdict(config), **chosen, "temperature": temperature},
    )


def train_neural(approach: str, corpus: Corpus, options: "Options", workdir: Path) -> Trained:
    train, validation = corpus.parts["train"], corpus.parts["validation"]
    texts, targets = [t.text for t in train], neural.one_hot([t.label for t in train])
    extra: dict = {}
    if approach == "lstm":
        config = lstm.LstmConfig(embeddings=options.embeddings)
        if options.sample:
            config = replace(config, vocab_size=2000, loop=replace(config.loop, epochs=2))
        config = replace(config, loop=replace(config.loop, threads=options.threads))
        if options.teacher:
            texts, targets, extra = distill.student_targets(corpus, options.teacher, config.distill_alpha, workdir)
        model, tokenizer, pad_id = lstm.build(texts, config)
    else:
        config = bert.BertConfig()
        if options.sample:
            config = replace(config, loop=replace(config.loop, epochs=1))
        config = replace(config, loop=replace(config.loop, threads=options.threads))
        model, tokenizer, pad_id = bert.build(config)
    print(f"[{approach}] training on {len(texts)} tweets", flush=True)
    model, outcome = neural.fit(model, texts, targets, validation, tokenizer, pad_id, config.loop, _log_step)

    val_ids = neural.encode(tokenizer, [t.text for t in validation])
    val_labels = np.array([t.label for t in validation])
    temperature = neural.fit_temperature(neural.predict_logits(model, val_ids, pad_id), val_labels)
    neural.fold_temperature(model.head, temperature)
    print(f"[{approach}] temperature {temperature:.3f} folded into the head", flush=True)

    tokenizer_path = workdir / "tokenizer.json"
    tokenizer.save(str(tokenizer_path))
    fp32_path = export(model, workdir / "model.onnx")
    classifier = OnnxClassifier(fp32_path, tokenizer)
    _check_export(model, classifier, tokenizer, pad_id, validation[:100])

    def log_model(name: str):
        mlflow.log_artifact(str(tokenizer_path), artifact_path="tokenizer")
        return mlflow.onnx.log_model(
            onnx.load(str(fp32_path)), name="model", registered_model_name=name, save_as_external_data=False
        )

    params = {
        **_flatten(asdict(config)),
        **outcome,
        **extra,
        "temperature": temperature,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    return Trained(
        predict=classifier.predict,
        log_model=log_model,
        size_bytes=fp32_path.stat().st_size,
        params=params,
        max_length=config.max_length,
    )


def _check_export(model, classifier: OnnxClassifier, tokenizer, pad_id: int, tweets: list[Tweet]) -> None:
    """The exported graph, fed one tweet at a time, must agree with PyTorch on padded batches."""
    ids = neural.encode(tokenizer, [t.text for t in tweets])
    torch_p = neural.predict(model, ids, pad_id)
    onnx_p = np.array([classifier.predict_ids(i) for i in ids])
    worst = float(np.max(np.abs(torch_p - onnx_p)))
    print(f"export check: max |torch - onnxruntime| = {worst:.2e} over {len(ids)} tweets", flush=True)
    if worst > 1e-4:
        raise RuntimeError(f"ONNX export disagrees with PyTorch by {worst:.2e}")


def _log_step(metrics: dict[str, float], step: int) -> None:
    mlflow.log_metrics(metrics, step=step)


def _flatten(params: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _sample(corpus: Corpus, size: int, seed: int = 7) -> Corpus:
    rng = random.Random(seed)

    def take(items: list, count: int) -> list:
        return rng.sample(items, min(count, len(items)))

    small = max(size // 4, 20)
    parts = {
        "train": take(corpus.parts["train"], size),
        **{n: take(corpus.parts[n], small) for n in ("validation", "test")},
    }
    evaluation = {name: take(tweets, small) for name, tweets in corpus.evaluation.items()}
    return Corpus(parts, evaluation, take(corpus.unlabelled, size), corpus.manifest)


def set_prefix(name: str) -> str:
    return SET_PREFIXES.get(name, name)


def evaluate_and_log(approach: str, trained: Trained, corpus: Corpus, workdir: Path) -> dict[str, float]:
    """Scores on every reported set at the threshold chosen on validation, plots for the held-out ones."""
    predictions = {name: trained.predict([t.text for t in tweets]) for name, tweets in corpus.reported_sets().items()}
    labels = {name: np.array([t.label for t in tweets]) for name, tweets in corpus.reported_sets().items()}
    threshold = choose_threshold(labels["validation"], predictions["validation"])
    scores: dict[str, float] = {"threshold": threshold}
    for name, p_positive in predictions.items():
        metrics = classification_metrics(labels[name], p_positive, threshold)
        scores.update({f"{set_prefix(name)}_{k}": v for k, v in metrics.items()})
        if name in ("test", EXTERNAL):
            title = f"{approach} — {name}"
            for plot, file in (
                (lambda *a: plot_confusion_matrix(*a, threshold=threshold), "confusion_matrix"),
                (plot_roc_curve, "roc_curve"),
                (plot_reliability, "reliability"),
            ):
                path = workdir / f"{file}{'' if name == 'test' else '_' + name}.png"
                mlflow.log_artifact(str(plot(labels[name], p_positive, title, path)), "plots")
    sample = [t.text for t in corpus.parts["test"][:LATENCY_SAMPLE]]
    timings = []
    for text in sample:
        started = time.perf_counter()
        trained.predict([text])
        timings.append((time.perf_counter() - started) * 1000)
    scores["latency_ms_p50"] = float(np.median(timings))
    scores["model_size_mb"] = trained.size_bytes / 1e6
    mlflow.log_metrics(scores)
    return scores


def model_card(approach: str, scores: dict[str, float], manifest: dict, params: dict) -> str:
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(scores.items()))
    sources = "\n".join(
        f"- **{s['name']}**: {s['provenance']}" + (f" ({s['use']})" if "use" in s else "") for s in manifest["sources"]
    )
    counts = {"splits": manifest["splits"], "evaluation": manifest["evaluation"], "unlabelled": manifest["unlabelled"]}
    return f"""# moodwing-{approach}

Binary tweet sentiment ({" / ".join(LABELS)}), trained by `python -m moodwing_training.train --approach {approach}`.

## Data
{sources}

{json.dumps(counts, indent=2)}

Text normalisation version {NORMALIZATION_VERSION} (URLs, @mentions, HTML entities, repeated letters).

## Scores (validation selects, calibrates and sets the threshold; the other sets only report)
`{EXTERNAL}` is TweetEval sentiment/val (negative, positive): never trained or tuned on.

| metric | value |
|---|---|
{rows}

## Parameters
```
{json.dumps(params, indent=2, default=str)}
```

## Limits
English tweets only. The labelled tweets are human judgements of 2015 tweets (airlines, brands, news
topics) and 2016-2018 tweets read through their emotion; vocabulary drift, sarcasm and irony remain
the expected failure modes. Review rejected predictions.
"""


@dataclass(frozen=True)
class Options:
    sentiment140: Path | None = None
    tweeteval: Path | None = AUTO
    sample: int | None = None
    threads: int = 2
    teacher: str | None = distill.DEFAULT_TEACHER  # registered model URI, or None to train on labels only
    embeddings: str = "minilm"
    # The improvement loop's: tweets people labelled (their `source` is "feedback"), added to the
    # training tweets `feedback_weight` times, and whether the new version may take `champion`.
    feedback: tuple[Tweet, ...] = ()
    feedback_weight: int = 1
    promote: bool = True


@dataclass(frozen=True)
class Registered:
    """A trained, evaluated and registered model version."""

    scores: dict[str, float]
    run_id: str
    name: str
    version: str
    champion: bool


def resolve_tweeteval(option: Path | None) -> Path | None:
    if option == AUTO:
        found = tweeteval.default_dir()
        if found is None:
            print(f"no TweetEval folder at {tweeteval.DEFAULT_DIR}: training on the corpus alone", flush=True)
        return found
    return option


def run(approach: str, options: Options = Options()) -> dict[str, float]:
    return train_and_register(approach, options).scores


def load_training_corpus(options: Options) -> Corpus:
    """The corpus `train` uses with these options (sampled the same way), before any feedback."""
    corpus = load_corpus(options.sentiment140, resolve_tweeteval(options.tweeteval))
    return _sample(corpus, options.sample) if options.sample else corpus


def train_and_register(approach: str, options: Options = Options(), corpus: Corpus | None = None) -> Registered:
    """Train, evaluate, log and register one version; a run inside an active run is nested in it.
    `corpus`: the one `load_training_corpus(options)` gives, when the caller already holds it."""
    corpus = load_training_corpus(options) if corpus is None else corpus
    if options.feedback:
        train_part = corpus.parts["train"] + list(options.feedback) * options.feedback_weight
        corpus = replace(corpus, parts={**corpus.parts, "train": train_part})
    sizes = {**{k: len(v) for k, v in corpus.reported_sets().items()}, "train": len(corpus.parts["train"])}
    print(
        f"[{approach}] " + ", ".join(f"{k} {v}" for k, v in sizes.items()) + f", unlabelled {len(corpus.unlabelled)}",
        flush=True,
    )

    tracking.configure()
    nested = mlflow.active_run() is not None
    with mlflow.start_run(run_name=approach, nested=nested) as active, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sources = ", ".join(s["name"] for s in corpus.manifest["sources"])
        mlflow.set_tags({"approach": approach, "sample": str(options.sample or "full"), "data_sources": sources})
        mlflow.log_dict(corpus.manifest, "data/split_manifest.json")
        mlflow.log_params(
            {
                "normalization_version": NORMALIZATION_VERSION,
                **{f"data.{k}.count": len(v) for k, v in corpus.reported_sets().items()},
                "data.train.count": len(corpus.parts["train"]),
                "data.unlabelled.count": len(corpus.unlabelled),
                "data.feedback.count": len(options.feedback),
                "data.feedback.weight": options.feedback_weight,
            }
        )
        trained = (
            train_tfidf(corpus, bool(options.sample))
            if approach == "tfidf"
            else train_neural(approach, corpus, options, workdir)
        )
        mlflow.log_params({k: str(v)[:500] for k, v in _flatten(trained.params).items()})
        if trained.max_length:
            mlflow.log_param("max_length", trained.max_length)
        scores = evaluate_and_log(approach, trained, corpus, workdir)
        mlflow.log_text(model_card(approach, scores, corpus.manifest, trained.params), "model_card.md")
        name = tracking.registered_name(approach)
        info = trained.log_model(name)
        version = mlflow.MlflowClient().get_model_version(name, str(info.registered_model_version))
        promoted = options.promote and tracking.promote_if_best(name, version)
        print(
            f"[{approach}] run {active.info.run_id}: registered {name} v{version.version}"
            f"{' (champion)' if promoted else ''}",
            flush=True,
        )
        print(json.dumps(scores, indent=2))
    return Registered(scores, active.info.run_id, name, str(version.version), promoted)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--approach", choices=APPROACHES, required=True)
    parser.add_argument(
        "--tweeteval",
        type=Path,
        default=AUTO,
        help=f"TweetEval's datasets/ folder (default {tweeteval.DEFAULT_DIR} when it exists; 'none' to leave it out)",
    )
    parser.add_argument(
        "--sentiment140", type=Path, help="train on this Sentiment140 CSV instead of the default corpus"
    )
    parser.add_argument(
        "--teacher",
        default=distill.DEFAULT_TEACHER,
        help="lstm only: the registered teacher to distil from (default %(default)s; 'none': labels only)",
    )
    parser.add_argument(
        "--embeddings",
        choices=lstm.EMBEDDINGS,
        default="minilm",
        help="lstm only: word-piece embeddings initialised from MiniLM's (projected) or learned from scratch",
    )
    parser.add_argument("--sample", type=int, help="train on N tweets only (smoke runs and tests)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch (default 2)")
    args = parser.parse_args(argv)
    options = Options(
        sentiment140=args.sentiment140,
        tweeteval=None if str(args.tweeteval) == "none" else args.tweeteval,
        sample=args.sample,
        threads=args.threads,
        teacher=None if args.teacher == "none" else args.teacher,
        embeddings=args.embeddings,
    )
    run(args.approach, options)


if __name__ == "__main__":
    main()
