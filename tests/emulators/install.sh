#!/usr/bin/env bash
# The object-store emulators tests/test_gcs_azure.py starts on 127.0.0.1, installed into this folder —
# or a failure that says what to install. `make install` and `make test` run this (so does CI, through
# `make test`); a test never installs anything, and a missing emulator fails its tests, never skips them.
#   - Azurite (Azure Blob Storage), pinned by package.json / package-lock.json: npm ci -> node_modules/
#   - fake-gcs-server (Google Cloud Storage), pinned below: go install -> bin/fake-gcs-server
# Nothing is done when the pinned versions are already there.
set -euo pipefail
cd "$(dirname "$0")"

FAKE_GCS_SERVER_VERSION=v1.56.1  # needs Go >= 1.26 (its go.mod)

PATH="$PATH:/usr/local/go/bin"
fail() { echo "make emulators: $*" >&2; exit 1; }

need_apt() {  # need_apt COMMAND PACKAGE...: install PACKAGE... when COMMAND is missing
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "make emulators: installing $* (apt-get)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    fail "the object-store tests need '$cmd': install it first (Debian: sudo apt-get install $*)"
  fi
}

# Azurite
need_apt node nodejs
need_apt npm npm
pinned=$(node -p "require('./package.json').devDependencies.azurite")
installed=$(node -p "try { require('./node_modules/azurite/package.json').version } catch (e) { '' }")
if [ "$installed" != "$pinned" ]; then
  echo "make emulators: installing Azurite $pinned (npm ci --prefix tests/emulators)" >&2
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error \
    || fail "'npm ci --prefix tests/emulators' failed: the Azure tests need Azurite $pinned in tests/emulators/node_modules"
fi

# fake-gcs-server
if [ "$(cat bin/fake-gcs-server.version 2>/dev/null)" != "$FAKE_GCS_SERVER_VERSION" ] || [ ! -x bin/fake-gcs-server ]; then
  command -v go >/dev/null 2>&1 \
    || fail "the GCS tests need Go >= 1.26 to build fake-gcs-server $FAKE_GCS_SERVER_VERSION (Debian bookworm's golang-go, 1.19, is too old): install Go from go.dev, then run 'make emulators'"
  echo "make emulators: building fake-gcs-server $FAKE_GCS_SERVER_VERSION (go install, a few minutes the first time)" >&2
  rm -f bin/fake-gcs-server.version
  GOBIN="$PWD/bin" GOFLAGS=-buildvcs=false go install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_SERVER_VERSION" \
    || fail "'go install github.com/fsouza/fake-gcs-server@$FAKE_GCS_SERVER_VERSION' failed: the GCS tests need tests/emulators/bin/fake-gcs-server"
  echo "$FAKE_GCS_SERVER_VERSION" > bin/fake-gcs-server.version
fi
