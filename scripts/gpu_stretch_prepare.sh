#!/usr/bin/env bash
# Get a GPU stretch ready to start (run here, on the development machine, before any GPU is lent):
#
#   scripts/gpu_stretch_prepare.sh            # pack + travel check; prints the run tool call
#
# 1. writes .devdata/casiab-stretch.npz.xz (ignored) from ../shared's CASIA-B pack, unless it is
#    there already (scripts/make_stretch_pack.py: training subjects 001-062, 40 middle frames per
#    sequence; held-out 063-074, views 054/090/126, first 30 frames: ~11 MiB);
# 2. adds up what the run tool will send (tracked and untracked-not-ignored files, plus the
#    carried .devdata and .gpu-wheels) against its 64 MiB limit, the committed state included;
# 3. prints the call to make the moment a machine is lent.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
[[ -z "${PYTHON:-}" && -x .venv/bin/python ]] && PY=.venv/bin/python
PACK=.devdata/casiab-stretch.npz.xz
if [[ ! -f "$PACK" ]]; then
    "$PY" scripts/make_stretch_pack.py --out "$PACK"
fi
"$PY" - <<'PY'
import os, subprocess
from pathlib import Path

def files(*args):
    out = subprocess.run(["git", "ls-files", "-z", *args], capture_output=True, check=True).stdout
    return [Path(p) for p in out.decode().split("\0") if p]

def size(paths):
    return sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink())

limit = 64 << 20
tree = size(files()) + size(files("--others", "--exclude-standard"))
carried = {d: size(Path(d).rglob("*")) for d in (".devdata", ".gpu-wheels") if Path(d).is_dir()}
state = size(Path("stretch").rglob("*")) if Path("stretch").is_dir() else 0
total = tree + sum(carried.values())
mib = lambda b: f"{b / 2**20:.1f} MiB"
print(f"travels: tree {mib(tree)} (committed stretch state {mib(state)} of it), "
      + ", ".join(f"{d} {mib(b)}" for d, b in carried.items()) + f": {mib(total)} of 64 MiB")
# A first stretch's state is the full-width GaitBase's weights: about 28 MiB more next time.
room = limit - total - (0 if state else 29 << 20)
if room < (2 << 20):
    raise SystemExit(f"too little room left for the next stretch's state ({mib(room)}): "
                     "make the pack smaller (scripts/make_stretch_pack.py --max-frames 30)")
print(f"room to spare after the next stretch's state: {mib(room)}")
PY
carry='[".devdata"]'
[[ -d .gpu-wheels ]] && compgen -G ".gpu-wheels/*.whl" >/dev/null && carry='[".devdata", ".gpu-wheels"]'
cat <<EOT

Ready. When a GPU machine is lent (status: can_start_another true), call the run tool with
  command:   bash scripts/gpu_stretch.sh
  carry:     $carry
  timeout_s: 600
then: scripts/gpu_stretch_collect.sh <files_at of the reply>  and commit stretch/.
EOT
