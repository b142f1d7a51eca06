#!/usr/bin/env bash
# mixedlm set-up: one script, two jobs (see README.md).
#
#   bash scripts/setup.sh          # main job: set up, then run the cbpp GLMM tutorial
#   bash scripts/setup.sh test     # test job: set up (with test extras), ruff, then pytest
#   bash scripts/setup.sh setup    # set up only
#
# Set-up = Debian packages if missing (apt, as root or through sudo) -> virtual
# environment in .venv -> `pip install -e .` (editable, so edits to mixedlm/ need no
# reinstall). A second run skips apt when the packages are installed (dpkg) and skips
# pip when pyproject.toml, setup.py, this script, the interpreter and the repository
# path are unchanged since the last successful install.
#
# Arguments after `test` go to pytest:  bash scripts/setup.sh test -k datasets -x
#
# Environment:
#   PYTHON=/path/to/python3   interpreter for the venv (default: python3 on PATH,
#                             must be >= 3.10)
#   MIXEDLM_VENV=dir          venv location (default: .venv in the repository)
#   MIXEDLM_SKIP_APT=1        do not check or install Debian packages (you provide them)
#   MIXEDLM_FORCE_PIP=1       reinstall even when nothing changed
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

JOB="${1:-run}"
[[ $# -gt 0 ]] && shift
case "$JOB" in
    run | test | setup) ;;
    -h | --help | help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "usage: bash scripts/setup.sh [run | test [pytest args...] | setup]" >&2
        exit 2
        ;;
esac

VENV="${MIXEDLM_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
# Debian packages the build needs: a Python with venv and headers, a C compiler,
# and SuiteSparse's headers (scikit-sparse 0.4.16 compiles against Debian 12's 5.12).
APT_PACKAGES=(python3 python3-venv python3-dev build-essential libsuitesparse-dev)

START=$SECONDS
say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() {
    printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2
    exit 1
}

conda_hint="Without root, use the conda route in README.md (\"Without root: conda\")."

# --- 1. system packages --------------------------------------------------------------
is_installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }

ensure_system_packages() {
    if [[ "${MIXEDLM_SKIP_APT:-0}" == 1 ]]; then
        say "MIXEDLM_SKIP_APT=1: not checking Debian packages"
        return
    fi
    if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
        say "not a Debian-like system (no dpkg/apt-get): skipping system packages."
        say "You need Python >= 3.10 with venv, a C compiler and SuiteSparse headers; $conda_hint"
        return
    fi
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do
        is_installed "$p" || missing+=("$p")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        say "system packages present: ${APT_PACKAGES[*]}"
        return
    fi

    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        if ! command -v sudo >/dev/null 2>&1; then
            die "missing Debian packages: ${missing[*]}. Installing them needs root, and \
sudo is not installed. Ask an administrator to run: apt-get install ${missing[*]}
        $conda_hint"
        fi
        if ! sudo -n true 2>/dev/null && [[ ! -t 0 ]]; then
            die "missing Debian packages: ${missing[*]}. 'sudo -n' cannot run commands for \
you without a password, and there is no terminal to ask for one. Run this script from a \
terminal if you may use sudo, or ask an administrator to run: apt-get install ${missing[*]}
        $conda_hint"
        fi
        sudo=(sudo)
    fi
    say "installing Debian packages: ${missing[*]}${sudo:+ (with sudo)}"
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q \
        || ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}"; then
        die "apt-get could not install: ${missing[*]}. $conda_hint"
    fi
}

# --- 2. virtual environment ---------------------------------------------------------
ensure_venv() {
    if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        return
    fi
    if [[ -e "$VENV" ]]; then
        [[ -f "$VENV/pyvenv.cfg" ]] || die "$VENV exists but is not a virtual environment; move it away"
        say "removing the broken virtual environment $VENV"
        rm -rf -- "$VENV"
    fi
    command -v "$PYTHON" >/dev/null 2>&1 || die "no '$PYTHON' found. $conda_hint"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "$("$PYTHON" --version 2>&1) is too old: mixedlm needs Python >= 3.10 (set PYTHON=...)"
    say "creating $VENV with $("$PYTHON" --version 2>&1) ($(command -v "$PYTHON"))"
    "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
}

