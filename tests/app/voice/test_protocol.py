"""The AudioSocket codec: every frame type round-trips, every malformed input is a ProtocolError."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from voice import protocol
from voice.protocol import MAX_PAYLOAD, Frame, FrameType, ProtocolError, encode, read_frame


def reader_of(data: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


async def read_all(data: bytes) -> list[Frame]:
    reader = reader_of(data)
    frames = []
    while (frame := await read_frame(reader)) is not None:
        frames.append(frame)
    return frames


@pytest.mark.asyncio
async def test_every_frame_type_round_trips() -> None:
    call = uuid.uuid4()
    pcm = bytes(range(256)) + bytes(64)
    data = (protocol.call_id(call) + protocol.audio(pcm) + protocol.dtmf("7")
            + protocol.dtmf("#") + protocol.error(0x02) + protocol.hangup())
    frames = await read_all(data)
    assert [f.type for f in frames] == [FrameType.CALL_ID, FrameType.AUDIO, FrameType.DTMF,
                                        FrameType.DTMF, FrameType.ERROR, FrameType.HANGUP]
    assert frames[0].call_id == call
    assert frames[1].payload == pcm
    assert [frames[2].digit, frames[3].digit] == ["7", "#"]
    assert frames[4].error_code == 2
    assert frames[5].payload == b""
    assert b"".join(protocol.encode_frame(f) for f in frames) == data


def test_header_is_type_then_big_endian_length() -> None:
    assert encode(FrameType.AUDIO, bytes(320))[:3] == b"\x10\x01\x40"
    assert protocol.hangup() == b"\x00\x00\x00"
    assert protocol.dtmf("5") == b"\x03\x00\x015"


@pytest.mark.asyncio
async def test_clean_close_between_frames_is_the_end_not_an_error() -> None:
    assert await read_frame(reader_of(b"")) is None


@pytest.mark.asyncio
@pytest.mark.parametrize("data, message", [
    (b"\x42\x00\x00", "unknown frame type 0x42"),
    (b"\x02\x00\x00", "unknown frame type 0x02"),
    (b"\x10" + (MAX_PAYLOAD + 1).to_bytes(2, "big"), "exceeds"),
    (b"\x01\x00\x0f" + bytes(15), "a call id is 16 bytes"),
    (b"\x01\x00\x11" + bytes(17), "a call id is 16 bytes"),
    (b"\x03\x00\x01x", "not a DTMF digit"),
    (b"\x03\x00\x02" + b"12", "not a DTMF digit"),
    (b"\x03\x00\x00", "not a DTMF digit"),
    (b"\x00\x00\x01\x00", "hang-up frame carries no payload"),
    (b"\x10\x00\x03abc", "even length"),
    (b"\x10\x01", "inside a frame header"),
    (b"\x10\x01\x40" + bytes(100), "inside a AUDIO payload (100 of 320 bytes)"),
])
async def test_malformed_input_is_a_protocol_error(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await read_frame(reader_of(data))


@pytest.mark.asyncio
async def test_the_payload_limit_is_the_readers_choice() -> None:
    data = encode(FrameType.AUDIO, bytes(640))
    assert (await read_frame(reader_of(data), max_payload=640)).payload == bytes(640)
    with pytest.raises(ProtocolError):
        await read_frame(reader_of(data), max_payload=320)


@pytest.mark.asyncio
async def test_a_frame_split_across_reads_is_assembled() -> None:
    reader = asyncio.StreamReader()
    data = protocol.audio(bytes(range(200)) * 2)
    task = asyncio.create_task(read_frame(reader))
    for i in range(0, len(data), 7):
        reader.feed_data(data[i:i + 7])
        await asyncio.sleep(0)
    assert (await task).payload == bytes(range(200)) * 2


@pytest.mark.parametrize("frame_type, payload", [
    (FrameType.CALL_ID, bytes(5)),
    (FrameType.DTMF, b"E"),
    (FrameType.HANGUP, b"x"),
    (FrameType.AUDIO, bytes(3)),
    (FrameType.AUDIO, bytes(70000)),
])
def test_encode_refuses_what_read_frame_would_refuse(frame_type: FrameType, payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        encode(frame_type, payload)


def test_encode_refuses_unknown_types_and_digits() -> None:
    with pytest.raises(ProtocolError):
        encode(0x42)
    with pytest.raises(ProtocolError):
        protocol.dtmf("é")


def test_frame_accessors_check_the_type() -> None:
    with pytest.raises(ValueError):
        _ = Frame(FrameType.AUDIO, bytes(2)).call_id
    with pytest.raises(ValueError):
        _ = Frame(FrameType.HANGUP).digit
    assert Frame(FrameType.ERROR).error_code is None
