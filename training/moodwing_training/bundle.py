"""Build an edge-model bundle from a registered MLflow model.

    python -m moodwing_training.bundle --model moodwing-lstm [--alias champion | --version N] \
        [--min-count N] [--table-bits B] --out ../edge-model/models/lstm

The bundle is the contract with `edge-model/`:
- `model.onnx`: the registered fp32 graph, its vocabulary pruned to the pieces our tweets use
  (`vocab.py`), quantised to int8 (MatMul, Gemm, Gather, LSTM weights; the embedding table may use
  fewer levels, `--table-bits`, so that it compresses in transit), single file;
- `tokenizer.json`: the run's tokenizer over the same pruned vocabulary (normalisation happens
  before it, see `normalize.py`);
- `model.json`: name, version, labels, max length, normalisation version, the decision threshold
  and calibration temperature chosen on validation, the vocabulary kept, metrics (fp32 as
  registered and int8 as served, on every reported set:
  validation, our test split, TweetEval emotion test, the external TweetEval sentiment set), MLflow
  run id, the data manifest of every source (counts and sha256, no text), sha256 of the other files;
- `model_card.md`: the same figures for people, with the error analysis of the served model;
- `golden.jsonl`: test tweets with their normalised text, token ids, the int8 probability
  onnxruntime gives and the label at the threshold, for the Rust parity tests.
"""

import argparse
import hashlib
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
import onnx
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from tokenizers import Tokenizer

from . import report, tracking, tweeteval, vocab
from .corpus import EXTERNAL, load_corpus
from .data import LABELS, SplitConfig
from .metrics import classification_metrics
from .neural import encode
from .normalize import NORMALIZATION_VERSION, normalize
from .onnx_export import QUANTIZED_OP_TYPES, OnnxClassifier, quantize

BUNDLE_PATH = "bundle"  # where a version's run holds its bundle
MODEL_JSON_SHA256 = "bundle.model_json_sha256"  # the version's tag naming its bundle's model.json
BUNDLE_FORMAT = 2  # 2: threshold, temperature, metrics per reported set
BUNDLE_FILES = ("model.onnx", "tokenizer.json", "golden.jsonl")
MODEL_CARD = "model_card.md"  # for people; not part of the contract
GOLDEN_COUNT = 200
MAX_ACCURACY_LOSS = 0.005  # int8 may lose at most half a point of accuracy against fp32
# ... judged on sets large enough that one tweet is a tenth of a point, not more than the budget.
MIN_TWEETS_FOR_LOSS = 1000
# Levels of the embedding table, per approach (8 when not named). The BiLSTM's 24,102 x 128 table is
# most of what the browser downloads: at 3 bits it compresses to 1.1 MB instead of 3.1 MB (gzip) and
# scores validation as at 8 (moodwing-lstm v3: ROC AUC 0.9481 vs 0.9485, accuracy 0.895 vs 0.892).
TABLE_BITS = {"lstm": 3}


def table_bits_for(approach: str | None) -> int:
    return TABLE_BITS.get(approach or "", 8)


class BundleError(ValueError):
    """A bundle is incomplete, inconsistent, or worse than its contract allows."""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def log_bundle(folder: Path, version: ModelVersion) -> None:
    """Log a built bundle into `version`'s run and name its model.json on the version, so that
    `release` can fetch it back from the registry and check it whole."""
    client = MlflowClient()
    for file in (*BUNDLE_FILES, "model.json", MODEL_CARD):
        client.log_artifact(version.run_id, str(folder / file), BUNDLE_PATH)
    client.set_model_version_tag(version.name, version.version, MODEL_JSON_SHA256, sha256_of(folder / "model.json"))


