"""Train one approach, evaluate it, and record everything in MLflow.

    python -m moodwing_training.train --approach tfidf|lstm|bert [--sentiment140 FILE] [--sample N]

Each run logs its parameters, per-epoch metrics, validation and test scores, latency and size,
the confusion matrix and ROC curve, a model card, and registers the model as
`moodwing-<approach>`; the best version by validation ROC-AUC carries the alias `champion`.
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

from . import bert, lstm, neural, tfidf, tracking
from .data import (
    CROWDFLOWER_PROVENANCE,
    LABELS,
    SENTIMENT140_PROVENANCE,
    SplitConfig,
    Tweet,
    load_dataset,
    split_manifest,
)
from .metrics import classification_metrics, plot_confusion_matrix, plot_roc_curve
from .normalize import NORMALIZATION_VERSION
from .onnx_export import OnnxClassifier, export

APPROACHES = ("tfidf", "lstm", "bert")
LATENCY_SAMPLE = 200


@dataclass
class Trained:
    """A trained approach, in the form it will be served."""

    predict: Callable[[list[str]], np.ndarray]
    log_model: Callable[[str], object]  # registered model name -> MLflow ModelInfo
    size_bytes: int
    params: dict
    max_length: int | None = None


def train_tfidf(parts: dict[str, list[Tweet]], sample: bool) -> Trained:
    config = tfidf.TfidfConfig(c_grid=(1.0, 4.0)) if sample else tfidf.TfidfConfig()
    pipeline, chosen = tfidf.fit(parts["train"], parts["validation"], config, _log_step)
    return Trained(
        predict=lambda texts: tfidf.predict(pipeline, texts),
        log_model=lambda name: mlflow.sklearn.log_model(
            pipeline, name="model", registered_model_name=name, skops_trusted_types=[f"{tfidf.__name__}._preprocess"]
        ),
        size_bytes=len(pickle.dumps(pipeline)),
        params={**asdict(config), **chosen},
    )


def train_neural(approach: str, parts: dict[str, list[Tweet]], sample: bool, threads: int, workdir: Path) -> Trained:
    if approach == "lstm":
        config = lstm.LstmConfig()
        if sample:
            config = replace(config, vocab_size=2000, loop=replace(config.loop, epochs=2))
        config = replace(config, loop=replace(config.loop, threads=threads))
        model, tokenizer, pad_id = lstm.build(parts["train"], config)
    else:
        config = bert.BertConfig()
        if sample:
            config = replace(config, loop=replace(config.loop, epochs=1))
        config = replace(config, loop=replace(config.loop, threads=threads))
        model, tokenizer, pad_id = bert.build(config)
    model, outcome = neural.fit(model, parts["train"], parts["validation"], tokenizer, pad_id, config.loop, _log_step)

    tokenizer_path = workdir / "tokenizer.json"
    tokenizer.save(str(tokenizer_path))
    fp32_path = export(model, workdir / "model.onnx")
    classifier = OnnxClassifier(fp32_path, tokenizer)
    _check_export(model, classifier, tokenizer, pad_id, parts["validation"][:100])

    def log_model(name: str):
        mlflow.log_artifact(str(tokenizer_path), artifact_path="tokenizer")
        return mlflow.onnx.log_model(
            onnx.load(str(fp32_path)), name="model", registered_model_name=name, save_as_external_data=False
        )

    params = {**_flatten(asdict(config)), **outcome, "parameters": sum(p.numel() for p in model.parameters())}
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


def _sample(parts: dict[str, list[Tweet]], size: int, seed: int = 7) -> dict[str, list[Tweet]]:
    rng = random.Random(seed)
    sizes = {"train": size, "validation": max(size // 4, 20), "test": max(size // 4, 20)}
    return {name: rng.sample(tweets, min(sizes[name], len(tweets))) for name, tweets in parts.items()}


def evaluate_and_log(approach: str, trained: Trained, parts: dict[str, list[Tweet]], workdir: Path) -> dict[str, float]:
    scores: dict[str, float] = {}
    for split_name, prefix in (("validation", "val"), ("test", "test")):
        tweets = parts[split_name]
        labels = np.array([t.label for t in tweets])
        p_positive = trained.predict([t.text for t in tweets])
        scores.update({f"{prefix}_{k}": v for k, v in classification_metrics(labels, p_positive).items()})
        if split_name == "test":
            title = f"{approach} — test split"
            mlflow.log_artifact(
                str(plot_confusion_matrix(labels, p_positive, title, workdir / "confusion_matrix.png")), "plots"
            )
            mlflow.log_artifact(str(plot_roc_curve(labels, p_positive, title, workdir / "roc_curve.png")), "plots")
    sample = [t.text for t in parts["test"][:LATENCY_SAMPLE]]
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
    return f"""# moodwing-{approach}

