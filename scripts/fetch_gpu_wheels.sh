#!/usr/bin/env bash
# Download wheels for a lent GPU machine into .gpu-wheels/ (ignored by git; carried by the run tool).
#
#   scripts/fetch_gpu_wheels.sh                       # what a GPU stretch needs: nothing, see below
#   scripts/fetch_gpu_wheels.sh faiss-cpu==1.9.0 ...  # anything else a device job needs
#
# The lent machine (Python 3.12, x86-64, no network) has torch, torchvision, numpy, opencv, tqdm,
# PyYAML and typer, which is all scripts/gpu_stretch.sh imports; it lacks ultralytics, faiss, lap,
# supervision and platformdirs, which a stretch never imports (tests/test_gpu_stretch.py runs it
# with them made unimportable). scripts/gpu_stretch.sh installs whatever .whl files it finds in
# .gpu-wheels/ before it starts; they count towards the 64 MiB that travel, so fetch only what a
# job needs, and name each dependency too (--no-deps: nothing is resolved for you).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.gpu-wheels"
if (($# == 0)); then
    echo "a GPU stretch needs no wheels beyond what the lent machine has; name packages to fetch others"
    exit 0
fi
PY="${PYTHON:-python3}"
[[ -z "${PYTHON:-}" && -x "$ROOT/.venv/bin/python" ]] && PY="$ROOT/.venv/bin/python"
mkdir -p "$DEST"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
"$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$DEST" "$@"
du -ch "$DEST"/*.whl | tail -n 1
