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

# `cdk synth` as `cdk deploy` runs it, offline: cdk-nag's checks gate it, and cargo-lambda
# really builds every function for Lambda's ARM64 (zig as the C and C++ compiler, no Docker),
# in the tests' one profile (dev, by context photopipe:buildProfile) to keep CI short. Prints
# each function's artifact size. Each must be an aarch64 executable that needs nothing beyond
# glibc, and each that contract/functions.json says links the imaging engine must carry
# libde265's decoder (without it libheif builds fine and refuses every HEIC).
synth_arm64() {
  local out="$CARGO_TARGET_DIR/cdk.out" name dir links bootstrap machine needed size
  rm -rf "$out"
  (cd cdk && npx cdk synth --quiet --output "$out" -c photopipe:buildProfile=dev >/dev/null)
  # One line per function of the template: its description, its asset folder, and whether
  # the contract says it links the imaging engine (- for a function the contract does not list).
  python3 - "$out" >"$out/functions.txt" <<'PY'
import json, pathlib, re, sys
out = pathlib.Path(sys.argv[1])
contract = json.load(open("contract/functions.json"))["functions"]
listed = set()
for template in sorted(out.glob("*.template.json")):
    for resource in json.load(open(template))["Resources"].values():
        if resource["Type"] != "AWS::Lambda::Function" or "aws:asset:path" not in resource.get("Metadata", {}):
            continue
        # Only our Rust functions have a bootstrap (the Wasabi bucket's Provider framework is Node.js).
        if resource["Properties"].get("Runtime") != "provided.al2023":
            continue
        description = resource["Properties"].get("Description", "?")
        step = re.fullmatch(r"photopipe (\w+) step", description)
        links = "-"
        if step and step.group(1) in contract:
            listed.add(step.group(1))
            links = "yes" if contract[step.group(1)]["linksImaging"] else "no"
        print(description.replace(" ", "_"), resource["Metadata"]["aws:asset:path"], links)
missing = set(contract) - listed
if missing:
    sys.exit(f"the synthesized template has no function for {sorted(missing)}")
PY
  while read -r name dir links; do
    bootstrap="$out/$dir/bootstrap"
    if [ ! -f "$bootstrap" ]; then
      echo "${name//_/ }: no bootstrap in $out/$dir" >&2
      return 1
    fi
    machine=$(od -An -tx1 -j18 -N2 "$bootstrap" | tr -d ' \n')
    if [ "$machine" != "b700" ]; then
      echo "${name//_/ }: bootstrap is not an aarch64 ELF (e_machine $machine)" >&2
      return 1
    fi
    needed=$(readelf -d "$bootstrap" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -v -E '^(libc|libm|libdl|libpthread|librt|libgcc_s)\.so|^ld-linux-aarch64' || true)
    if [ -n "$needed" ]; then
      echo "${name//_/ }: bootstrap needs shared libraries the Lambda runtime lacks: $needed" >&2
      return 1
    fi
    # grep -c reads to the end: with -q, pipefail would count readelf's SIGPIPE as a failure.
    if [ "$links" = yes ] && [ "$(readelf -Ws "$bootstrap" | grep -c ' de265_decode$')" = 0 ]; then
      echo "${name//_/ }: bootstrap has no libde265: libheif was built without its HEVC decoder" >&2
      return 1
    fi
    size=$(stat -c %s "$bootstrap")
    awk -v name="${name//_/ }" -v size="$size" 'BEGIN { printf "%-32s %6.1f MiB aarch64 bootstrap (dev profile)\n", name, size / 1048576 }' >&2
  done <"$out/functions.txt"
}

# The functions that contract/functions.json says do not link the imaging engine (archive,
# cleanup) must not pull in its C libraries: building them needs no cmake, no libde265 and no
# C image library, and the CDK bundling skips the libde265 hook for them.
# The same holds for every other Lambda under functions/ that the contract does not list (the
# reconciler, the Wasabi bucket's provider): only validate and thumbnail link the engine.
check_functions_without_imaging() {
  local fn tree
  for fn in $(cargo metadata --format-version 1 --no-deps | python3 -c '
import json, sys
contract = json.load(open("contract/functions.json"))["functions"]
for package in json.load(sys.stdin)["packages"]:
    lambda_binary = "/functions/" in package["manifest_path"] and any("bin" in t["kind"] for t in package["targets"])
    if lambda_binary and not contract.get(package["name"], {}).get("linksImaging", False):
        print(package["name"])'); do
    tree=$(cargo tree -p "$fn" -e normal --prefix none)
    if grep -E '^(photopipe-imaging|libheif-sys|libheif-rs|mozjpeg-sys|libwebp-sys|image) ' <<<"$tree"; then
      echo "$fn links the imaging engine or a C image library (above); only validate and thumbnail may (contract/functions.json)" >&2
      return 1
    fi
    echo "$fn: no imaging engine, no C image library" >&2
  done
}
