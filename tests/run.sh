#!/usr/bin/env bash
# Installs what the tests need (SIPp from Debian's sip-tester, Debian's chromium, a
# virtualenv with the test extras) and runs the whole suite.  Usage: bash tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages: SIPp (sip-tester) and, for the browser tests (tests/portal,
# driven by Playwright's Python package; it never downloads a browser), chromium
missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
exec .venv/bin/python -m pytest "$@"
