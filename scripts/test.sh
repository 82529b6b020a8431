#!/usr/bin/env bash
# Install memdive with its test extras in .venv and run the whole test suite.
# On Debian, first installs the Debian packages the tests use (scripts/debian-test-packages.txt), as root
# or through sudo.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v dpkg >/dev/null 2>&1; then
    pkgs=$(grep -v '^#' scripts/debian-test-packages.txt | xargs)
    missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done | xargs)
    if [ -n "$missing" ]; then
        if [ "$(id -u)" = 0 ]; then
            sudo=""
        elif command -v sudo >/dev/null 2>&1; then
            sudo="sudo"
        else
            echo "scripts/test.sh: the tests need these Debian packages: $missing (install them as root)" >&2
            exit 1
        fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
    fi
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q '.[test]'
exec .venv/bin/python -m pytest "$@"
