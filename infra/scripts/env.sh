# Sourced by the project's scripts: one place for the build cache and tool paths.
# cargo's target dir lives outside the clone so repeat runs (and CI on the same machine) are fast.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/warmstart/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export SAM_CLI_TELEMETRY=0
# LightGBM's library, unpacked from Python's wheel by bootstrap.sh (see infra/lightgbm3-sys).
export LIGHTGBM_VERSION=4.7.0
export LIGHTGBM_LIB_DIR="${LIGHTGBM_LIB_DIR:-$HOME/.cache/warmstart/lightgbm-$LIGHTGBM_VERSION}"
# The wheel's LightGBM uses OpenMP: one thread unless a call asks for more (the trainer asks for
# two), as the tests run in parallel and spinning OpenMP workers would fight over the cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# checkov, schemathesis and openapi-spec-validator live in a venv of their own (bootstrap.sh):
# checkov pins dozens of libraries that must not move the ones sam and cfn-lint run with.
export WARMSTART_TOOLS_VENV="${WARMSTART_TOOLS_VENV:-$HOME/.cache/warmstart/tools-venv}"
# pip-installed tools (moto_server, cfn-lint, sam, cargo-lambda, zig) live in Python's scripts dir.
PY_SCRIPTS="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
if [ -n "$PY_SCRIPTS" ]; then export PATH="$PY_SCRIPTS:$PATH"; fi
export PATH="$HOME/.cargo/bin:$PATH"
