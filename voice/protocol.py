"""Asterisk's AudioSocket framing: 1 byte type, 2 bytes big-endian length, payload.

Pure: no sockets of its own, only an ``asyncio.StreamReader`` to read from.

    0x00 hang-up (no payload)          0x01 call id (16-byte UUID)
    0x03 DTMF digit (1 ASCII byte)     0x10 audio (8 kHz s16le mono PCM)
    0xff error (1-byte error code)
"""

from __future__ import annotations

import asyncio
import struct
import uuid
from dataclasses import dataclass
from enum import IntEnum

HEADER = struct.Struct(">BH")
#: Largest payload read by default: Asterisk sends 320-byte audio frames; a
#: few times that allows other packetisations, much more is not AudioSocket.
MAX_PAYLOAD = 4096
DTMF_DIGITS = frozenset("0123456789*#ABCD")


class FrameType(IntEnum):
    HANGUP = 0x00
    CALL_ID = 0x01
    DTMF = 0x03
    AUDIO = 0x10
    ERROR = 0xFF


class ProtocolError(Exception):
    """The peer sent something that is not a valid AudioSocket frame."""


@dataclass(frozen=True)
class Frame:
    type: FrameType
    payload: bytes = b""

    @property
    def call_id(self) -> uuid.UUID:
        if self.type is not FrameType.CALL_ID:
            raise ValueError(f"a {self.type.name} frame has no call id")
        return uuid.UUID(bytes=self.payload)

    @property
    def digit(self) -> str:
        if self.type is not FrameType.DTMF:
            raise ValueError(f"a {self.type.name} frame has no digit")
        return self.payload.decode("ascii")

    @property
    def error_code(self) -> int | None:
        if self.type is not FrameType.ERROR:
            raise ValueError(f"a {self.type.name} frame has no error code")
        return self.payload[0] if self.payload else None


def _check(frame_type: FrameType, payload: bytes) -> None:
    if frame_type is FrameType.HANGUP and payload:
        raise ProtocolError(f"a hang-up frame carries no payload, got {len(payload)} bytes")
    if frame_type is FrameType.CALL_ID and len(payload) != 16:
        raise ProtocolError(f"a call id is 16 bytes, got {len(payload)}")
    if frame_type is FrameType.DTMF:
        if len(payload) != 1 or chr(payload[0]) not in DTMF_DIGITS:
            raise ProtocolError(f"not a DTMF digit: {payload[:8]!r}")
    if frame_type is FrameType.AUDIO and len(payload) % 2:
        raise ProtocolError(f"16-bit audio has an even length, got {len(payload)} bytes")


async def read_frame(reader: asyncio.StreamReader, max_payload: int = MAX_PAYLOAD) -> Frame | None:
    """The next frame, or None if the peer closed the connection between frames.

    Raises ``ProtocolError`` on an unknown type, a payload longer than
    ``max_payload``, a payload wrong for its type, or a disconnect in mid-frame.
    """
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("connection closed inside a frame header") from None
    code, length = HEADER.unpack(header)
    try:
        frame_type = FrameType(code)
    except ValueError:
        raise ProtocolError(f"unknown frame type 0x{code:02x}") from None
    if length > max_payload:
        raise ProtocolError(f"{frame_type.name} payload of {length} bytes exceeds {max_payload}")
    try:
        payload = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError(
            f"connection closed inside a {frame_type.name} payload "
            f"({len(exc.partial)} of {length} bytes)") from None
    _check(frame_type, payload)
    return Frame(frame_type, payload)


def encode(frame_type: FrameType | int, payload: bytes = b"") -> bytes:
    """One frame as bytes. Raises ``ProtocolError`` on an unknown type or a payload wrong for it."""
    try:
        frame_type = FrameType(frame_type)
    except ValueError:
        raise ProtocolError(f"unknown frame type {frame_type!r}") from None
    if len(payload) > 0xFFFF:
        raise ProtocolError(f"a payload is at most 65535 bytes, got {len(payload)}")
    _check(frame_type, payload)
    return HEADER.pack(frame_type, len(payload)) + payload


def encode_frame(frame: Frame) -> bytes:
    return encode(frame.type, frame.payload)


def hangup() -> bytes:
    return encode(FrameType.HANGUP)


def call_id(value: uuid.UUID) -> bytes:
    return encode(FrameType.CALL_ID, value.bytes)


def dtmf(digit: str) -> bytes:
    if digit not in DTMF_DIGITS:
        raise ProtocolError(f"not a DTMF digit: {digit!r}")
    return encode(FrameType.DTMF, digit.encode("ascii"))


def audio(pcm: bytes) -> bytes:
    return encode(FrameType.AUDIO, pcm)


def error(code: int) -> bytes:
    return encode(FrameType.ERROR, bytes([code]))
