# Shared by scripts/local and scripts/test (sourced): installs what the project needs into
# the project itself (a Python venv, node_modules), so a fresh clone needs nothing by hand.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Builds outlive the clone: later runs on the same machine reuse them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/photopipe/target}"
export PHOTOPIPE_BIN_DIR="$CARGO_TARGET_DIR/debug"
export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true

# The venv holding moto (the local stack), cargo-lambda with zig (the ARM64 builds) and cmake
# (libheif, libde265);
# reinstalled when either list of requirements changes.
ensure_venv() {
  local stamp=.venv/.requirements
  if [ ! -x .venv/bin/moto_server ] || ! cat local/requirements.txt cdk/requirements.txt | cmp -s - "$stamp"; then
    echo "setting up .venv (moto, cargo-lambda, cmake)" >&2
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r local/requirements.txt -r cdk/requirements.txt
    cat local/requirements.txt cdk/requirements.txt >"$stamp"
  fi
  export PATH="$ROOT/.venv/bin:$PATH"
}

# checkov, for the template scan of the CDK tests, in a venv of its own: it pins an old boto3
# that moto, in .venv, must not be given. Only the test command needs it.
ensure_checkov() {
  local stamp=.venv-checkov/.requirements
  if [ ! -x .venv-checkov/bin/checkov ] || ! cmp -s cdk/checkov-requirements.txt "$stamp"; then
    echo "setting up .venv-checkov (checkov)" >&2
    python3 -m venv .venv-checkov
    .venv-checkov/bin/pip install --quiet --disable-pip-version-check -r cdk/checkov-requirements.txt
    cp cdk/checkov-requirements.txt "$stamp"
  fi
}

# The CDK app's node_modules, exactly as package-lock.json says.
ensure_node_modules() {
  local stamp=cdk/node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ cdk/package-lock.json -nt "$stamp" ]; then
    echo "installing cdk/node_modules (npm ci)" >&2
    (cd cdk && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# libde265, the HEVC decoder libheif links for HEIC, built from Debian's source into
# ~/.cache (scripts/libde265); the host build is found through .cargo/config.toml.
ensure_libde265() {
  scripts/libde265 host
}

# The four Lambda binaries and the local runner, in the one profile tests use.
build_binaries() {
  cargo build --workspace --bins
}

# The function with the most C and C++ in it (libwebp, mozjpeg, libheif with libde265),
# cross-built for Lambda's ARM64 as `cdk deploy` does (cargo-lambda, zig as the C and C++
# compiler, no Docker, the same variables as cdk/lib/functions.ts), in the test profile to keep
# CI short. The result must be an aarch64 executable that needs nothing beyond glibc and
# carries libde265's decoder (without it libheif builds fine and refuses every HEIC).
check_arm64_build() {
  local dir="$CARGO_TARGET_DIR/lambda-arm64-check" bootstrap de265="$ROOT/.cache/libde265/aarch64"
  scripts/libde265 aarch64
  CMAKE_PREFIX_PATH="$de265" PKG_CONFIG_PATH="$de265/lib/pkgconfig" PKG_CONFIG_ALLOW_CROSS=1 \
    cargo lambda build --arm64 --package thumbnail --lambda-dir "$dir"
  bootstrap="$dir/thumbnail/bootstrap"
  local machine
  machine=$(od -An -tx1 -j18 -N2 "$bootstrap" | tr -d ' \n')
  if [ "$machine" != "b700" ]; then
    echo "thumbnail/bootstrap is not an aarch64 ELF (e_machine $machine)" >&2
    return 1
  fi
  local needed
  needed=$(readelf -d "$bootstrap" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -v -E '^(libc|libm|libdl|libpthread|librt|libgcc_s)\.so|^ld-linux-aarch64' || true)
  if [ -n "$needed" ]; then
    echo "thumbnail/bootstrap needs shared libraries the Lambda runtime lacks: $needed" >&2
    return 1
  fi
  # grep -c reads to the end: with -q, pipefail would count readelf's SIGPIPE as a failure.
  if [ "$(readelf -Ws "$bootstrap" | grep -c ' de265_decode$')" = 0 ]; then
    echo "thumbnail/bootstrap has no libde265: libheif was built without its HEVC decoder" >&2
    return 1
  fi
}

# The functions that contract/functions.json says do not link the imaging engine (archive,
# cleanup) must not pull in its C libraries: building them needs no cmake, no libde265 and no
# C image library, and the CDK bundling skips the libde265 hook for them.
check_functions_without_imaging() {
  local fn tree
  for fn in $(python3 -c 'import json; f = json.load(open("contract/functions.json"))["functions"]; print(" ".join(n for n, s in f.items() if not s["linksImaging"]))'); do
    tree=$(cargo tree -p "$fn" -e normal --prefix none)
    if grep -E '^(photopipe-imaging|libheif-sys|libheif-rs|mozjpeg-sys|libwebp-sys|image) ' <<<"$tree"; then
      echo "$fn links the imaging engine or a C image library (above); contract/functions.json says it does not" >&2
      return 1
    fi
    echo "$fn: no imaging engine, no C image library" >&2
  done
}
