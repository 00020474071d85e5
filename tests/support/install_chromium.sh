#!/usr/bin/env bash
# Installs Debian's chromium for the sandbox page's browser test (tests/integration/
# test_sandbox_page.py drives it headless over the DevTools protocol); a no-op when
# /usr/bin/chromium is present, so `make` can call it on every run.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    echo "install_chromium.sh: /usr/bin/chromium is missing and we are not root; install the" \
        "Debian package 'chromium'" >&2
    exit 1
fi

install() {
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends chromium
}

# The package lists may be missing or stale on a fresh machine: update once, then retry.
if ! install; then
    "${as_root[@]}" apt-get update -q
    install
fi
