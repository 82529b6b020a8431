#!/usr/bin/env bash
# Install memdive with its test extras in .venv and run the whole test suite.
# As root on Debian, first installs the Debian packages the tests use (scripts/debian-test-packages.txt).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    pkgs=$(grep -v '^#' scripts/debian-test-packages.txt | xargs)
    missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done | xargs)
    if [ -n "$missing" ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    fi
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q '.[test]'
exec .venv/bin/python -m pytest "$@"
