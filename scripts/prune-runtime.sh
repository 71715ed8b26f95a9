#!/usr/bin/env bash
# Remove from a runtime virtual environment the files that serving never loads, so the image
# carries only what runs. Used by the Dockerfile, the runtime-only test and the benchmark, so
# all three measure and exercise the same environment.
#   - onnxruntime/capi/libonnxruntime.so.*: the C API library for C/C++ callers; the Python
#     binding (onnxruntime_pybind11_state) links onnxruntime statically and never loads it.
#   - onnxruntime's offline tool packages (transformers, quantization, tools, datasets).
#   - numpy's build-time and test packages (f2py, distutils, tests, testing is kept: numpy
#     imports it lazily from a few public functions), and its C headers and static library
#     (_core/include, _core/lib), which only compiling against numpy reads.
#   - Source and stub files no interpreter loads: Cython sources (.pyx, .pxd: uvloop ships
#     its own), C sources and headers (.c, .h) and type stubs (.pyi).
# Usage: scripts/prune-runtime.sh VENV
set -euo pipefail

venv=${1:?usage: prune-runtime.sh VENV}
shopt -s nullglob
sites=("$venv"/lib/python3*/site-packages)
if [ "${#sites[@]}" -ne 1 ]; then
  echo "prune-runtime: expected one site-packages under $venv/lib, found ${#sites[@]}" >&2
  exit 2
fi
site=${sites[0]}
for required in onnxruntime/capi numpy/_core; do
  if [ ! -d "$site/$required" ]; then
    echo "prune-runtime: $site/$required is missing; is $venv the serving runtime?" >&2
    exit 2
  fi
done

rm -rf \
  "$site"/onnxruntime/capi/libonnxruntime.so.* \
  "$site"/onnxruntime/{transformers,quantization,tools,datasets} \
  "$site"/numpy/{f2py,distutils} \
  "$site"/numpy/_core/{include,lib}
find "$site/numpy" "$site/onnxruntime" -depth -type d -name tests -exec rm -rf {} +
find "$site" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pyi' -o -name '*.c' \
  -o -name '*.h' \) -delete
