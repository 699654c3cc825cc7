#!/usr/bin/env bash
# Set up dancenow in ./.venv: CPU PyTorch first (so pip never pulls a multi-GB CUDA build),
# then the package with its web interface and test tools. Safe to re-run.
# The browser test also needs Debian's Chromium (`apt-get install chromium`); it skips without it.
#
#   bash scripts/setup.sh                      # CPU
#   TORCH_INDEX=https://download.pytorch.org/whl/cu128 bash scripts/setup.sh   # NVIDIA GPU
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
if [ -n "${TORCH_INDEX:-}" ]; then
  .venv/bin/python -m pip install --quiet "torch==${TORCH_VERSION}" --index-url "$TORCH_INDEX"
else
  .venv/bin/python -m pip install --quiet "torch==${TORCH_VERSION}" 2>&1 | grep -v '^WARNING: Location' || true
fi
.venv/bin/python -m pip install --quiet -e ".[ui,dev]" 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c "import dancenow, torch, mediapipe, av; print('dancenow', dancenow.__version__, '| torch', torch.__version__, '| ready')"
