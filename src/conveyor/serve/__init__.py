"""The serving runtime: `model.onnx` + `signature.json` behind a strict HTTP API.

This package is what the container image carries. It imports only the standard library,
numpy, onnxruntime, msgspec and the web stack (starlette, uvicorn with uvloop and
httptools): never scikit-learn, pandas, skl2onnx, fairlearn or dvc. A test imports it in a
virtual environment that has nothing else.
"""