# --- 3. the package ---------------------------------------------------------------------
# A fingerprint of everything that decides what pip installs. Editable install: changes
# under mixedlm/ and datasets/ are live without reinstalling.
fingerprint() {
    {
        printf '%s\n' "$ROOT" "$VENV"
        "$VENV/bin/python" -c 'import sys; print(sys.version)'
        cat pyproject.toml setup.py "${BASH_SOURCE[0]}"
    } | sha256sum | cut -d' ' -f1
}

ensure_package() {
    local extras="$1" stamp="$VENV/.mixedlm-setup-stamp" fp
    fp="$(fingerprint)"
    if [[ "${MIXEDLM_FORCE_PIP:-0}" != 1 && -f "$stamp" ]]; then
        local old_fp old_extras
        read -r old_fp old_extras <"$stamp" || true
        # up to date if the fingerprint matches, the extras we need were installed, and
        # the editable install still points at this repository
        if [[ "$old_fp" == "$fp" ]] && covers_extras "${old_extras:-}" "$extras" \
            && "$VENV/bin/python" -I - "$ROOT" <<'PY' 2>/dev/null; then
import json, sys
from importlib.metadata import distribution
url = json.loads(distribution("mixedlm").read_text("direct_url.json") or "{}").get("url", "")
sys.exit(0 if url.rstrip("/") == "file://" + sys.argv[1].rstrip("/") else 1)
PY
            say "mixedlm already installed in $VENV and nothing changed: skipping pip"
            return
        fi
        # keep extras installed earlier (a test run after a plain run keeps both)
        [[ "$old_fp" == "$fp" && -n "${old_extras:-}" ]] && extras="$(merge_extras "$old_extras" "$extras")"
    fi
    rm -f "$stamp"
    local target="."
    [[ -n "$extras" ]] && target=".[$extras]"
    say "pip install -e '$target' (the first time, this compiles scikit-sparse: a minute or two)"
    "$VENV/bin/python" -m pip install --progress-bar off -q -e "$target" \
        || die "pip install failed (see above). $conda_hint"
    # the compiled dependencies load (CHOLMOD from the system SuiteSparse, NLopt, numba)
    "$VENV/bin/python" -I -c 'import sksparse.cholmod, nlopt, numba, formulaic, pandas' \
        || die "installed, but the dependencies do not import (see above). $conda_hint"
    printf '%s %s\n' "$fp" "${extras:-}" >"$stamp"
}

# covers_extras "test,dask" "test" -> true: every extra in $2 is in $1
covers_extras() {
    local e
    for e in ${2//,/ }; do
        [[ ",$1," == *",$e,"* ]] || return 1
    done
}

merge_extras() {
    printf '%s\n' "$1" "$2" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -
}

ensure_system_packages
ensure_venv
case "$JOB" in
    test) ensure_package test ;;
    *) ensure_package "" ;;
esac
say "set-up done in $((SECONDS - START)) s"

# --- 4. the job ---------------------------------------------------------------------------
case "$JOB" in
    run)
        say "running examples/cbpp_tutorial.py"
        exec "$VENV/bin/python" examples/cbpp_tutorial.py
        ;;
    test)
        # lint and format first (configured in pyproject.toml), so CI fails on either
        say "ruff check and ruff format --check (mixedlm, tests, benchmarks, examples, scripts)"
        "$VENV/bin/ruff" check mixedlm tests benchmarks examples scripts \
            || die "ruff check found problems (fix them, or 'ruff check --fix' for the automatic ones)"
        "$VENV/bin/ruff" format --check mixedlm tests benchmarks examples scripts \
            || die "files are not formatted: run 'ruff format mixedlm tests benchmarks examples scripts'"
        say "running the test suite: python -m pytest $*"
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    setup)
        say "activate with: source ${VENV#"$ROOT"/}/bin/activate"
        ;;
esac
