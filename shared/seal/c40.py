"""C40, the packing of upper-case text into bytes that a visible digital seal uses (three characters in two bytes).

The rules (ICAO Doc 9303 Part 13, after ISO/IEC 16022's DataMatrix C40) and their sources: docs/domain/visa-document.md.
The MRZ filler ``<`` is written as a space, and read back as ``<``.
"""

from __future__ import annotations

_ALPHABET = " 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # C40 values 3 to 39
_VALUE = {char: value for value, char in enumerate(_ALPHABET, start=3)}
_SHIFT_1 = 0  # pads a last pair of characters to a triple
_UNLATCH = 0xFE  # a last single character follows, in DataMatrix ASCII (its code plus one)


class C40Error(ValueError):
    """Text C40 cannot hold, or bytes that are not C40."""


def encoded_length(characters: int) -> int:
    """Bytes that ``characters`` characters take: two for each three begun."""
    return 2 * -(-characters // 3)


def encode(text: str) -> bytes:
    values = []
    for char in text.replace("<", " "):
        if char not in _VALUE:
            raise C40Error(f"C40 holds A-Z, 0-9, space and '<' only, not {char!r}")
        values.append(_VALUE[char])
    out = bytearray()
    whole = len(values) - len(values) % 3
    for i in range(0, whole, 3):
        out += _pack(*values[i : i + 3])
    rest = values[whole:]
    if len(rest) == 2:
        out += _pack(rest[0], rest[1], _SHIFT_1)
    elif len(rest) == 1:
        out += bytes((_UNLATCH, ord(_ALPHABET[rest[0] - 3]) + 1))
    return bytes(out)


def _pack(u1: int, u2: int, u3: int) -> bytes:
    return (1600 * u1 + 40 * u2 + u3 + 1).to_bytes(2, "big")


def decode(data: bytes, *, filler: str = "<") -> str:
    """The text of C40 ``data``; spaces are read as ``filler`` (the MRZ's ``<``; pass ``" "`` to keep them)."""
    if len(data) % 2:
        raise C40Error(f"C40 comes in pairs of bytes, not {len(data)} bytes")
    chars: list[str] = []
    for i in range(0, len(data), 2):
        first, second = data[i], data[i + 1]
        if first == _UNLATCH:
            if i + 2 != len(data):
                raise C40Error("a single character may only end C40 data")
            char = chr(second - 1)
            if char not in _VALUE:
                raise C40Error(f"byte {second:#04x} after 0xfe is no C40 character")
            chars.append(char)
            continue
        packed = first * 256 + second - 1
        if not 0 <= packed < 64000:
            raise C40Error(f"bytes {first:#04x} {second:#04x} are no C40 triple")
        triple = (packed // 1600, packed // 40 % 40, packed % 40)
        for position, value in enumerate(triple):
            if value == _SHIFT_1 and position == 2 and i + 2 == len(data):
                continue  # the pad of a last pair
            if value < 3:
                raise C40Error(f"C40 shift value {value} is not used in a seal")
            chars.append(_ALPHABET[value - 3])
    return "".join(chars).replace(" ", filler)
