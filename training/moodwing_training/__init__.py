"""Moodwing training: tweet sentiment models, tracked in MLflow, exported as edge bundles.

- `data`: the labelled tweets, their loaders and the fixed split
- `normalize`: the text normalisation shared with the edge model
- `tfidf`, `lstm`, `bert`: the three approaches; `neural`: what the last two share
- `metrics`: scores and plots; `tracking`: MLflow conventions and loading a registered version
- `onnx_export`: ONNX export, int8 quantisation, onnxruntime inference
- `train` (CLI): train one approach; `bundle` (CLI): build an edge bundle from a registered model
- `improve` (CLI): the improvement loop: exported feedback -> data slice -> challenger -> promotion rule
"""
