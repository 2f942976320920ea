#!/usr/bin/env bash
# Builds the demo disk: a 64 MiB whole-disk FAT32 volume holding demo/ plus
# pattern.bin (256 KiB of the reference pattern, seed 1).
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$out.tmp
rm -f "$tmp"
mkfs.fat -F 32 -s 1 -n TINYVIO --invariant -i 12345678 -C "$tmp" 65536 >/dev/null
export MTOOLS_SKIP_CHECK=1
mcopy -s -i "$tmp" "$here"/demo/* ::/
/usr/bin/python3 "$here/scripts/pattern.py" 262144 1 > "$out.pattern"
mcopy -i "$tmp" "$out.pattern" ::/pattern.bin
rm -f "$out.pattern"
mv "$tmp" "$out"
