#!/usr/bin/env python3
"""The console contract's reference pattern: pattern.py SIZE SEED > FILE."""
import sys


def pattern(size, seed):
    s = seed or 0x9E3779B9
    out = bytearray()
    while len(out) < size:
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        out += s.to_bytes(4, "little")
    return bytes(out[:size])


if __name__ == "__main__":
    sys.stdout.buffer.write(pattern(int(sys.argv[1]), int(sys.argv[2], 0)))
