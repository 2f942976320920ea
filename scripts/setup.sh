#!/usr/bin/env bash
# One-time set-up of a fresh Debian 12 machine: every package the project
# needs, then the third-party parts under third_party/ (git-ignored): newlib
# built, lwIP's source fetched (the kernel's Makefile compiles it).
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
	dpkg-dev xz-utils iproute2 curl iperf
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
scripts/fetch-lwip.sh
