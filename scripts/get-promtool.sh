#!/usr/bin/env bash
# Prints the path of a promtool (Prometheus' checker of configurations and metrics), fetching
# Debian's prometheus package once into .promtool/ when PROMTOOL_BIN and PATH have none.
# test/deploy/deploy.test.ts and the metrics tests use it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.promtool"
for candidate in "${PROMTOOL_BIN:-}" "$dest/usr/bin/promtool" "$(command -v promtool || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" --version >/dev/null 2>&1; then
    echo "$candidate"
    exit 0
  fi
done
# Debian 12's (bookworm) prometheus package ships promtool (2.42); the one of Debian 13 fetched
# here did not. Only promtool is kept of the package's 95 MB.
unpacked="$dest.unpacked"
bash "$root/scripts/debian-package.sh" bookworm prometheus "$unpacked"
rm -rf "$dest"
mkdir -p "$dest/usr/bin"
mv "$unpacked/usr/bin/promtool" "$dest/usr/bin/promtool"
rm -rf "$unpacked"
"$dest/usr/bin/promtool" --version >/dev/null
echo "$dest/usr/bin/promtool"
