#!/usr/bin/env bash
# Installs what the build and tests need, idempotently, on a fresh Debian machine with Rust and
# Python: libclang + a C++ compiler and cmake >= 3.28 (lightgbm3, the training oracle), the
# S3/DynamoDB emulator (moto), the template linters, cargo-lambda with a pinned zig, (in a venv
# of their own) checkov, schemathesis and openapi-spec-validator, and headless Chromium +
# chromedriver for the console's browser test.
# WARMSTART_BOOTSTRAP=run (what `make run` sets) installs only what building and running the
# local stack needs: the C++ toolchain and cmake.
set -euo pipefail
source "$(dirname "$0")/env.sh"

say() { printf '==> %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

if ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || ! command -v clang >/dev/null || ! command -v g++ >/dev/null; then
  say "installing clang, libclang-dev, g++ (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang libclang-dev g++ >/dev/null
fi

# The console's browser test (infra/tests/console_browser.rs): Debian's headless Chromium and its
# WebDriver server, and a CJK font for the company names in its screenshots. ~1-2 min once.
if [ "${WARMSTART_BOOTSTRAP:-all}" != run ] \
  && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || ! fc-list 2>/dev/null | grep -qi wqy; }; then
  say "installing chromium, chromium-driver, fonts-wqy-microhei (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null
fi

cmake_ok() {
  command -v cmake >/dev/null || return 1
  local v; v="$(cmake --version | head -1 | awk '{print $3}')"
  [ "$(printf '%s\n3.28\n' "$v" | sort -V | head -1)" = "3.28" ]
}

pip_pkgs=()
cmake_ok || pip_pkgs+=("cmake>=3.28")
if [ "${WARMSTART_BOOTSTRAP:-all}" = run ]; then
  if [ "${#pip_pkgs[@]}" -gt 0 ]; then
    say "installing ${pip_pkgs[*]} (pip)"
    python3 -m pip install -q --disable-pip-version-check "${pip_pkgs[@]}"
    command -v pyenv >/dev/null && pyenv rehash || true
  fi
  exit 0
fi
command -v moto_server >/dev/null || pip_pkgs+=("moto[server]==5.2.5")
command -v cfn-lint >/dev/null || pip_pkgs+=("cfn-lint")
command -v sam >/dev/null || pip_pkgs+=("aws-sam-cli")
command -v cargo-lambda >/dev/null || pip_pkgs+=("cargo-lambda==1.9.2")
python3 -c 'import ziglang' 2>/dev/null || pip_pkgs+=("ziglang==0.14.1")
if [ "${#pip_pkgs[@]}" -gt 0 ]; then
  say "installing ${pip_pkgs[*]} (pip)"
  python3 -m pip install -q --disable-pip-version-check "${pip_pkgs[@]}"
  command -v pyenv >/dev/null && pyenv rehash || true
fi

# The contract and security checks, pinned, in their own venv (see env.sh).
tools=("checkov==3.3.30" "schemathesis==4.32.5" "openapi-spec-validator==0.9.0")
tools_ok() {
  local v="$WARMSTART_TOOLS_VENV/bin" frozen t
  [ -x "$v/checkov" ] && [ -x "$v/st" ] && [ -x "$v/openapi-spec-validator" ] || return 1
  frozen="$("$v/python" -m pip freeze --disable-pip-version-check 2>/dev/null)" || return 1
  for t in "${tools[@]}"; do grep -qxF "$t" <<<"$frozen" || return 1; done
}
if ! tools_ok; then
  say "installing ${tools[*]} (pip, venv $WARMSTART_TOOLS_VENV)"
  python3 -m venv "$WARMSTART_TOOLS_VENV"
  "$WARMSTART_TOOLS_VENV/bin/python" -m pip install -q --disable-pip-version-check "${tools[@]}"
fi

for c in clippy rustfmt; do
  rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c" >/dev/null 2>&1 || true
done
rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu \
  || rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || say "note: could not add the aarch64 target"
