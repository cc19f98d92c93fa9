#!/usr/bin/env bash
# Prints the path of a nats-server, fetching one when none is at hand.
#   get-nats-server.sh        a nats-server >= 2.12 (NATS_SERVER_BIN, PATH, or Debian sid's)
#   get-nats-server.sh --old  one older than 2.12, without atomic batch publish (NATS_SERVER_OLD_BIN,
#                             or Debian bookworm's 2.9.x): tests check that append answers 501 there.
# Debian stable's nats-server (2.9.x) lost acknowledged messages after a cluster leader was killed,
# so the service runs on the one from Debian's newest suite. Packages are fetched through a private
# apt configuration that leaves the machine's own apt sources untouched, and unpacked with dpkg -x.
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

# The mirror comes from the machine's own apt configuration, never from this repo.
mirror=$(grep -hoE '^URIs:[[:space:]]*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null \
  | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
if [ -z "$mirror" ]; then
  mirror=$(grep -hoE '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?\S+' /etc/apt/sources.list 2>/dev/null \
    | awk '{print $NF}' | grep -v -- '-security' | head -n1 || true)
fi
if [ -z "$mirror" ]; then
  echo "no Debian mirror found in /etc/apt; set $env_name to a nats-server $want" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt downloads as the unprivileged _apt user: it must be able to enter the work folder.
chmod 755 "$work"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/sources.d"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$keyring] $mirror $suite main" > "$work/sources.list"
opts=(
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=$work/sources.d"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "Dir::Cache::archives=$work/cache/archives"
  -o "Debug::NoLocking=1"
)
echo "fetching nats-server from Debian $suite ($mirror) ..." >&2
apt-get "${opts[@]}" -qq update >&2
(cd "$work" && chmod 777 . && apt-get "${opts[@]}" -qq download nats-server >&2)
rm -rf "$dest"
mkdir -p "$dest"
dpkg -x "$work"/nats-server_*.deb "$dest"
if ! wanted "$dest/usr/sbin/nats-server"; then
  echo "the fetched nats-server is not $want" >&2
  exit 1
fi
echo "$dest/usr/sbin/nats-server"
