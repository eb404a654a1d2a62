# shellcheck shell=bash
# Shared by scripts/reproduce and scripts/test: create (or reuse) ./.venv and install attnlab.
#
# ensure_venv EXTRAS   EXTRAS is "" (runtime only), "docs" (+ the docs tools) or "test" (+ the
#                      test tools, dask and the docs tools: a superset of the others).
# The install is skipped when a stamp file in .venv records the same hash of pyproject.toml and
# scripts/constraints.txt for the same (or a larger) set of extras, so a second run costs a
# second. Only the package index is used (pip), under the version constraints of
# scripts/constraints.txt (each with its reason). Set PYTHON=/path/to/python3.x to choose the
# interpreter (default: the newest python3.1x >= 3.11 on PATH).

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ATTNLAB_VENV:-$REPO_ROOT/.venv}"

_find_python() {
    if [[ -n "${PYTHON:-}" ]]; then
        echo "$PYTHON"
        return
    fi
    local cand
    for cand in python3.13 python3.12 python3.11 python3 python; do
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$cand"
            return
        fi
    done
    echo "error: attnlab needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
    exit 1
}

_stamp_hash() {
    # hash of everything that decides what gets installed
    cat "$REPO_ROOT/pyproject.toml" "$REPO_ROOT/scripts/constraints.txt" | "$VENV/bin/python" -c \
        'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
}

ensure_venv() {
    local extras="${1:-}"
    if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        local py
        py="$(_find_python)"
        echo ">> creating $VENV with $("$py" --version 2>&1)"
        rm -rf "$VENV"
        "$py" -m venv "$VENV"
    fi
    local hash stamp_test stamp_wanted
    hash="$(_stamp_hash)"
    stamp_test="$VENV/.attnlab-installed-test"
    stamp_wanted="$VENV/.attnlab-installed-${extras:-base}"
    if [[ -f "$stamp_test" && "$(cat "$stamp_test")" == "$hash" ]]; then
        return # the test install is a superset of the others
    fi
    if [[ -f "$stamp_wanted" && "$(cat "$stamp_wanted")" == "$hash" ]]; then
        return
    fi
    local target="."
    [[ -n "$extras" ]] && target=".[$extras]"
    echo ">> installing attnlab ($target) into $VENV (first run: a few minutes)"
    (cd "$REPO_ROOT" && "$VENV/bin/python" -m pip install --quiet --upgrade pip &&
        "$VENV/bin/python" -m pip install --quiet -c scripts/constraints.txt -e "$target")
    echo "$hash" >"$stamp_wanted"
}
