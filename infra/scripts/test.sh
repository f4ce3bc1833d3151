#!/usr/bin/env bash
# Every check, in the order a failure is cheapest to find: formatting, lints, unit +
# integration + end-to-end tests (emulators started by the tests), the API contract (spec
# validation, schemathesis against the local stack), template lint and checkov, and `sam build`
# (arm64 bootstraps of the four functions). Installs its own prerequisites first. `make test` runs this.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/env.sh

step() {
  local name="$1"; shift
  printf '\n==> %s\n' "$name" >&2
  local t0=$SECONDS
  "$@"
  printf '<== %s (%ss)\n' "$name" "$((SECONDS - t0))" >&2
}

step "bootstrap (idempotent installs)" infra/scripts/bootstrap.sh
step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy -D warnings" cargo clippy --workspace --all-targets --locked -- -D warnings
# The core without the AWS SDK (what the fuzz targets link) must keep building.
step "cargo clippy (core without aws)" \
  cargo clippy -p warmstart-core --no-default-features --locked -- -D warnings
# End-to-end tests spawn the function binaries: build them before the tests run.
step "cargo build (binaries)" cargo build --workspace --bins --locked
# Includes the web console in headless Chromium (infra/tests/console_browser.rs, ~30 s; its
# screenshots are kept in $CARGO_TARGET_DIR/console/).
step "cargo test" cargo test --workspace --locked
# The API contract: a valid OpenAPI 3.1 document, and the local stack answering what it says
# to property-based requests generated from it (bounded; see the script).
step "openapi-spec-validator docs/openapi.yaml" \
  "$WARMSTART_TOOLS_VENV/bin/openapi-spec-validator" docs/openapi.yaml
step "schemathesis (local stack)" infra/scripts/schemathesis.sh
# The local stack under load and faults (docs/RELIABILITY.md): ~75 s, loopback only.
step "make chaos" infra/scripts/chaos.sh
step "cfn-lint" cfn-lint template.yaml
step "sam validate --lint" sam validate --lint
# Zero failed checks; each skip is justified in its resource's Metadata (checkov: skip).
step "checkov template.yaml" "$WARMSTART_TOOLS_VENV/bin/checkov" -f template.yaml \
  --framework cloudformation --compact --quiet --skip-download
if [ "${WARMSTART_SKIP_ARM64:-0}" != 1 ]; then
  # What a user's `sam build` does: `cargo lambda build --arm64` per function (BuildMethod:
  # rust-cargolambda: the template, the builder, the zig cross-linker, ring's C code for
  # aarch64), then the bootstraps copied into the build dir. In SAM's debug build mode, without
  # `--release`: the release profile's optimisation and LTO check little more and cost 6-13 of
  # a 2-core machine's minutes (WARMSTART_ARM64_RELEASE=1 builds exactly what a deploy ships).
  SAM_BUILD_DIR="$CARGO_TARGET_DIR/sam-build"
  # SAM_BUILD_MODE accepts only `debug`; unset, sam build passes --release.
  if [ "${WARMSTART_ARM64_RELEASE:-0}" = 1 ]; then
    mode=(env -u SAM_BUILD_MODE) label="--release"
  else
    mode=(env SAM_BUILD_MODE=debug) label="SAM_BUILD_MODE=debug"
  fi
  step "sam build (cargo lambda build --arm64, $label)" "${mode[@]}" \
    sam build --build-dir "$SAM_BUILD_DIR" --cache-dir "$CARGO_TARGET_DIR/sam-cache"
  for f in RecommendFunction ValuationFunction PredictFunction ReloadFunction; do
    # ELF e_machine (offset 18) 0xB7 = aarch64.
    python3 -c 'import sys; d = open(sys.argv[1], "rb").read(20); sys.exit(d[18] != 0xB7)' \
      "$SAM_BUILD_DIR/$f/bootstrap" \
      || { echo "sam build made no arm64 bootstrap for $f" >&2; exit 1; }
  done
fi
printf '\nall checks passed\n' >&2
