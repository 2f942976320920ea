#!/bin/sh
# scripts/mkesp.sh OUT.img BOOTX64.EFI
#
# A 34 MiB GPT disk with one EFI system partition (LBA 2048 to the end,
# FAT32, 512-byte clusters) holding /EFI/BOOT/BOOTX64.EFI, the path UEFI
# firmware boots from removable media with no boot entry: OVMF boots it
# with no interaction, and it can be written to a USB stick as it is.
# The GUIDs, the volume id and the FAT are fixed (mkfs.fat --invariant);
# only the timestamps mtools gives the files change from run to run.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 OUT.img BOOTX64.EFI" >&2
	exit 2
fi
out=$1
efi=$2
disk_mib=34
start=2048 # first sector of the ESP: 1 MiB aligned

tmp="$out.tmp"
trap 'rm -f "$tmp"' EXIT
rm -f "$tmp"
truncate -s "${disk_mib}M" "$tmp"
sgdisk --quiet -a 2048 -U 7E5F0000-7190-4C1A-B000-000000000001 \
	-n "1:$start:0" -t 1:EF00 -c "1:EFI system partition" \
	-u 1:7E5F0000-7190-4C1A-B000-000000000002 "$tmp" >/dev/null
end=$(sgdisk -i 1 "$tmp" | sed -n 's/^Last sector: \([0-9]*\).*/\1/p')
sectors=$((end - start + 1))

# mkfs.fat counts in 1 KiB blocks; an odd last sector is left unused.
mkfs.fat -F 32 -s 1 -S 512 -n ESP -i 7E5F0001 --invariant --offset="$start" \
	"$tmp" $((sectors / 2)) >/dev/null

img="$tmp@@$((start * 512))"
export MTOOLS_SKIP_CHECK=1
mmd -i "$img" ::/EFI ::/EFI/BOOT
mcopy -i "$img" "$efi" ::/EFI/BOOT/BOOTX64.EFI
# Checked here so a bad image never reaches a test.
fsck.fat -n --offset? >/dev/null 2>&1 || true
mdir -i "$img" -b ::/EFI/BOOT | grep -qx '::/EFI/BOOT/BOOTX64.EFI'

mv "$tmp" "$out"
trap - EXIT
