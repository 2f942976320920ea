#!/usr/bin/env bash
# Seed inputs for the libFuzzer targets, made afresh in $1: small FAT12 and
# FAT16 volumes (whole disk and MBR) with a long name, a subdirectory and a
# file, and for the lookup target the same with a path line in front.
set -euo pipefail
out=$1
mkdir -p "$out/mount" "$out/walk" "$out/lookup" "$out/http"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo hello > "$tmp/h.txt"
mkvol() { # name, mkfs options, KiB
	mkfs.fat -C $2 "$tmp/$1" $3 >/dev/null
	mmd -i "$tmp/$1" ::/sub
	mcopy -i "$tmp/$1" "$tmp/h.txt" "::/sub/A long name.txt"
	mcopy -i "$tmp/$1" "$tmp/h.txt" ::/short.txt
}
mkvol fat12.img "-F 12 -r 16" 64
mkvol fat16.img "-F 16 -s 1 -r 16" 2100
head -c 64K "$tmp/fat16.img" > "$tmp/fat16-head.img" # the FATs and root; data cut off
# An MBR disk: the table in sector 0, the FAT12 volume from sector 1.
{ head -c 446 /dev/zero; printf '\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x80\x00\x00\x00';
  head -c 48 /dev/zero; printf '\x55\xaa'; cat "$tmp/fat12.img"; } > "$tmp/mbr.img"
for f in fat12 fat16-head mbr; do
	cp "$tmp/$f.img" "$out/mount/$f"
	cp "$tmp/$f.img" "$out/walk/$f"
	{ echo "/sub/a LONG name.txt"; cat "$tmp/$f.img"; } > "$out/lookup/$f"
done
# HTTP request heads: the forms a server meets, good and bad.
printf 'GET /docs/A%%20file.txt?x=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n' > "$out/http/get"
printf 'PUT /up.bin HTTP/1.1\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\nhello world\n' > "$out/http/put"
printf 'DELETE /x HTTP/1.0\nConnection: close\n\n' > "$out/http/delete"
printf 'GET /%%2e%%2e/etc HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n' > "$out/http/bad"
