"""Moodwing training: tweet sentiment models, tracked in MLflow, exported as edge bundles.

- `data`: the labelled tweets, their loaders and the fixed split
- `normalize`: the text normalisation shared with the edge model
- `tfidf`, `lstm`, `bert`: the three approaches; `neural`: what the last two share
- `metrics`: scores and plots; `tracking`: MLflow conventions
- `onnx_export`: ONNX export, int8 quantisation, onnxruntime inference
- `train` (CLI): train one approach; `bundle` (CLI): build an edge bundle from a registered model
"""
