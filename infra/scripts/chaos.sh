#!/usr/bin/env bash
# `make chaos`: the local stack (the real function binaries, embedded DynamoDB and S3, all on
# 127.0.0.1) under a fixed load while DynamoDB stalls and refuses, S3 fails during a model swap,
# corrupt and worse bundles are published, functions are killed mid-request and two registry
# writers race. Prints one table row per phase; fails on any 5xx or lost registry write.
# About 75 s with built binaries (10 phases of 5 s, plus the stack's start); part of `make test`.
#
# Arguments go to `warmstart local chaos` (see `--help`), e.g. `--phase-secs 10 --concurrency 16`.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/env.sh

# The dev profile and the same package set as `make test`'s build step: a subset of packages
# unifies dependency features differently and would rebuild the AWS SDK and the core (3 min).
cargo build --workspace --bins --locked
BIN="$CARGO_TARGET_DIR/debug"
DATA="${WARMSTART_CHAOS_DIR:-$CARGO_TARGET_DIR/chaos}"
mkdir -p "$DATA"
exec "$BIN/warmstart" local chaos --bin-dir "$BIN" --data-dir "$DATA" \
  --report "$DATA/report.md" "$@"
