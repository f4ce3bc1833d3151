#!/usr/bin/env bash
# `make run`: the whole service on this machine, no AWS account and no Docker. Installs what
# the build needs (idempotently), builds the binaries (cargo's dev profile, shared with `make
# test`: see Cargo.toml), then `warmstart local up`
# starts local S3 + DynamoDB (embedded, data in .local/), trains and seeds on first run,
# publishes the bundles, runs the four functions under a Lambda Runtime API emulator behind
# an HTTP router on 127.0.0.1:3000, and prints the curl commands to try. Ctrl-C stops it all.
#
# Arguments go to `warmstart local up` (see `--help`), e.g. `infra/scripts/run.sh --port 3001`;
# WARMSTART_PORT, WARMSTART_S3_PORT, WARMSTART_DYNAMODB_PORT and WARMSTART_DATA_DIR work too.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/env.sh

WARMSTART_BOOTSTRAP=run infra/scripts/bootstrap.sh
# Only the binaries the stack runs, but resolved for the whole workspace (`--workspace`): the
# dependencies are built with the same features as `make test`'s `cargo build --workspace
# --bins`, which then reuses them and adds the test harness and the bench binaries.
printf '==> cargo build --workspace --bin warmstart --bin recommend --bin valuation --bin predict --bin reload\n' >&2
t0=$SECONDS
cargo build --workspace --locked --bin warmstart --bin recommend --bin valuation --bin predict --bin reload
printf '<== built in %ss\n' "$((SECONDS - t0))" >&2
exec "$CARGO_TARGET_DIR/debug/warmstart" local up "$@"
