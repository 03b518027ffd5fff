"""The seal as a 2D barcode: a DataMatrix (ECC 200) holding the payload's bytes as they are (docs/domain/visa-document.md).

zxing-cpp writes and reads it; nothing here draws or decodes a symbol by hand.
"""

from __future__ import annotations

import zxingcpp
from PIL import Image


class NoSeal(ValueError):
    """No DataMatrix could be read from the image."""


def modules(payload: bytes) -> list[list[bool]]:
    """The symbol's modules, row by row (True: dark), without its quiet zone; always square."""
    symbol = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.DataMatrix, force_square=True)
    bitmap = symbol.to_image(scale=1, add_quiet_zones=False)
    height, width = memoryview(bitmap).shape
    pixels = bytes(memoryview(bitmap))
    return [[pixels[row * width + column] < 128 for column in range(width)] for row in range(height)]


def image(payload: bytes, *, scale: int = 8, quiet_zone: int = 2) -> Image.Image:
    """The symbol as a black and white image: ``scale`` pixels a module, ``quiet_zone`` light modules around."""
    grid = modules(payload)
    size = len(grid) + 2 * quiet_zone
    picture = Image.new("L", (size, size), 255)
    for row, line in enumerate(grid):
        for column, dark in enumerate(line):
            if dark:
                picture.putpixel((column + quiet_zone, row + quiet_zone), 0)
    return picture.resize((size * scale, size * scale), Image.Resampling.NEAREST)


def read(picture: Image.Image) -> bytes:
    """The bytes of the DataMatrix in ``picture`` (a scan, a photograph, a rendered page)."""
    found = zxingcpp.read_barcode(picture.convert("L"), formats=zxingcpp.BarcodeFormat.DataMatrix)
    if found is None or not found.valid:
        raise NoSeal("no DataMatrix found in the image")
    return bytes(found.bytes)
