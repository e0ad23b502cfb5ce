"""Bundles: built from a registered model, validated, and the committed ones checked with onnxruntime."""

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from mlflow import MlflowClient
from onnx import numpy_helper
from tokenizers import Tokenizer

from moodwing_training import bundle
from moodwing_training.neural import encode
from moodwing_training.normalize import normalize
from moodwing_training.onnx_export import OnnxClassifier

MODELS = Path(__file__).resolve().parents[2] / "edge-model" / "models"
COMMITTED = sorted(p for p in MODELS.iterdir() if (p / "model.json").is_file())


def stored_table(graph: onnx.ModelProto) -> np.ndarray:
    """The int8 embedding table: the initializer dequantized into the Gather that reads input_ids."""
    gather = next(n for n in graph.graph.node if n.op_type == "Gather" and "input_ids" in n.input)
    source = {n.output[0]: n.input[0] for n in graph.graph.node if n.op_type == "DequantizeLinear"}
    return numpy_helper.to_array(next(t for t in graph.graph.initializer if t.name == source[gather.input[0]]))


@pytest.fixture(scope="module")
def built(lstm_run, tweeteval_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "lstm"
    # int8's levels: the fixture's model is trained on a sample, too little for a 3-bit table to stay
    # within the int8-vs-fp32 budget every time (test_quantize.py checks the fewer levels).
    bundle.build("moodwing-lstm", out, tweeteval_dir=tweeteval_dir, table_bits=8)
    return out


def test_built_bundle_is_complete_and_int8(built) -> None:
    card = bundle.validate(built)
    assert card["name"] == "moodwing-lstm" and card["labels"] == ["negative", "positive"]
    graph = onnx.load(str(built / "model.onnx"))
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.graph.initializer)
    ops = {n.op_type for n in graph.graph.node}
    assert "DequantizeLinear" in ops and "DynamicQuantizeLinear" not in ops
    # The embedding table reaches its Gather through a DequantizeLinear of an int8 initializer.
    int8 = {t.name for t in graph.graph.initializer if t.data_type == onnx.TensorProto.INT8}
    dequantized = {n.output[0]: n.input[0] for n in graph.graph.node if n.op_type == "DequantizeLinear"}
    gather = next(n for n in graph.graph.node if n.op_type == "Gather")
    assert dequantized.get(gather.input[0]) in int8
    # So do the LSTM's input and recurrence weights (W, R); its biases stay fp32.
    lstm = next(n for n in graph.graph.node if n.op_type == "LSTM")
    assert dequantized.get(lstm.input[1]) in int8 and dequantized.get(lstm.input[2]) in int8
    assert card["metrics"]["size_mb"]["int8"] < card["metrics"]["size_mb"]["fp32"]
    for precision in ("fp32", "int8"):
        assert set(card["metrics"][precision]) == {
            "validation",
            "test",
            "tweeteval_emotion_test",
            "tweeteval_sentiment",
        }
    assert card["threshold"] == pytest.approx(
        MlflowClient().get_run(card["mlflow"]["run_id"]).data.metrics["threshold"]
    )
    # The manifest names every source and counts every set, and holds no tweet.
    assert [s["name"] for s in card["data"]["sources"]] == ["crowdflower", "tweeteval"]
    assert card["data"]["unlabelled"]["count"] > 0
    # The vocabulary is pruned to the pieces the training texts use, the graph's table with it.
    vocabulary = card["vocabulary"]
    assert vocabulary["pieces"] < vocabulary["pieces_before"]
    assert Tokenizer.from_file(str(built / "tokenizer.json")).get_vocab_size() == vocabulary["pieces"]
    table = stored_table(graph)
    assert table.shape[0] == vocabulary["pieces"]
    assert card["quantization"]["table_bits"] == 8
    assert np.abs(table).max() == 127
    model_card = (built / bundle.MODEL_CARD).read_text()
    assert "## Where it fails" in model_card and "| negation |" in model_card
    lines = [json.loads(line) for line in (built / "golden.jsonl").read_text(encoding="ascii").splitlines()]
    assert 20 <= len(lines) <= bundle.GOLDEN_COUNT
    for line in lines:
        assert line["predicted"] == ("positive" if line["p_positive"] >= card["threshold"] else "negative")


def test_bundle_refuses_other_data(lstm_run, tmp_path) -> None:
    with pytest.raises(bundle.BundleError, match="not the data the run was trained on"):
        bundle.build("moodwing-lstm", tmp_path / "lstm", tweeteval_dir=None)


def test_tampered_bundle_is_rejected(built, tmp_path) -> None:
    copy = shutil.copytree(built, tmp_path / "copy")
    with (copy / "tokenizer.json").open("a") as handle:
        handle.write(" ")
    with pytest.raises(bundle.BundleError, match=r"tokenizer\.json: sha256 differs"):
        bundle.validate(copy)
    shutil.copyfile(built / "tokenizer.json", copy / "tokenizer.json")
    bundle.validate(copy)
    (copy / "golden.jsonl").unlink()
    with pytest.raises(bundle.BundleError, match=r"no golden\.jsonl"):
        bundle.validate(copy)


def test_there_are_committed_bundles() -> None:
    assert {p.name for p in COMMITTED} >= {"lstm", "bert"}


@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_committed_bundle_matches_its_golden(path: Path) -> None:
    card = bundle.validate(path)
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    classifier = OnnxClassifier(path / "model.onnx", tokenizer)
    golden = [json.loads(line) for line in (path / "golden.jsonl").read_text(encoding="ascii").splitlines()]
    assert len(golden) == bundle.GOLDEN_COUNT
    for line in golden:
        assert normalize(line["text"]) == line["normalized"]
        assert encode(tokenizer, [line["text"]])[0] == line["ids"]
    p = np.array([classifier.predict_ids(line["ids"]) for line in golden])
    np.testing.assert_allclose(p, [line["p_positive"] for line in golden], atol=1e-5)
    # The embedding table uses the levels model.json says (older bundles: int8's).
    levels = 2 ** (card["quantization"].get("table_bits", 8) - 1) - 1
    assert np.abs(stored_table(onnx.load(str(path / "model.onnx")))).max() == levels
    assert [line["predicted"] for line in golden] == ["positive" if x >= card["threshold"] else "negative" for x in p]
