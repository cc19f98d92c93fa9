#!/usr/bin/env bash
# Prints the path of a nats-server >= 2.12, fetching one when none is at hand.
# Debian stable's nats-server (2.9.x) lost acknowledged messages after a cluster
# leader was killed, so we take the one from Debian's newest suite instead, through
# a private apt configuration that leaves the machine's own apt sources untouched.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.nats-server"
min_minor=12

version_ok() {
  local v
  v=$("$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1) || return 1
  [ -n "$v" ] || return 1
  local major minor
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  [ "$major" -gt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -ge "$min_minor" ]; }
}

for candidate in "${NATS_SERVER_BIN:-}" "$dest/usr/sbin/nats-server" "$(command -v nats-server || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && version_ok "$candidate"; then
    echo "$candidate"
    exit 0
  fi
done
if [ -n "${NATS_SERVER_BIN:-}" ]; then
  echo "NATS_SERVER_BIN=$NATS_SERVER_BIN is not a nats-server >= 2.$min_minor" >&2
  exit 1
fi

# The mirror comes from the machine's own apt configuration, never from this repo.
mirror=$(grep -hoE '^URIs:[[:space:]]*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null \
  | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
if [ -z "$mirror" ]; then
  mirror=$(grep -hoE '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?\S+' /etc/apt/sources.list 2>/dev/null \
    | awk '{print $NF}' | grep -v -- '-security' | head -n1 || true)
fi
if [ -z "$mirror" ]; then
  echo "no Debian mirror found in /etc/apt; set NATS_SERVER_BIN to a nats-server >= 2.$min_minor" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/sources.d"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$keyring] $mirror sid main" > "$work/sources.list"
opts=(
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=$work/sources.d"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "Dir::Cache::archives=$work/cache/archives"
  -o "Debug::NoLocking=1"
)
echo "fetching nats-server from Debian sid ($mirror) ..." >&2
apt-get "${opts[@]}" -qq update >&2
(cd "$work" && chmod 777 . && apt-get "${opts[@]}" -qq download nats-server >&2)
rm -rf "$dest"
mkdir -p "$dest"
dpkg -x "$work"/nats-server_*.deb "$dest"
if ! version_ok "$dest/usr/sbin/nats-server"; then
  echo "the fetched nats-server is older than 2.$min_minor" >&2
  exit 1
fi
echo "$dest/usr/sbin/nats-server"
