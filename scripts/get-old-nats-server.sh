#!/usr/bin/env bash
# Prints the path of a nats-server older than 2.12 (no atomic batch publish), fetching one when none
# is at hand. Tests run the service against it to check that append answers 501 there while the
# rest still starts. Debian bookworm ships 2.9.x; it is fetched through a private apt configuration
# that leaves the machine's own apt sources untouched, and unpacked into .nats-server-old/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.nats-server-old"
suite=bookworm

version_old() {
  local v
  v=$("$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1) || return 1
  [ -n "$v" ] || return 1
  local major minor
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  [ "$major" -eq 2 ] && [ "$minor" -lt 12 ]
}

for candidate in "${NATS_SERVER_OLD_BIN:-}" "$dest/usr/sbin/nats-server"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && version_old "$candidate"; then
    echo "$candidate"
    exit 0
  fi
done
if [ -n "${NATS_SERVER_OLD_BIN:-}" ]; then
  echo "NATS_SERVER_OLD_BIN=$NATS_SERVER_OLD_BIN is not a nats-server older than 2.12" >&2
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
  echo "no Debian mirror found in /etc/apt; set NATS_SERVER_OLD_BIN to a nats-server older than 2.12" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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
if ! version_old "$dest/usr/sbin/nats-server"; then
  echo "the fetched nats-server is not older than 2.12" >&2
  exit 1
fi
echo "$dest/usr/sbin/nats-server"
