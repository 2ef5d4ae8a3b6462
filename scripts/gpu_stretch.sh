#!/usr/bin/env bash
# One GPU stretch, started the moment a GPU machine is lent (docs/training.md, "GPU stretches"):
#
#   bash scripts/gpu_stretch.sh            # on the lent machine, from the run tool (see the docs)
#   OUT=/tmp/out bash scripts/gpu_stretch.sh --device cpu --minutes 1 ...   # anywhere else
#
# Installs the wheels carried in .gpu-wheels/ (if any: the lent machine has torch, numpy, opencv
# and tqdm, which is all a stretch needs), then runs scripts/gpu_stretch.py with its arguments,
# its output also written to $OUT/stretch.log. PYTHON picks the interpreter (default: python3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
: "${OUT:?set OUT to the folder whose files come back (the run tool sets it)}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

shopt -s nullglob
wheels=(.gpu-wheels/*.whl)
if ((${#wheels[@]})); then
    site="${TMPDIR:-/tmp}/gaitpipe-stretch-site"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "${wheels[@]}"
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    echo "installed ${#wheels[@]} carried wheel(s) into $site"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader || true

"$PY" scripts/gpu_stretch.py "$@" 2>&1 | tee "$OUT/stretch.log"
