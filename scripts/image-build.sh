#!/usr/bin/env bash
# The container image's build steps. The Dockerfile runs this script and nothing
# else to build; tests/deploy/test_image_recipe.py runs it too (Docker is not
# available on the project's machines), so what is tested is what is shipped.
#
#   image-build.sh assets SRC       node stage: hls.js from the npm registry (package-lock.json)
#                                   into SRC/gateway/web/static/vendor/
#   image-build.sh venv SRC DEST    python stage: a new venv at DEST with the project installed
#                                   from SRC (a wheel, not editable) and its dependencies at the
#                                   versions SRC/constraints.txt pins, checked, without pip
#   image-build.sh check DEST       the installed package has every template, static file and
#                                   message catalogue of the source, and `gateway --help` runs
#
# Environment: PYTHON (default python3) makes the venv; GATEWAY_REQUIRE_HLS_JS=1
# refuses a build without hls.js (the image always has it; a test venv may not);
# SRC_CHECK (default: SRC of `venv`) is the source tree `check` compares with.
set -euo pipefail

die() {
    echo "image-build.sh: $*" >&2
    exit 1
}

assets() {
    local src=$1
    cd "$src"
    npm ci --no-audit --no-fund --ignore-scripts
    mkdir -p gateway/web/static/vendor
    cp node_modules/hls.js/dist/hls.min.js gateway/web/static/vendor/hls.min.js
    rm -rf node_modules
    echo "image-build.sh: hls.js copied into gateway/web/static/vendor/"
}

venv() {
    local src dest stage
    src=$(cd "$1" && pwd)
    dest=$2
    [[ -e "$dest" ]] && die "$dest exists: the venv is always built anew"
    if [[ "${GATEWAY_REQUIRE_HLS_JS:-0}" == 1 && ! -s "$src/gateway/web/static/vendor/hls.min.js" ]]; then
        die "gateway/web/static/vendor/hls.min.js is missing: run the assets step first"
    fi
    # Build from a copy of exactly what the image's build context holds (see
    # .dockerignore), so nothing else of the work tree leaks in and the work
    # tree gets no build/ or *.egg-info.
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' RETURN
    cp "$src/pyproject.toml" "$src/README.md" "$src/constraints.txt" "$stage/"
    (cd "$src" && tar --exclude='__pycache__' --exclude='*.pyc' -cf - gateway) | (cd "$stage" && tar -xf -)
    "${PYTHON:-python3}" -m venv "$dest"
    # at the versions last tested (constraints.txt, `make lock`)
    "$dest/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "$stage/constraints.txt" "$stage"
    "$dest/bin/python" -m pip uninstall --quiet --yes pip setuptools wheel 2>/dev/null || true
    SRC_CHECK="${SRC_CHECK:-$src}" check "$dest"
}

check() {
    local dest=$1 src=${SRC_CHECK:-}
    [[ -x "$dest/bin/gateway" ]] || die "$dest/bin/gateway is missing"
    "$dest/bin/gateway" --help >/dev/null || die "gateway --help failed"
    "$dest/bin/python" -I - "$src" <<'PY' || die "the installed package is incomplete"
import sys
from pathlib import Path

import gateway

installed = Path(gateway.__file__).parent
missing = []
for folder, pattern in (("web/templates", "*.html"), ("web/static", "*"), ("i18n/messages", "*.toml")):
    found = {p.relative_to(installed) for p in (installed / folder).rglob(pattern) if p.is_file()}
    if not found:
        missing.append(f"{folder}/ (nothing installed)")
    if sys.argv[1]:
        source = Path(sys.argv[1]) / "gateway"
        wanted = {
            p.relative_to(source)
            for p in (source / folder).rglob(pattern)
            if p.is_file() and "__pycache__" not in p.parts
        }
        missing += sorted(map(str, wanted - found))
if missing:
    print("missing from the installed package: " + ", ".join(missing), file=sys.stderr)
    sys.exit(1)
print(f"image-build.sh: package data complete in {installed}")
PY
}

case "${1:-}" in
    assets) [[ $# -eq 2 ]] || die "usage: image-build.sh assets SRC"; assets "$2" ;;
    venv) [[ $# -eq 3 ]] || die "usage: image-build.sh venv SRC DEST"; venv "$2" "$3" ;;
    check) [[ $# -eq 2 ]] || die "usage: image-build.sh check DEST"; check "$2" ;;
    *) die "usage: image-build.sh assets SRC | venv SRC DEST | check DEST" ;;
esac
