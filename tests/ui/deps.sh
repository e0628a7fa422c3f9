#!/usr/bin/env bash
# What the headless-browser tests (tests/test_ui.py) need, installed when missing — or a failure that
# says what to install. `make test` runs this first, so the README's test command runs the same tests
# as CI (.ci/run calls `make test`); none of them is skipped for a missing browser.
#   - Debian's chromium (apt-get, when running as root; otherwise it says what to install)
#   - Node.js and npm, to install and run the driver
#   - playwright-core, pinned by ui/package-lock.json (npm ci --prefix ui)
set -euo pipefail
cd "$(dirname "$0")/../.."

need_apt() {  # need_apt COMMAND PACKAGE...: install PACKAGE... when COMMAND is missing
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "make test: installing $* for the browser tests (apt-get)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "make test: the browser tests need '$cmd': install it first (Debian: sudo apt-get install $*)" >&2
    exit 1
  fi
}

need_apt chromium chromium
need_apt node nodejs
need_apt npm npm
if [ ! -d ui/node_modules/playwright-core ]; then
  echo "make test: installing ui/node_modules (npm ci --prefix ui, pinned by ui/package-lock.json)" >&2
  npm ci --prefix ui --prefer-offline --no-audit --no-fund --loglevel=error || {
    echo "make test: 'npm ci --prefix ui' failed: the browser tests need ui/node_modules/playwright-core" >&2
    exit 1
  }
fi
