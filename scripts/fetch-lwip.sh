#!/usr/bin/env bash
# Fetch lwIP 2.1.3 from Debian's `lwip` source package and unpack it under
# third_party/lwip/src (git-ignored).  The kernel's Makefile compiles what it
# needs from there against our own port (lib/net/lwipopts.h, lib/net/arch/);
# nothing in that tree is ever edited.
#
# The source comes through a deb-src entry that this script writes into its
# own apt directory (third_party/apt), made from the machine's own apt
# source, so the machine's apt configuration is left as it was and no
# package host is named here.
#
# Safe to run again: exits at once if the tree is there.
set -euo pipefail
cd "$(dirname "$0")/.."

top=$PWD/third_party
dest=$top/lwip/src
version=2.1.3
if [ -f "$dest/src/include/lwip/init.h" ] && grep -q "LWIP_VERSION_REVISION *3" "$dest/src/include/lwip/init.h"; then
	exit 0
fi

# The URI of the machine's first Debian source (deb822 or one-line form),
# and its release name.
uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$uri" ] || uri=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ -z "$uri" ] || [ -z "$suite" ]; then
	echo "fetch-lwip: cannot find the machine's apt source (/etc/apt) or release name" >&2
	exit 1
fi

apt=$top/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$top/lwip"
echo "deb-src $uri $suite main" >"$apt/sources.list"
opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
	-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
[ "$(id -u)" = 0 ] || opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
	-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1)

echo "fetch-lwip: apt-get source lwip ($suite)"
apt-get "${opts[@]}" -q update >/dev/null
work=$top/lwip/download
rm -rf "$work" "$dest"
mkdir -p "$work"
(cd "$work" && apt-get "${opts[@]}" -q source --download-only lwip >/dev/null)
dsc=$(ls "$work"/lwip_"$version"*.dsc 2>/dev/null | head -n 1 || true)
if [ -z "$dsc" ]; then
	echo "fetch-lwip: this release's lwip is not $version: $(ls "$work")" >&2
	exit 1
fi
dpkg-source --no-check -x "$dsc" "$dest" >/dev/null
rm -rf "$work"
echo "fetch-lwip: $(basename "$dsc" .dsc) in $dest"