Binary tweet sentiment ({" / ".join(LABELS)}), trained by `python -m moodwing_training.train --approach {approach}`.

## Data
{manifest["source"]}

{json.dumps(manifest["splits"], indent=2)}

Text normalisation version {NORMALIZATION_VERSION} (URLs, @mentions, HTML entities, repeated letters).

## Scores (validation selects, test reports)
| metric | value |
|---|---|
{rows}

## Parameters
```
{json.dumps(params, indent=2, default=str)}
```

## Limits
English tweets only; labels are human judgements of 2015 tweets (airlines, brands, news topics),
so vocabulary drift and sarcasm are the expected failure modes. Review rejected predictions.
"""


def run(
    approach: str, sentiment140: Path | None = None, sample: int | None = None, threads: int = 2
) -> dict[str, float]:
    split_config = SplitConfig()
    parts = load_dataset(sentiment140, split_config)
    manifest = split_manifest(parts, split_config)
    manifest["source"] = SENTIMENT140_PROVENANCE if sentiment140 else CROWDFLOWER_PROVENANCE
    if sample:
        parts = _sample(parts, sample)
    print(f"[{approach}] " + ", ".join(f"{k} {len(v)}" for k, v in parts.items()), flush=True)

    tracking.configure()
    with mlflow.start_run(run_name=approach) as active, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        mlflow.set_tags({"approach": approach, "sample": str(sample or "full"), "data_source": manifest["source"]})
        mlflow.log_dict(manifest, "data/split_manifest.json")
        mlflow.log_params(
            {
                "normalization_version": NORMALIZATION_VERSION,
                **{f"data.{k}.count": v["count"] for k, v in manifest["splits"].items()},
            }
        )
        trained = (
            train_tfidf(parts, bool(sample))
            if approach == "tfidf"
            else train_neural(approach, parts, bool(sample), threads, workdir)
        )
        mlflow.log_params({k: str(v)[:500] for k, v in _flatten(trained.params).items()})
        if trained.max_length:
            mlflow.log_param("max_length", trained.max_length)
        scores = evaluate_and_log(approach, trained, parts, workdir)
        mlflow.log_text(model_card(approach, scores, manifest, trained.params), "model_card.md")
        name = tracking.registered_name(approach)
        info = trained.log_model(name)
        version = mlflow.MlflowClient().get_model_version(name, str(info.registered_model_version))
        promoted = tracking.promote_if_best(name, version)
        print(
            f"[{approach}] run {active.info.run_id}: registered {name} v{version.version}"
            f"{' (champion)' if promoted else ''}",
            flush=True,
        )
        print(json.dumps(scores, indent=2))
    return scores


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--approach", choices=APPROACHES, required=True)
    parser.add_argument(
        "--sentiment140", type=Path, help="train on this Sentiment140 CSV instead of the default corpus"
    )
    parser.add_argument("--sample", type=int, help="train on N tweets only (smoke runs and tests)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch (default 2)")
    args = parser.parse_args(argv)
    run(args.approach, args.sentiment140, args.sample, args.threads)


if __name__ == "__main__":
    main()