def build(
    name: str,
    out: Path,
    alias: str | None = tracking.CHAMPION,
    version: str | None = None,
    sentiment140: Path | None = None,
    tweeteval_dir: Path | None = None,
    min_count: int = vocab.MIN_COUNT,
    table_bits: int | None = None,
) -> dict:
    tracking.configure()
    model_version = tracking.resolve(name, alias, version)
    run = mlflow.get_run(model_version.run_id)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        fp32_dir = Path(
            mlflow.artifacts.download_artifacts(
                f"models:/{name}/{model_version.version}", dst_path=str(workdir / "fp32")
            )
        )
        tokenizer_path = Path(
            mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id, artifact_path="tokenizer/tokenizer.json", dst_path=str(workdir)
            )
        )
        logged_manifest = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/data/split_manifest.json")

        corpus = load_corpus(sentiment140, tweeteval_dir, SplitConfig(**logged_manifest["config"]))
        for key in ("splits", "evaluation", "unlabelled"):
            if corpus.manifest[key] != logged_manifest.get(key):
                raise BundleError(f"the data on this machine is not the data the run was trained on ({key} differ)")

        out.mkdir(parents=True, exist_ok=True)
        fp32_tokenizer = Tokenizer.from_file(str(tokenizer_path))
        print("pruning the vocabulary to the pieces the training texts use", flush=True)
        training_texts = [t.text for t in corpus.parts["train"]] + corpus.unlabelled
        pruned = vocab.prune(fp32_tokenizer, onnx.load(str(fp32_dir / "model.onnx")), training_texts, min_count)
        print(f"kept {pruned.summary['pieces']} of {pruned.summary['pieces_before']} pieces", flush=True)
        onnx.save(pruned.model, str(workdir / "pruned.onnx"))
        if table_bits is None:
            table_bits = table_bits_for(run.data.tags.get("approach"))
        quantize(workdir / "pruned.onnx", out / "model.onnx", table_bits)
        pruned.tokenizer.save(str(out / "tokenizer.json"), pretty=False)  # read and hashed at every load
        tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))

        threshold = float(run.data.metrics["threshold"])
        # fp32: the registered model as trained; int8: the served one (pruned, then quantised).
        fp32 = OnnxClassifier(fp32_dir / "model.onnx", fp32_tokenizer)
        int8 = OnnxClassifier(out / "model.onnx", tokenizer)
        metrics: dict = {"fp32": {}, "int8": {}}
        served: dict = {}  # set -> (tweets, int8 scores), for the error analysis
        for set_name, tweets in corpus.reported_sets().items():
            print(f"scoring {set_name} ({len(tweets)} tweets) in fp32 and int8", flush=True)
            labels, texts = np.array([t.label for t in tweets]), [t.text for t in tweets]
            for precision, classifier in (("fp32", fp32), ("int8", int8)):
                p_positive = classifier.predict(texts)
                scores = classification_metrics(labels, p_positive, threshold)
                metrics[precision][set_name] = scores | {"tweets": len(tweets)}
                if precision == "int8" and set_name != "validation":
                    served[set_name] = (tweets, p_positive)
        test = corpus.parts["test"]
        latency_sample = [t.text for t in test[:GOLDEN_COUNT]]
        metrics["latency_ms_p50_onnxruntime"] = {
            precision: OnnxClassifier(path, precision_tokenizer, exact=False).latency_ms(latency_sample)
            for precision, path, precision_tokenizer in (
                ("int8", out / "model.onnx", tokenizer),
                ("fp32", fp32_dir / "model.onnx", fp32_tokenizer),
            )
        }
        metrics["size_mb"] = {
            "int8": (out / "model.onnx").stat().st_size / 1e6,
            "fp32": (fp32_dir / "model.onnx").stat().st_size / 1e6,
        }
        try:
            check_quantization_loss(metrics)
        except BundleError as error:
            if table_bits < 8:
                hint = f"embedding table at {table_bits} bits; --table-bits 8 keeps int8's"
                raise BundleError(f"{error} ({hint})") from error
            raise
        for set_name in metrics["int8"]:
            fp32_accuracy, int8_accuracy = metrics["fp32"][set_name]["accuracy"], metrics["int8"][set_name]["accuracy"]
            print(f"{set_name}: accuracy fp32 {fp32_accuracy:.4f}, int8 {int8_accuracy:.4f}", flush=True)

        golden = test[:: max(len(test) // GOLDEN_COUNT, 1)][:GOLDEN_COUNT]
        write_golden(out / "golden.jsonl", tokenizer, golden, int8, threshold)
        max_length = int(run.data.params["max_length"])
        card = {
            "format": BUNDLE_FORMAT,
            "name": name,
            "version": str(model_version.version),
            "approach": run.data.tags.get("approach"),
            "labels": list(LABELS),
            "max_length": max_length,
            "threshold": threshold,
            "calibration": {
                "method": "temperature scaling on validation (class-balanced log-likelihood), folded into the graph",
                "temperature": float(run.data.params.get("temperature", "1")),
            },
            "normalization_version": NORMALIZATION_VERSION,
            "inputs": ["input_ids", "attention_mask"],
            "output": "probabilities",
            "vocabulary": pruned.summary,
            "quantization": {
                "method": "int8 weights, symmetric, per output channel, DequantizeLinear; fp32 activations",
                "op_types": QUANTIZED_OP_TYPES,
                "table_bits": table_bits,
            },
            "metrics": metrics,
            "mlflow": {
                "run_id": run.info.run_id,
                "model_uri": f"models:/{name}/{model_version.version}",
                "experiment": tracking.EXPERIMENT,
            },
            "data": corpus.manifest,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sha256": {file: sha256_of(out / file) for file in BUNDLE_FILES},
        }
        (out / "model.json").write_text(json.dumps(card, indent=2) + "\n")
        (out / MODEL_CARD).write_text(model_card(card, report.error_analysis_markdown(served, threshold)))
        with mlflow.start_run(run_id=run.info.run_id):
            mlflow.log_metrics(
                {f"int8_{name}_{k}": v for name, scores in metrics["int8"].items() for k, v in scores.items()}
            )
    validate(out)
    log_bundle(out, model_version)
    return card


def model_card(card: dict, error_analysis: str) -> str:
    """The served model's card, for people: what it is, how it scores as served, where it fails."""
    rows = "\n".join(
        f"| {set_name} | {s['tweets']} | {s['accuracy']:.3f} | {s['balanced_accuracy']:.3f} | {s['roc_auc']:.3f} "
        f"| {s['ece']:.3f} |"
        for set_name, s in card["metrics"]["int8"].items()
    )
    vocabulary = card["vocabulary"]
    return f"""# {card["name"]} v{card["version"]}, as served

{card["approach"]} model, MLflow run `{card["mlflow"]["run_id"]}`. A tweet is `positive` when its
calibrated score reaches {card["threshold"]:.3f} (best balanced accuracy on validation; temperature
{card["calibration"]["temperature"]:.2f}). Served as int8 weights with a vocabulary of {vocabulary["pieces"]:,}
word pieces (of {vocabulary["pieces_before"]:,}: those our training tweets use), which these scores include.
`{EXTERNAL}` is TweetEval sentiment/val, never trained or tuned on.

| set | tweets | accuracy | balanced accuracy | ROC AUC | ECE |
|---|---|---|---|---|---|
{rows}

## Where it fails

{error_analysis}
"""


def check_quantization_loss(metrics: dict) -> None:
    """int8 may lose at most MAX_ACCURACY_LOSS of accuracy against fp32, on every large reported set."""
    for set_name, scores in metrics["int8"].items():
        if scores["tweets"] < MIN_TWEETS_FOR_LOSS:
            continue
        loss = metrics["fp32"][set_name]["accuracy"] - scores["accuracy"]
        if loss > MAX_ACCURACY_LOSS:
            raise BundleError(
                f"int8 loses {loss * 100:.2f} points of accuracy on {set_name}, "
                f"more than {MAX_ACCURACY_LOSS * 100} allowed"
            )


def write_golden(path: Path, tokenizer: Tokenizer, tweets, classifier: OnnxClassifier, threshold: float) -> None:
    texts = [t.text for t in tweets]
    with path.open("w", encoding="utf-8") as handle:
        for tweet, ids in zip(tweets, encode(tokenizer, texts), strict=True):
            p_positive = classifier.predict_ids(ids)
            line = {
                "text": tweet.text,
                "normalized": normalize(tweet.text),
                "ids": ids,
                "label": LABELS[tweet.label],
                "p_positive": p_positive,
                "predicted": LABELS[int(p_positive >= threshold)],
            }
            handle.write(json.dumps(line) + "\n")  # ASCII: no reader can split a tweet's U+2028


def validate(bundle: Path) -> dict:
    """Check a bundle against its contract: files present, hashes match, fields sane."""
    card_path = bundle / "model.json"
    if not card_path.is_file():
        raise BundleError(f"{bundle}: no model.json")
    card = json.loads(card_path.read_text())
    required = (
        "name",
        "version",
        "labels",
        "max_length",
        "threshold",
        "normalization_version",
        "metrics",
        "mlflow",
        "data",
        "sha256",
    )
    missing = [field for field in required if field not in card]
    if missing:
        raise BundleError(f"{card_path}: missing {', '.join(missing)}")
    if card["labels"] != list(LABELS):
        raise BundleError(f"{card_path}: labels must be {list(LABELS)}")
    if card["normalization_version"] != NORMALIZATION_VERSION:
        raise BundleError(
            f"{card_path}: normalisation version {card['normalization_version']}, "
            f"this code implements {NORMALIZATION_VERSION}"
        )
    for file in BUNDLE_FILES:
        path = bundle / file
        if not path.is_file():
            raise BundleError(f"{bundle}: no {file}")
        if sha256_of(path) != card["sha256"].get(file):
            raise BundleError(f"{path}: sha256 differs from model.json")
    if not 0.0 < card["threshold"] < 1.0:
        raise BundleError(f"{card_path}: threshold {card['threshold']} is not a probability strictly inside (0, 1)")
    try:
        check_quantization_loss(card["metrics"])
    except BundleError as error:
        raise BundleError(f"{card_path}: {error}") from None
    return card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="registered model name, e.g. moodwing-lstm")
    parser.add_argument("--alias", default=tracking.CHAMPION)
    parser.add_argument("--version", help="a model version; overrides --alias")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sentiment140", type=Path, help="the Sentiment140 CSV the run was trained on, if any")
    parser.add_argument(
        "--tweeteval",
        type=Path,
        default=tweeteval.default_dir(),
        help=f"the TweetEval folder the run was trained with (default {tweeteval.DEFAULT_DIR} when it exists)",
    )
    parser.add_argument(
        "--min-count",
        type=int,
        default=vocab.MIN_COUNT,
        help=f"keep the word pieces the training texts use at least this often (default {vocab.MIN_COUNT})",
    )
    parser.add_argument(
        "--table-bits",
        type=int,
        help=f"bits of levels in the embedding table's int8 storage (default {TABLE_BITS}, else 8)",
    )
    args = parser.parse_args(argv)
    card = build(
        args.model,
        args.out,
        args.alias,
        args.version,
        args.sentiment140,
        args.tweeteval,
        args.min_count,
        args.table_bits,
    )
    print(json.dumps(card["metrics"], indent=2))


if __name__ == "__main__":
    main()
