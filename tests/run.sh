#!/usr/bin/env bash
# Installs what the tests need (SIPp from Debian's sip-tester, a virtualenv with the
# test extras) and runs the whole suite.  Usage: bash tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v sipp >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester >/dev/null
    else
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester >/dev/null
    fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
exec .venv/bin/python -m pytest "$@"
