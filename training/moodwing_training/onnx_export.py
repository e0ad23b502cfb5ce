"""ONNX export, int8 quantisation and onnxruntime inference, as the edge model will run it:
inputs `input_ids` and `attention_mask` (int64, [batch, tokens]), output `probabilities` ([batch, 2]),
one tweet at a time at its real token length."""

import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from tokenizers import Tokenizer
from torch import nn

from .neural import encode

INPUT_NAMES = ["input_ids", "attention_mask"]
OUTPUT_NAME = "probabilities"
OPSET = 17
# tract implements neither com.microsoft:DynamicQuantizeLSTM nor the fused attention ops,
# so only these op types are quantised, on the plain (unoptimised) export.
QUANTIZED_OP_TYPES = ["MatMul", "Gemm", "Gather"]


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


def quantize(fp32_path: Path, int8_path: Path) -> Path:
    quantize_dynamic(
        str(fp32_path), str(int8_path), weight_type=QuantType.QInt8, op_types_to_quantize=QUANTIZED_OP_TYPES
    )
    onnx.checker.check_model(str(int8_path))
    return int8_path


class OnnxClassifier:
    """An ONNX classifier and its tokenizer, run by onnxruntime on one CPU thread."""

    def __init__(self, model_path: Path, tokenizer: Tokenizer):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
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
