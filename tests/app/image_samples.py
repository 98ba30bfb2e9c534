"""Small real images for the photo tests: a 1x1 JPEG and WebP, and PNGs built with zlib.

No imaging library is needed: ``png`` writes the chunks (IHDR, IDAT, IEND with
their CRCs) itself, so any decoder opens the result.
"""

from __future__ import annotations

import random
import struct
import zlib

#: A 1x1 JPEG (baseline, quality 50) and a 1x1 lossy WebP.
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e1211101318281a1816"
    "16183123251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d71797064785c6567"
    "63ffdb0043011112121815182f1a1a2f63423842636363636363636363636363636363636363636363636363"
    "6363636363636363636363636363636363636363636363636363ffc000110800010001030122000211010311"
    "01ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303"
    "020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f024"
    "33627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a63646566"
    "6768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7"
    "b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffc400"
    "1f0100030101010101010101010000000000000102030405060708090a0bffc400b511000201020404030407"
    "05040400010277000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a"
    "162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a63646566676869"
    "6a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9"
    "bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faffda000c030100"
    "02110311003f00c7a28a2b84fa83ffd9"
)
WEBP = bytes.fromhex(
    "524946463a00000057454250565038202e000000b001009d012a0100010001402625a00274ba000430000"
    "0fef1dc8ff80dd7c5b4cbffbd82ffdd82ffdd82ff5b0000"
)


def png(seed: int = 0, size: int = 2) -> bytes:
    """A valid RGB PNG of ``size`` x ``size`` pixels whose colour depends on ``seed``."""
    pixel = bytes([seed % 256, (seed // 256) % 256, 7])
    return _png(size, b"".join(b"\x00" + pixel * size for _ in range(size)))


def noisy_png(size: int, seed: int = 0) -> bytes:
    """A PNG of random pixels: it hardly compresses, so it weighs about 3 * size² bytes."""
    rng = random.Random(seed)
    raw = b"".join(b"\x00" + rng.randbytes(3 * size) for _ in range(size))
    return _png(size, raw)


def _png(size: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))
