"""Which images residents may send, recognised by their first bytes.

The declared content type of an upload is only a claim; ``sniff`` reads the
file's signature, so a renamed document or a script is refused whatever its
header says.
"""

from __future__ import annotations

JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"

#: The image types residents may send, as their media types.
IMAGE_TYPES = (JPEG, PNG, WEBP)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sniff(data: bytes) -> str | None:
    """The media type ``data`` is by its signature (one of ``IMAGE_TYPES``), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(_PNG_SIGNATURE):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def media_type(header: str | None) -> str:
    """The bare media type of a ``Content-Type`` header, lower-cased (``""`` if none)."""
    return (header or "").split(";", 1)[0].strip().lower()
