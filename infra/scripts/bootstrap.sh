#!/usr/bin/env bash
# Installs what the build and tests need, idempotently, on a fresh Debian machine with Rust and
# Python: LightGBM's library (lib_lightgbm of Python's lightgbm wheel, for the trainer and the
# tests' oracle: infra/lightgbm3-sys), the S3/DynamoDB emulator (moto), the template linters,
# cargo-lambda with a pinned zig, (in a venv of their own) checkov, schemathesis and
# openapi-spec-validator, and headless Chromium + chromedriver for the console's browser test.
# WARMSTART_BOOTSTRAP=run (what `make run` sets) installs only what building and running the
# local stack needs: LightGBM's library.
set -euo pipefail
source "$(dirname "$0")/env.sh"

say() { printf '==> %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

# The wheel's library, not LightGBM's C++ compiled here (7 of a fresh build's 13 minutes, and
# cmake + libclang to install): one wheel download, seconds. Its version must match the bindings in
# infra/lightgbm3-sys (LightGBM 4.7.0's c_api.h).
if ! ls "$LIGHTGBM_LIB_DIR"/lib_lightgbm.* >/dev/null 2>&1; then
  say "fetching lib_lightgbm from the lightgbm==$LIGHTGBM_VERSION wheel (pip download) into $LIGHTGBM_LIB_DIR"
  wheels="$(mktemp -d)"
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    "lightgbm==$LIGHTGBM_VERSION" -d "$wheels"
  python3 - "$wheels" "$LIGHTGBM_LIB_DIR" <<'PY'
import glob, os, sys, zipfile
wheels, dst = sys.argv[1:]
(whl,) = glob.glob(os.path.join(wheels, "lightgbm-*.whl"))
os.makedirs(dst, exist_ok=True)
with zipfile.ZipFile(whl) as z:
    libs = [n for n in z.namelist() if n.startswith("lightgbm/lib/lib_lightgbm")]
    if not libs:
        sys.exit(f"{whl} holds no lightgbm/lib/lib_lightgbm.*")
    for n in libs:
        tmp = os.path.join(dst, os.path.basename(n) + ".tmp")
        with z.open(n) as src, open(tmp, "wb") as out:
            out.write(src.read())
        os.replace(tmp, os.path.join(dst, os.path.basename(n)))
PY
  rm -rf "$wheels"
fi

# The console's browser test (infra/tests/console_browser.rs): Debian's headless Chromium and its
# WebDriver server, and a CJK font for the company names in its screenshots. ~1-2 min once.
if [ "${WARMSTART_BOOTSTRAP:-all}" != run ] \
  && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || ! fc-list 2>/dev/null | grep -qi wqy; }; then
  say "installing chromium, chromium-driver, fonts-wqy-microhei (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null
fi

[ "${WARMSTART_BOOTSTRAP:-all}" = run ] && exit 0

pip_pkgs=()
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
