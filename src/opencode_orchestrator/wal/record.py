"""The record codec: one checksummed JSON object per line, and its upgrade chain.

A line is the canonical body (``orjson`` with sorted keys) with the checksum
spliced in as its first member::

    {"crc":"1c291ca3","data":{"goal":"x"},"seq":1,"ts":1700000000.25,"type":"mission.created","v":2}

``crc`` is the CRC32 (zlib) of the line without ``"crc":"........",``, i.e. of the
exact body bytes that were serialised. Because the field has a fixed width and a
fixed position, verification is one slice and one ``zlib.crc32`` call: nothing
is re-serialised.

Version 1 (the layout before ``ts``/``type``/``data``) is still read and upgraded
through :data:`UPGRADES`; a version above :data:`CURRENT_VERSION` fails closed.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

__all__ = [
    "CURRENT_VERSION",
    "UPGRADES",
    "InvalidLineError",
    "Record",
    "UnsupportedVersionError",
    "decode_line",
    "decode_object",
    "encode_record",
    "frame",
    "frame_is_valid",
    "new_record",
]

CURRENT_VERSION: Final = 2

_PREFIX: Final = b'{"crc":"'
_CRC_END: Final = 16  # len(_PREFIX) + 8 hex digits
_BODY_START: Final = 18  # after '",' that closes the crc member
_CRC_OF_BRACE: Final = zlib.crc32(b"{")


@dataclass(frozen=True, slots=True)
class Record:
    """One entry of the log, as appended and as replayed.

    Attributes:
        v: format version the record is expressed in (always current once read).
        seq: position in the log, consecutive from 1.
        ts: wall-clock time of the append, seconds since the epoch.
        type: registered record type, e.g. ``"mission.created"``.
        data: the payload, a JSON object.
    """

    v: int
    seq: int
    ts: float
    type: str
    data: dict[str, Any]


class _RecordLayout:
    """A mutable twin of :class:`Record`: the same slots (CPython lays them out sorted).

    Should the two ever differ, the ``__class__`` assignment in :func:`new_record`
    raises ``TypeError``: no record is built wrong silently.
    """

    __slots__ = ("data", "seq", "ts", "type", "v")
    v: int
    seq: int
    ts: float
    type: str
    data: dict[str, Any]


def new_record(seq: int, ts: float, record_type: str, data: dict[str, Any]) -> Record:
    """``Record(CURRENT_VERSION, seq, ts, record_type, data)``, about four times as fast.

    A frozen dataclass can only be filled through ``object.__setattr__`` or its
    slot descriptors, both C calls per field (hot path of append and replay).
    Its mutable twin takes plain attribute stores, which the interpreter
    specialises, and then becomes a :class:`Record` by a ``__class__``
    assignment, which CPython allows between types of the same layout.
    """
    record = _RecordLayout()
    record.v = CURRENT_VERSION
    record.seq = seq
    record.ts = ts
    record.type = record_type
    record.data = data
    record.__class__ = Record  # type: ignore[assignment]
    return record  # type: ignore[return-value]


class InvalidLineError(Exception):
    """A line is torn, altered or malformed (internal: callers add path and offset)."""


class UnsupportedVersionError(Exception):
    """A checksummed object carries a version this code cannot read (internal)."""

    def __init__(self, version: object) -> None:
        super().__init__(f"unsupported version {version!r}")
        self.version = version


def frame(body: bytes) -> bytes:
    """Splice the checksum of ``body`` (a serialised JSON object) into it as ``crc``."""
    crc = zlib.crc32(body)
    return b'{"crc":"%08x",%s' % (crc, body[1:])


def frame_is_valid(line: bytes) -> bool:
    """Whether ``line`` (without its newline) carries a matching checksum."""
    if not line.startswith(_PREFIX) or line[_CRC_END:_BODY_START] != b'",':
        return False
    try:
        expected = int(line[len(_PREFIX) : _CRC_END], 16)
    except ValueError:
        return False
    return zlib.crc32(line[_BODY_START:], _CRC_OF_BRACE) == expected


def encode_record(seq: int, ts: float, record_type: str, data: dict[str, Any]) -> bytes:
    """The framed line for a current-version record, newline included.

    Raises:
        TypeError: ``data`` holds something JSON cannot represent.
    """
    body = orjson.dumps(
        {"data": data, "seq": seq, "ts": ts, "type": record_type, "v": CURRENT_VERSION},
        option=orjson.OPT_SORT_KEYS,
    )
    # frame(body) + b"\n" in one copy
    return b'{"crc":"%08x",%s\n' % (zlib.crc32(body), body[1:])


def decode_object(line: bytes) -> dict[str, Any]:
    """Check the frame of ``line`` and parse it, without interpreting the fields.

    Raises:
        InvalidLineError: checksum mismatch, or not a JSON object.
    """
    if not frame_is_valid(line):
        raise InvalidLineError("checksum mismatch or malformed frame")
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidLineError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidLineError("not a JSON object")
    return obj


def _upgrade_v1(obj: dict[str, Any]) -> dict[str, Any]:
    # v1 named the fields kind/payload and stamped an ISO-8601 "time".
    try:
        ts = datetime.fromisoformat(obj["time"]).timestamp()
        return {"v": 2, "seq": obj["seq"], "ts": ts, "type": obj["kind"], "data": obj["payload"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidLineError(f"malformed version 1 record: {exc!r}") from None


UPGRADES: Final[dict[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {1: _upgrade_v1}
"""``UPGRADES[n]`` turns a version-``n`` object into a version ``n + 1`` one."""


def decode_line(line: bytes) -> Record:
    """Verify, parse and upgrade one line (without its newline) into a :class:`Record`.

    Raises:
        InvalidLineError: the line is torn, altered or malformed.
        UnsupportedVersionError: the version is unknown (newer, or never existed).
    """
    obj = decode_object(line)
    version = obj.get("v")
    if type(version) is not int or not 1 <= version <= CURRENT_VERSION:
        raise UnsupportedVersionError(version)
    while version < CURRENT_VERSION:
        obj = UPGRADES[version](obj)
        version += 1
    seq, ts, record_type, data = obj.get("seq"), obj.get("ts"), obj.get("type"), obj.get("data")
    if type(seq) is not int or seq < 1:
        raise InvalidLineError(f"bad seq {seq!r}")
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        raise InvalidLineError(f"bad ts {ts!r}")
    if not isinstance(record_type, str) or not isinstance(data, dict):
        raise InvalidLineError("bad type or data")
    return new_record(seq, float(ts), record_type, data)
