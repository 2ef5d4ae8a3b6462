#!/usr/bin/env bash
# Keep what a GPU stretch handed back: check its pieces, then make them the committed state.
#
#   scripts/gpu_stretch_collect.sh FILES_AT [STATE_DIR]     # STATE_DIR defaults to stretch/
#
# FILES_AT is the folder the run tool reported (its files_at): stretch.json, state.partNN and,
# when they fitted, train_log.jsonl, loss.png and stretch.log. Every piece's size and SHA-256 is
# checked against stretch.json before the old state is replaced. Then commit STATE_DIR.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="${1:?usage: $0 FILES_AT [STATE_DIR]}"
DEST="${2:-$ROOT/stretch}"
if [[ -z "${PYTHON:-}" ]]; then
    PYTHON=python3
    [[ -x "$ROOT/.venv/bin/python" ]] && PYTHON="$ROOT/.venv/bin/python"
fi
# A stretch may have written its files one folder down ($OUT/<name>/...): find stretch.json.
if [[ ! -f "$SRC/stretch.json" ]]; then
    found="$(find "$SRC" -maxdepth 3 -name stretch.json | head -n 1)"
    [[ -n "$found" ]] || { echo "error: no stretch.json under $SRC" >&2; exit 1; }
    SRC="$(dirname "$found")"
fi
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" - "$SRC" <<'PY'
import sys
from pathlib import Path
from gaitpipe.engine.stretch import read_pieces
manifest, data = read_pieces(Path(sys.argv[1]))
last = manifest["stretches"][-1]
print(f"checked: iteration {manifest['iteration']} ({len(manifest['pieces'])} pieces, {len(data) / 2**20:.1f} MiB); "
      f"last stretch {last['iterations'][0]}..{last['iterations'][1]} at {last['it_per_s']} it/s on {last['device']}")
PY
mkdir -p "$DEST"
rm -f "$DEST"/stretch.json "$DEST"/state.part* "$DEST"/train_log.jsonl "$DEST"/loss.png "$DEST"/stretch.log
for f in "$SRC"/stretch.json "$SRC"/state.part* "$SRC"/train_log.jsonl "$SRC"/loss.png "$SRC"/stretch.log; do
    [[ -f "$f" ]] && cp "$f" "$DEST/"
done
chmod u+w "$DEST"/* 2>/dev/null || true
echo "state now in $DEST: git add ${DEST#"$ROOT"/} && git commit -m 'GPU stretch: state of iteration ...'"
