#!/usr/bin/env bash
# Install crowdsec_mp with its test dependencies into .venv and run the whole test suite.
# Usage: scripts/test.sh [pytest arguments...]
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e '.[test]'
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
