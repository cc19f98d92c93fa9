#!/usr/bin/env bash
# Prints the path of a nats-server, fetching one when none is at hand.
#   get-nats-server.sh        a nats-server >= 2.12 (NATS_SERVER_BIN, PATH, or Debian sid's)
#   get-nats-server.sh --old  one older than 2.12, without atomic batch publish (NATS_SERVER_OLD_BIN,
#                             or Debian bookworm's 2.9.x): tests check that append answers 501 there.
# Debian stable's nats-server (2.9.x) lost acknowledged messages after a cluster leader was killed,
# so the service runs on the one from Debian's newest suite, fetched by scripts/debian-package.sh.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = "--old" ]; then
  suite=bookworm; dest="$root/.nats-server-old"; env_name=NATS_SERVER_OLD_BIN; want="older than 2.12"
  candidates=("${NATS_SERVER_OLD_BIN:-}" "$dest/usr/sbin/nats-server")
else
  suite=sid; dest="$root/.nats-server"; env_name=NATS_SERVER_BIN; want=">= 2.12"
  candidates=("${NATS_SERVER_BIN:-}" "$dest/usr/sbin/nats-server" "$(command -v nats-server || true)")
fi

wanted() {
  local v major minor
  v=$("$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1) || return 1
  [ -n "$v" ] || return 1
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  local recent=1
  [ "$major" -gt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -ge 12 ]; } || recent=0
  if [ "$suite" = sid ]; then [ "$recent" -eq 1 ]; else [ "$recent" -eq 0 ]; fi
}

if [ -n "${!env_name:-}" ] && ! { [ -x "${!env_name}" ] && wanted "${!env_name}"; }; then
  echo "$env_name=${!env_name} is not a nats-server $want" >&2
  exit 1
fi
for candidate in "${candidates[@]}"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && wanted "$candidate"; then
    echo "$candidate"
    exit 0
  fi
done

bash "$root/scripts/debian-package.sh" "$suite" nats-server "$dest"
if ! wanted "$dest/usr/sbin/nats-server"; then
  echo "the fetched nats-server is not $want" >&2
  exit 1
fi
echo "$dest/usr/sbin/nats-server"
