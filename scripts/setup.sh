#!/usr/bin/env bash
# One-time set-up of a fresh Debian 12 machine: every package the project
# needs, then the third-party parts built under third_party/ (git-ignored).
# Safe to run again; it only redoes what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
	build-essential binutils make bear clang-format
	qemu-system-x86 qemu-utils ovmf gnu-efi
	mtools dosfstools fdisk gdisk
	python3-pytest libcmocka-dev
	clang llvm libclang-rt-14-dev
	newlib-source texinfo
	gnuplot-nox file valgrind
)

if [ "$(id -u)" = 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${packages[@]}"
else
	echo "setup: not root; assuming these are installed: ${packages[*]}" >&2
fi

scripts/build-newlib.sh
