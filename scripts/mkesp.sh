#!/bin/sh
# scripts/mkesp.sh OUT.img BOOTX64.EFI
#
# A 34 MiB GPT disk with one EFI system partition (LBA 2048 up to the
# backup GPT, FAT32, 512-byte clusters) holding /EFI/BOOT/BOOTX64.EFI, the
# path UEFI firmware boots from removable media with no boot entry: OVMF
# boots it with no interaction, and it can be written to a USB stick as it
# is.  The volume is made and checked (fsck.fat -n) as a file of its own,
# then written into the partition.  The GUIDs, the volume id and the FAT
# layout are fixed (mkfs.fat --invariant); only the timestamps mtools gives
# the files change from run to run.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 OUT.img BOOTX64.EFI" >&2
	exit 2
fi
out=$1
efi=$2
disk_mib=34
start=2048 # first sector of the ESP: 1 MiB aligned

disk="$out.tmp"
vol="$out.vol.tmp"
trap 'rm -f "$disk" "$vol"' EXIT
rm -f "$disk" "$vol"
truncate -s "${disk_mib}M" "$disk"
sgdisk -a 2048 -U 7E5F0000-7190-4C1A-B000-000000000001 \
	-n "1:$start:0" -t 1:EF00 -c "1:EFI system partition" \
	-u 1:7E5F0000-7190-4C1A-B000-000000000002 "$disk" >/dev/null
end=$(sgdisk -i 1 "$disk" | sed -n 's/^Last sector: \([0-9]*\).*/\1/p')
# mkfs.fat counts in 1 KiB blocks: the volume has an even number of
# sectors, and an odd last sector of the partition stays unused.
sectors=$(((end - start + 1) / 2 * 2))

truncate -s $((sectors * 512)) "$vol"
mkfs.fat -F 32 -s 1 -S 512 -n ESP --invariant "$vol" >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$vol" ::/EFI ::/EFI/BOOT
mcopy -i "$vol" "$efi" ::/EFI/BOOT/BOOTX64.EFI
# Checked here so a bad image never reaches a test.
fsck.fat -n "$vol" >/dev/null
dd if="$vol" of="$disk" bs=512 seek="$start" conv=notrunc status=none
# Read back from the partition, as the firmware will find it.
mcopy -n -i "$disk@@$((start * 512))" ::/EFI/BOOT/BOOTX64.EFI "$vol"
cmp -s "$efi" "$vol" || { echo "$0: BOOTX64.EFI reads back different" >&2; exit 1; }
rm -f "$vol"
mv "$disk" "$out"
trap - EXIT
