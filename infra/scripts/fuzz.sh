#!/usr/bin/env bash
# Fuzzes one target for a while:
# `infra/scripts/fuzz.sh [parse_model|request_bodies|compiled_model] [seconds]`.
# Seeds the corpus from the fixture models / the sample events' bodies, then runs libFuzzer
# under AddressSanitizer (cargo-fuzz, nightly toolchain; both installed when missing).
# Crashes land in fuzz/artifacts/<target>/ with the input that caused them.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/env.sh
target="${1:-parse_model}"
seconds="${2:-120}"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
corpus="fuzz/corpus/$target"
mkdir -p "$corpus"
case "$target" in
  parse_model) cp shared/tests/fixtures/models/*.txt "$corpus"/ ;;
  request_bodies)
    python3 - "$corpus" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
for path in glob.glob("events/apigw-*.json"):
    body = json.load(open(path)).get("body")
    if body:
        open(os.path.join(out, os.path.basename(path) + ".body"), "w").write(body)
PY
    ;;
  compiled_model)
    # The fixture models compiled by the scorer itself (an ignored test writes them).
    WARMSTART_FUZZ_SEEDS="$PWD/$corpus" cargo test -q -p warmstart-core --no-default-features \
      --test compiled write_fuzz_seed_corpus -- --ignored >/dev/null
    ;;
  *) echo "unknown target $target (parse_model, request_bodies, compiled_model)" >&2; exit 2 ;;
esac
# The fuzz crate is outside the workspace; keep its sanitizer build apart from the main cache.
CARGO_TARGET_DIR="$CARGO_TARGET_DIR/fuzz" cargo +nightly fuzz run "$target" "$corpus" -- \
  -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096
