#!/usr/bin/env bash
# Installs everything the tests need on a clean Debian machine, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update
  $SUDO apt-get install -y "${missing[@]}"
fi

python3 -m pip install --quiet -e '.[test]'
python3 -m ruff check gateway tests
python3 -m mypy
python3 -m pytest -q -p no:cacheprovider "$@"
