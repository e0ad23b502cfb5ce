"""Weight-only quantisation (`onnx_export.quantize`) on a small graph: an embedding table and a MatMul."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from moodwing_training import bundle
from moodwing_training.onnx_export import quantize, session

RNG = np.random.default_rng(7)
TABLE = RNG.normal(size=(64, 64)).astype(np.float32)
WEIGHT = RNG.normal(size=(64, 32)).astype(np.float32)  # large enough to be quantised


def graph(path: Path) -> Path:
    """input_ids -> Gather(table) -> MatMul(weight) -> output."""
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["embeddings"]),
        helper.make_node("MatMul", ["embeddings", "weight"], ["output"]),
    ]
    model = helper.make_model(
        helper.make_graph(
            nodes,
            "small",
            [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [None])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, 32])],
            [numpy_helper.from_array(TABLE, "table"), numpy_helper.from_array(WEIGHT, "weight")],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    onnx.save(model, str(path))
    return path


def stored(path: Path) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def run(path: Path, ids: np.ndarray) -> np.ndarray:
    return session(path).run(None, {"input_ids": ids})[0]


@pytest.mark.parametrize("table_bits", [8, 4, 3])
def test_the_table_keeps_its_levels_and_the_matmul_int8s(tmp_path, table_bits) -> None:
    quantized = quantize(graph(tmp_path / "fp32.onnx"), tmp_path / "int8.onnx", table_bits)
    weights = stored(quantized)
    levels = 2 ** (table_bits - 1) - 1
    table, scale = weights["table_int8"], weights["table_scale"]
    assert table.dtype == np.int8 and np.abs(table).max(axis=1).tolist() == [levels] * len(TABLE)
    assert np.abs(weights["weight_int8"]).max() == 127
    # Each value is the nearest level, up to the scale's own rounding.
    assert np.all(np.abs(table * scale[:, None] - TABLE) <= 0.51 * scale[:, None])
    if table_bits < 8:  # bfloat16's precision: the two low bytes are zeros, and compress
        assert np.all(scale.view(np.uint32) & 0xFFFF == 0)
    else:  # int8's scales are exact, as before fewer levels existed
        np.testing.assert_array_equal(scale, np.abs(TABLE).max(axis=1) / 127)
    # The graph computes with exactly the stored levels and scales (one scale per output of the MatMul).
    ids = np.arange(len(TABLE), dtype=np.int64)
    expected = (table * scale[:, None]) @ (weights["weight_int8"] * weights["weight_scale"][None, :])
    np.testing.assert_allclose(run(quantized, ids), expected, rtol=1e-5, atol=1e-4)


def test_fewer_levels_compress_better(tmp_path) -> None:
    import gzip

    sizes = {
        bits: len(gzip.compress(quantize(graph(tmp_path / "fp32.onnx"), tmp_path / f"{bits}.onnx", bits).read_bytes()))
        for bits in (8, 3)
    }
    assert sizes[3] < 0.8 * sizes[8]


def test_table_bits_out_of_range_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="between 2 and 8"):
        quantize(graph(tmp_path / "fp32.onnx"), tmp_path / "int8.onnx", 1)


def test_only_the_bilstm_bundle_has_a_3_bit_table() -> None:
    assert bundle.table_bits_for("lstm") == 3
    assert bundle.table_bits_for("bert") == bundle.table_bits_for(None) == 8
