# Shared by scripts/local and scripts/test (sourced): installs what the project needs into
# the project itself (a Python venv, node_modules), so a fresh clone needs nothing by hand.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Builds outlive the clone: later runs on the same machine reuse them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/photopipe/target}"
export PHOTOPIPE_BIN_DIR="$CARGO_TARGET_DIR/debug"
export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true

# The venv holding moto; reinstalled when its requirements change.
ensure_venv() {
  local stamp=.venv/.requirements
  if [ ! -x .venv/bin/moto_server ] || ! cmp -s local/requirements.txt "$stamp"; then
    echo "setting up .venv (moto)" >&2
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r local/requirements.txt
    cp local/requirements.txt "$stamp"
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

# The four Lambda binaries and the local runner, in the one profile tests use.
build_binaries() {
  cargo build --workspace --bins
}
