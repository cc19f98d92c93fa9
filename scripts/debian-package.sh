#!/usr/bin/env bash
# Unpacks a Debian package into a folder without root and without touching the machine's apt setup:
#   debian-package.sh SUITE PACKAGE DEST
# The package is fetched through a private apt configuration (its own lists and cache, the
# machine's mirror and keyring) and unpacked with dpkg -x, so DEST/usr/... holds its files.
set -euo pipefail
suite=$1; package=$2; dest=$3

# The mirror comes from the machine's own apt configuration, never from this repo.
mirror=$(grep -hoE '^URIs:[[:space:]]*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null \
  | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
if [ -z "$mirror" ]; then
  mirror=$(grep -hoE '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?\S+' /etc/apt/sources.list 2>/dev/null \
    | awk '{print $NF}' | grep -v -- '-security' | head -n1 || true)
fi
if [ -z "$mirror" ]; then
  echo "no Debian mirror found in /etc/apt to fetch $package from" >&2
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
echo "fetching $package from Debian $suite ($mirror) ..." >&2
apt-get "${opts[@]}" -qq update >&2
(cd "$work" && chmod 777 . && apt-get "${opts[@]}" -qq download "$package" >&2)
rm -rf "$dest"
mkdir -p "$dest"
dpkg -x "$work"/"${package}"_*.deb "$dest"
