#!/usr/bin/env bash
# Prints the path of a Chromium for the console's browser tests (driven by playwright-core, whose
# own browser download cannot work offline): CHROMIUM_BIN, else one on the PATH, else Debian's
# `chromium` package, installed here when running as root (as CI does).
set -euo pipefail

if [ -n "${CHROMIUM_BIN:-}" ]; then
  if [ -x "$CHROMIUM_BIN" ]; then echo "$CHROMIUM_BIN"; exit 0; fi
  echo "CHROMIUM_BIN=$CHROMIUM_BIN is not an executable" >&2
  exit 1
fi
for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; exit 0; fi
done
if [ "$(id -u)" -ne 0 ]; then
  echo "no chromium found: install Debian's chromium (apt-get install chromium) or set CHROMIUM_BIN" >&2
  exit 1
fi
echo "installing chromium (apt-get) ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update >&2
apt-get install -y --no-install-recommends chromium >&2
command -v chromium
