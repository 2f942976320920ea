#!/usr/bin/env bash
# Build newlib's libc.a and libm.a for the freestanding x86_64 kernel from
# Debian's newlib-source package, using the host gcc/binutils as the
# "x86_64-elf" target toolchain.
#
# Result (git-ignored):
#   third_party/newlib/install/x86_64-elf/lib/libc.a, libm.a
#   third_party/newlib/install/x86_64-elf/include/
#
# newlib is built without its own syscalls and without
# MISSING_SYSCALL_NAMES, so libc.a expects the kernel to provide the plain
# underscore names: _write _read _sbrk _close _fstat _isatty _lseek _exit
# _kill _getpid _open _gettimeofday _times _unlink _link _fork _execve
# _wait _stat.
#
# Safe to run again: exits at once if the installed libc.a matches the stamp.
set -euo pipefail
cd "$(dirname "$0")/.."

tarball=${NEWLIB_TARBALL:-$(ls /usr/src/newlib/newlib-*.tar.* 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$tarball" ] || [ ! -f "$tarball" ]; then
	echo "build-newlib: no newlib tarball under /usr/src/newlib (install newlib-source)" >&2
	exit 1
fi

top=$PWD/third_party/newlib
src=$top/src
build=$top/build
install=$top/install
stamp=$install/.tinyvio-stamp
target=x86_64-elf

# -fPIC: also linked into a gnu-efi PE application (-shared -Bsymbolic).
# -mno-red-zone: interrupts run on the same stack.
cflags_for_target="-O2 -g -mno-red-zone -ffreestanding -fPIC -fno-stack-protector"
cflags_for_target+=" -mcmodel=small -fno-asynchronous-unwind-tables"
# memcpy.S/memset.S/setjmp.S lack .note.GNU-stack; avoid ld's exec-stack warning.
cflags_for_target+=" -Wa,--noexecstack"
# newlib 3.3 predates gcc 12's stricter defaults; keep warnings non-fatal.
cflags_for_target+=" -Wno-error"
# newlib's configure.host adds -DMISSING_SYSCALL_NAMES for any target it does
# not know (x86_64-elf included), which makes libc call close/sbrk/write...
# Undo it (CFLAGS come after newlib's own flags) so that libc calls the
# underscore names _close/_sbrk/_write... that the kernel provides.
cflags_for_target+=" -UMISSING_SYSCALL_NAMES"

configure_args=(
	--target="$target"
	--prefix="$install"
	--disable-multilib
	--disable-libgloss
	--disable-newlib-supplied-syscalls
	--disable-nls
	--enable-newlib-io-long-long
	--enable-newlib-io-c99-formats
	CC=gcc
	CC_FOR_TARGET=gcc
	AR_FOR_TARGET=ar
	AS_FOR_TARGET=as
	LD_FOR_TARGET=ld
	RANLIB_FOR_TARGET=ranlib
	NM_FOR_TARGET=nm
	OBJDUMP_FOR_TARGET=objdump
	READELF_FOR_TARGET=readelf
	STRIP_FOR_TARGET=strip
	CFLAGS_FOR_TARGET="$cflags_for_target"
)

# Everything that should force a rebuild when it changes.
stamp_text="tarball=$(basename "$tarball") $(sha256sum "$tarball" | cut -d' ' -f1)
gcc=$(gcc -dumpfullversion)
configure=${configure_args[*]}"

if [ -f "$install/$target/lib/libc.a" ] && [ -f "$install/$target/lib/libm.a" ] &&
	[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ]; then
	echo "build-newlib: up to date in $install"
	exit 0
fi

echo "build-newlib: unpacking $(basename "$tarball") into $src"
rm -rf "$src" "$build" "$install"
mkdir -p "$src" "$build"
tar -xf "$tarball" -C "$src" --strip-components=1

echo "build-newlib: configuring for $target"
(cd "$build" && "$src/configure" "${configure_args[@]}") >"$top/configure.log" 2>&1 || {
	echo "build-newlib: configure failed; see $top/configure.log" >&2
	tail -n 30 "$top/configure.log" >&2
	exit 1
}

echo "build-newlib: building (make -j$(nproc))"
make -C "$build" -j"$(nproc)" all-target-newlib >"$top/build.log" 2>&1 || {
	echo "build-newlib: build failed; see $top/build.log" >&2
	tail -n 30 "$top/build.log" >&2
	exit 1
}

echo "build-newlib: installing"
make -C "$build" -j"$(nproc)" install-target-newlib >"$top/install.log" 2>&1 || {
	echo "build-newlib: install failed; see $top/install.log" >&2
	tail -n 30 "$top/install.log" >&2
	exit 1
}

for f in "$install/$target/lib/libc.a" "$install/$target/lib/libm.a" "$install/$target/include/stdio.h"; do
	if [ ! -f "$f" ]; then
		echo "build-newlib: missing $f after install" >&2
		exit 1
	fi
done

printf '%s\n' "$stamp_text" >"$stamp"
echo "build-newlib: installed to $install"
echo "build-newlib:   libraries: $install/$target/lib/libc.a libm.a"
echo "build-newlib:   headers:   -isystem $install/$target/include"
