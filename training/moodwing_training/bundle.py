"""Build an edge-model bundle from a registered MLflow model.

    python -m moodwing_training.bundle --model moodwing-lstm [--alias champion | --version N] \
        --out ../edge-model/models/lstm

The bundle is the contract with `edge-model/`:
- `model.onnx`: the registered fp32 graph quantised to int8 (MatMul, Gemm, Gather), single file;
- `tokenizer.json`: the run's tokenizer (normalisation happens before it, see `normalize.py`);
- `model.json`: name, version, labels, max length, normalisation version, metrics (fp32 and int8
  on the test split), MLflow run id, data provenance, sha256 of the other files;
- `golden.jsonl`: test tweets with their normalised text, token ids and the int8 probability
  onnxruntime gives, for the Rust parity tests.
"""

import argparse
import hashlib
import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
from tokenizers import Tokenizer

from . import tracking
from .data import LABELS, SplitConfig, load_dataset, split_manifest
from .metrics import classification_metrics
from .neural import encode
from .normalize import NORMALIZATION_VERSION, normalize
from .onnx_export import QUANTIZED_OP_TYPES, OnnxClassifier, quantize

BUNDLE_FORMAT = 1
BUNDLE_FILES = ("model.onnx", "tokenizer.json", "golden.jsonl")
GOLDEN_COUNT = 200
MAX_ACCURACY_LOSS = 0.005  # int8 may lose at most half a point of accuracy against fp32


class BundleError(ValueError):
    """A bundle is incomplete, inconsistent, or worse than its contract allows."""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(
    name: str,
    out: Path,
    alias: str | None = tracking.CHAMPION,
    version: str | None = None,
    sentiment140: Path | None = None,
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

        split_config = SplitConfig(**logged_manifest["config"])
        parts = load_dataset(sentiment140, split_config)
        manifest = split_manifest(parts, split_config)
        if manifest["splits"] != logged_manifest["splits"]:
            raise BundleError("the data on this machine is not the data the run was trained on")

        out.mkdir(parents=True, exist_ok=True)
        quantize(fp32_dir / "model.onnx", out / "model.onnx")
        shutil.copyfile(tokenizer_path, out / "tokenizer.json")
        tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))

        test = parts["test"]
        labels = np.array([t.label for t in test])
        texts = [t.text for t in test]
        fp32 = OnnxClassifier(fp32_dir / "model.onnx", tokenizer)
        int8 = OnnxClassifier(out / "model.onnx", tokenizer)
        p_fp32, p_int8 = fp32.predict(texts), int8.predict(texts)
        metrics = {
            "fp32": classification_metrics(labels, p_fp32),
            "int8": classification_metrics(labels, p_int8),
            "validation": {k.removeprefix("val_"): v for k, v in run.data.metrics.items() if k.startswith("val_")},
        }
        latency_sample = texts[:GOLDEN_COUNT]
        for precision, path in (("int8", out / "model.onnx"), ("fp32", fp32_dir / "model.onnx")):
            deployed = OnnxClassifier(path, tokenizer, exact=False)
            metrics[precision]["latency_ms_p50_onnxruntime"] = deployed.latency_ms(latency_sample)
        metrics["fp32"]["size_mb"] = (fp32_dir / "model.onnx").stat().st_size / 1e6
        metrics["int8"]["size_mb"] = (out / "model.onnx").stat().st_size / 1e6
        loss = metrics["fp32"]["accuracy"] - metrics["int8"]["accuracy"]
        print(
            f"test accuracy fp32 {metrics['fp32']['accuracy']:.4f}, int8 {metrics['int8']['accuracy']:.4f} "
            f"(loss {loss * 100:+.2f} points)",
            flush=True,
        )
        if loss > MAX_ACCURACY_LOSS:
            raise BundleError(
                f"int8 loses {loss * 100:.2f} points of accuracy, more than {MAX_ACCURACY_LOSS * 100} allowed"
            )

        write_golden(out / "golden.jsonl", tokenizer, test[:: max(len(test) // GOLDEN_COUNT, 1)][:GOLDEN_COUNT], int8)
        max_length = int(run.data.params["max_length"])
        card = {
            "format": BUNDLE_FORMAT,
            "name": name,
            "version": str(model_version.version),
            "approach": run.data.tags.get("approach"),
            "labels": list(LABELS),
            "max_length": max_length,
            "normalization_version": NORMALIZATION_VERSION,
            "inputs": ["input_ids", "attention_mask"],
            "output": "probabilities",
            "quantization": {
                "method": "int8 weights, symmetric, per output channel, DequantizeLinear; fp32 activations",
                "op_types": QUANTIZED_OP_TYPES,
            },
            "metrics": metrics,
            "mlflow": {
                "run_id": run.info.run_id,
                "model_uri": f"models:/{name}/{model_version.version}",
                "experiment": tracking.EXPERIMENT,
            },
            "data": manifest | {"source": logged_manifest.get("source")},
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sha256": {file: sha256_of(out / file) for file in BUNDLE_FILES},
        }
        (out / "model.json").write_text(json.dumps(card, indent=2) + "\n")
        with mlflow.start_run(run_id=run.info.run_id):
            mlflow.log_metrics({f"int8_test_{k}": v for k, v in metrics["int8"].items()})
            mlflow.log_artifact(str(out / "model.json"), artifact_path="bundle")
    validate(out)
    return card


def write_golden(path: Path, tokenizer: Tokenizer, tweets, classifier: OnnxClassifier) -> None:
    texts = [t.text for t in tweets]
    with path.open("w", encoding="utf-8") as handle:
        for tweet, ids in zip(tweets, encode(tokenizer, texts), strict=True):
            line = {
                "text": tweet.text,
                "normalized": normalize(tweet.text),
                "ids": ids,
                "label": LABELS[tweet.label],
                "p_positive": classifier.predict_ids(ids),
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
    if card["metrics"]["fp32"]["accuracy"] - card["metrics"]["int8"]["accuracy"] > MAX_ACCURACY_LOSS:
        raise BundleError(f"{card_path}: int8 accuracy loss over {MAX_ACCURACY_LOSS}")
    return card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="registered model name, e.g. moodwing-lstm")
    parser.add_argument("--alias", default=tracking.CHAMPION)
    parser.add_argument("--version", help="a model version; overrides --alias")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sentiment140", type=Path, help="the Sentiment140 CSV the run was trained on, if any")
    args = parser.parse_args(argv)
    card = build(args.model, args.out, args.alias, args.version, args.sentiment140)
    print(json.dumps(card["metrics"], indent=2))


if __name__ == "__main__":
    main()
