"""ONNX export, int8 quantisation and onnxruntime inference, as the edge model will run it:
inputs `input_ids` and `attention_mask` (int64, [batch, tokens]), output `probabilities` ([batch, 2]),
one tweet at a time at its real token length.

Quantisation stores the weights of MatMul, Gemm, Gather and LSTM as int8 (symmetric, one scale per
output channel) behind a `DequantizeLinear`; activations stay fp32. onnxruntime's `quantize_dynamic` also
quantises activations at run time, and for the fine-tuned MiniLM that is chaotic: its scores moved by
up to 0.02 between onnxruntime's own optimised and plain graphs, and by up to 0.06 between
onnxruntime and tract, on the same file. Weight-only int8 keeps the 4x smaller file and gives the
same scores in every runtime that follows the ONNX semantics (tract within 2e-6 of onnxruntime).
onnxruntime runs here with graph optimisations off, because its optimiser rewrites
DequantizeLinear + MatMul into a dynamically quantised MatMul, which is that chaos again."""

import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper
from tokenizers import Tokenizer
from torch import nn

from .neural import encode

INPUT_NAMES = ["input_ids", "attention_mask"]
OUTPUT_NAME = "probabilities"
OPSET = 17
# Weights feeding these ops (MatMul/Gemm input B, Gather's table, the LSTM's W and R) are stored as
# int8; runtimes fold the DequantizeLinear of a constant once, at load (tract does), so only the file
# and the download shrink, and the LSTM still runs in fp32.
QUANTIZED_OP_TYPES = ["MatMul", "Gemm", "Gather", "LSTM"]
MIN_QUANTIZED_ELEMENTS = 1024  # biases and tiny tables stay fp32


def export(model: nn.Module, path: Path, example_length: int = 12) -> Path:
    model.eval()
    ids = torch.ones((1, example_length), dtype=torch.long)
    mask = torch.ones((1, example_length), dtype=torch.long)
    axes = {
        "input_ids": {0: "batch", 1: "tokens"},
        "attention_mask": {0: "batch", 1: "tokens"},
        OUTPUT_NAME: {0: "batch"},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(
            model,
            (ids, mask),
            str(path),
            input_names=INPUT_NAMES,
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    onnx.checker.check_model(str(path), full_check=True)
    return path


def quantize(fp32_path: Path, int8_path: Path, table_bits: int = 8) -> Path:
    """Store every large weight of MatMul, Gemm, Gather and LSTM as int8 + per-channel scales. An
    embedding table (Gather's) uses only the levels of `table_bits` bits: stored as int8 all the
    same, so runtimes see no difference, its bytes carry fewer bits of information, which gzip and
    brotli take out in transit."""
    if not 2 <= table_bits <= 8:
        raise ValueError(f"table_bits must be between 2 and 8, not {table_bits}")
    model = onnx.load(str(fp32_path))
    graph = model.graph
    uses: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for position, name in enumerate(node.input):
            uses.setdefault(name, []).append((node, position))
    dequantize_nodes = []
    for initializer in list(graph.initializer):
        consumers = uses.get(initializer.name, [])
        weight = numpy_helper.to_array(initializer)
        if not consumers or weight.dtype != np.float32 or weight.size < MIN_QUANTIZED_ELEMENTS:
            continue
        if all(node.op_type == "LSTM" and position in (1, 2) for node, position in consumers) and weight.ndim == 3:
            axis = 1  # W or R, [directions, 4 x hidden, inputs]: one scale per gate row, both directions
        elif weight.ndim != 2:
            continue
        elif all(node.op_type == "Gather" and position == 0 for node, position in consumers):
            axis = 0  # an embedding table: one scale per row (token)
        elif all(node.op_type in ("MatMul", "Gemm") and position == 1 for node, position in consumers):
            axis = 0 if any(_transposes_b(node) for node, _ in consumers) else 1  # one scale per output
        else:
            continue
        levels = 2 ** (table_bits - 1) - 1 if consumers[0][0].op_type == "Gather" else 127
        scale, quantized = _quantize_along(weight, axis, levels)
        graph.initializer.remove(initializer)
        graph.initializer.extend(
            [
                numpy_helper.from_array(quantized, f"{initializer.name}_int8"),
                numpy_helper.from_array(scale.astype(np.float32), f"{initializer.name}_scale"),
            ]
        )
        dequantize_nodes.append(
            helper.make_node(
                "DequantizeLinear",
                [f"{initializer.name}_int8", f"{initializer.name}_scale"],
                [initializer.name],
                axis=axis,
                name=f"{initializer.name}_dequantize",
            )
        )
    for index, node in enumerate(dequantize_nodes):
        graph.node.insert(index, node)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(int8_path))
    return int8_path


def _quantize_along(weight: np.ndarray, axis: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric quantisation, one scale per index of `axis`: its largest value on the last level.
    With fewer levels than int8's, the scales keep bfloat16's 8 significant bits (their error is
    far below a level's): their two low bytes are then zeros, which compress."""
    others = tuple(a for a in range(weight.ndim) if a != axis)
    scale = (np.abs(weight).max(axis=others) / levels).astype(np.float32)
    scale[scale == 0] = 1.0
    if levels < 127:
        scale = ((scale.view(np.uint32) + 0x8000) & 0xFFFF0000).view(np.float32)
    shape = [1] * weight.ndim
    shape[axis] = -1
    quantized = np.clip(np.round(weight / scale.reshape(shape)), -levels, levels).astype(np.int8)
    return scale, quantized


def _transposes_b(node: onnx.NodeProto) -> bool:
    return node.op_type == "Gemm" and any(a.name == "transB" and a.i == 1 for a in node.attribute)


def session(model_path: Path, exact: bool = True) -> ort.InferenceSession:
    """onnxruntime on one CPU thread; `exact` runs the graph as written (see `OnnxClassifier`)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    if exact:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


class OnnxClassifier:
    """An ONNX classifier and its tokenizer, run by onnxruntime on one CPU thread.

    `exact` runs the graph as written (the reference for metrics and `golden.jsonl`); otherwise
    onnxruntime optimises it as a deployment would, which is faster but rewrites the int8 MatMuls.
    """

    def __init__(self, model_path: Path, tokenizer: Tokenizer, exact: bool = True):
        self.session = session(model_path, exact)
        self.tokenizer = tokenizer

    def predict_ids(self, ids: Sequence[int]) -> float:
        input_ids = np.asarray([ids], dtype=np.int64)
        feeds = {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)}
        return float(self.session.run([OUTPUT_NAME], feeds)[0][0, 1])

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.predict_ids(ids) for ids in encode(self.tokenizer, texts)])

    def latency_ms(self, texts: Sequence[str]) -> float:
        """Median wall time of tokenising and scoring one tweet, over `texts`."""
        timings = []
        for text in texts:
            started = time.perf_counter()
            self.predict([text])
            timings.append((time.perf_counter() - started) * 1000)
        return float(np.median(timings))
