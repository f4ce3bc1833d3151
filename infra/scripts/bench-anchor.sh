#!/usr/bin/env bash
# Optional benchmark step (not in CI): the native scorer against LightGBM (C API) and lleaves
# on the Python anchor's own 24 models and 10,000 customers, one thread each, in one run:
#
#   infra/scripts/bench-anchor.sh ANCHOR_DIR [warmstart bench args, e.g. --rounds 3]
#
# ANCHOR_DIR (e.g. ../shared/anchors/python-fastapi) is only read. Its gen_models.py writes the
# models and rows to $ANCHOR_WORK (default /tmp/warmstart-anchor; 2-4 min, deterministic,
# reused by later runs unless REGEN=1). LightGBM's Python package and lleaves live in a venv of
# their own, $ANCHOR_VENV (default ~/.cache/warmstart/anchor-venv), with the anchor's pinned
# versions (lleaves 1.3.0 needs llvmlite 0.44). Prints one table; nothing is asserted.
set -euo pipefail
if [ $# -lt 1 ] || [ ! -f "$1/gen_models.py" ]; then
  echo "usage: $0 ANCHOR_DIR [warmstart bench args]  (ANCHOR_DIR holds gen_models.py)" >&2
  exit 2
fi
ANCHOR="$(cd "$1" && pwd)"
shift
cd "$(dirname "$0")/../.."
source infra/scripts/env.sh
WORK="${ANCHOR_WORK:-/tmp/warmstart-anchor}"
VENV="${ANCHOR_VENV:-$HOME/.cache/warmstart/anchor-venv}"
PY="$VENV/bin/python"

if ! "$PY" -c 'import lightgbm, lleaves, numpy' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$ANCHOR/requirements.txt" -r "$ANCHOR/requirements-lleaves.txt"
fi
if [ "${REGEN:-0}" = 1 ] || [ ! -f "$WORK/models/feature_cols.json" ] || [ ! -f "$WORK/data/batch.npy" ]; then
  rm -rf "$WORK/models" "$WORK/data"
  mkdir -p "$WORK"
  "$PY" "$ANCHOR/gen_models.py" --out "$WORK" >&2
fi

# The same rows for everyone: batch.npy as raw little-endian f64 for `warmstart bench`.
"$PY" - "$WORK" <<'EOF'
import json, sys
import numpy as np
work = sys.argv[1]
X = np.load(f"{work}/data/batch.npy")
cols = json.load(open(f"{work}/models/feature_cols.json"))
assert X.ndim == 2 and X.shape[1] == len(cols), (X.shape, len(cols))
np.ascontiguousarray(X, dtype="<f8").tofile(f"{work}/data/batch.f64")
EOF

if [ -z "${WARMSTART_BIN:-}" ]; then
  cargo build --release --locked -p warmstart-cli --bin warmstart >&2
  WARMSTART_BIN="$CARGO_TARGET_DIR/release/warmstart"
fi

load_before="$(uptime)"
"$WARMSTART_BIN" bench --models-dir "$WORK/models" --rows-file "$WORK/data/batch.f64" "$@" \
  | tee "$WORK/native.txt" >&2

# lleaves as the anchor calls it (bench.py): compiled from scratch, predict(n_jobs=1), single
# rows through its Python API, the batch in one call per model; outputs checked against
# LightGBM's Python package.
"$PY" - "$WORK" >"$WORK/lleaves.json" <<'EOF'
import glob, json, os, statistics, sys, tempfile, time
import numpy as np
import lightgbm as lgb
import lleaves
work = sys.argv[1]
paths = sorted(glob.glob(f"{work}/models/*_model.txt"))
X = np.load(f"{work}/data/batch.npy")
cache = tempfile.mkdtemp(prefix="lleaves-")
t = time.perf_counter()
models = []
for p in paths:
    m = lleaves.Model(model_file=p)
    m.compile(cache=os.path.join(cache, os.path.basename(p) + ".o"))
    models.append(m)
compile_s = time.perf_counter() - t
customers = 2000
for i in range(50):
    for m in models:
        m.predict(X[i:i + 1], n_jobs=1)
single = []
for r in range(5):
    t = time.perf_counter_ns()
    for i in range(customers):
        row = X[i % 1024:i % 1024 + 1]
        for m in models:
            m.predict(row, n_jobs=1)
    single.append((time.perf_counter_ns() - t) / 1e3 / customers)
batch = []
for r in range(1 + 5):
    t = time.perf_counter_ns()
    preds = [m.predict(X, n_jobs=1) for m in models]
    batch.append((time.perf_counter_ns() - t) / 1e6)
ref = [lgb.Booster(model_file=p).predict(X, num_threads=1) for p in paths]
diff = max(float(np.max(np.abs(a - b))) for a, b in zip(preds, ref))
same = sum(int(np.sum(a.view(np.uint64) == b.view(np.uint64))) for a, b in zip(preds, ref))
json.dump({"models": len(paths), "rows": int(X.shape[0]), "compile_s": compile_s,
           "single_us": statistics.median(single), "batch_ms": statistics.median(batch[1:]),
           "max_abs_diff_vs_lightgbm": diff, "identical": same,
           "outputs": int(X.shape[0]) * len(paths)}, sys.stdout)
EOF
load_after="$(uptime)"

"$PY" - "$WORK" "$load_before" "$load_after" <<'EOF'
import json, sys
work, before, after = sys.argv[1:4]
lines = open(f"{work}/native.txt").read().splitlines()
cells = lambda prefix: [c.strip() for c in next(l for l in lines if l.startswith(prefix)).split("|")[2:-1]]
one, load = cells("| one row x"), cells("| load ")
many = next([c.strip() for c in l.split("|")[2:-1]] for l in lines if l.startswith("| ") and " rows x " in l)
ll = json.load(open(f"{work}/lleaves.json"))
n, rows = ll["models"], ll["rows"]
native1, fast1, pred1 = map(float, one[:3])
nativeb, predb = float(many[0]), float(many[2])
print(f"bench-anchor: {n} models of {work}/models, {rows} rows of data/batch.npy, one thread each")
print(f"load before: {before.strip()}")
print(f"load after:  {after.strip()}")
print("| measure | native | LightGBM SingleRowFast | LightGBM predict | lleaves | native / SingleRowFast | native / predict | native / lleaves |")
print("|---|---|---|---|---|---|---|---|")
print(f"| one row x {n} models (us) | {native1:.1f} | {fast1:.1f} | {pred1:.1f} | {ll['single_us']:.1f} (Python API) "
      f"| {native1 / fast1:.2f} | {native1 / pred1:.2f} | {native1 / ll['single_us']:.2f} |")
print(f"| {rows} rows x {n} models (ms) | {nativeb:.1f} | - | {predb:.1f} | {ll['batch_ms']:.1f} "
      f"| - | {nativeb / predb:.2f} | {nativeb / ll['batch_ms']:.2f} |")
print(f"| load {n} models | {load[0]} (ms) | - | {load[2]} ms | compile {ll['compile_s']:.1f} s | - | - | - |")
ident = next(l for l in lines if "bit-identical to LightGBM" in l).rsplit(":", 1)[1].strip()
print(f"native outputs bit-identical to LightGBM on the batch: {ident}; lleaves: {ll['identical']} of "
      f"{ll['outputs']} bit-identical, largest difference {ll['max_abs_diff_vs_lightgbm']:.3e}")
print(next(l for l in lines if l.startswith("single-row ratio")))
EOF
