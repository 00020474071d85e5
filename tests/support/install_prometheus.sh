#!/usr/bin/env bash
# Installs prometheus and promtool (the Debian package) when either is missing; a no-op when both
# are present, so `make` can call it on every run. The tests start their own Prometheus on
# 127.0.0.1, so the package's system service is kept from starting during the install.
set -euo pipefail

if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    echo "install_prometheus.sh: prometheus is missing and we are not root; install the" \
        "Debian package 'prometheus' (it ships prometheus and promtool)" >&2
    exit 1
fi

# policy-rc.d answering 101 tells invoke-rc.d and deb-systemd-invoke not to start services:
# otherwise the package would start a Prometheus listening on every interface, port 9090.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod 755 "$policy"
    trap '"${as_root[@]}" rm -f "$policy"' EXIT
fi

"${as_root[@]}" apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends prometheus
