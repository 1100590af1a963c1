"""What crosses between the processes: the child's result (untrusted), the zygote's control
messages, and the rule that every string leaving the handler is valid UTF-8.

The child's message is read as hostile input: the child may have been taken over by the code
it ran. It is a flat list of tagged, length-prefixed fields (no nesting, so no recursion to
exhaust), read with a size cap, each field checked for type and length, every text decoded
with replacement characters, and error types held to the shape of a Python class name. Nothing
in it can change the parent's state: at worst a child lies about its own outcome.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Dict, Optional

RESULT_MAGIC = b"SBXR1"
FIELD_HEADER = 5  # tag (1 byte) + length (4 bytes, big-endian)
TAG_OK, TAG_RESULT, TAG_RESULT_TRUNCATED, TAG_TYPE, TAG_MESSAGE, TAG_TRACEBACK = (
    b"o",
    b"r",
    b"R",
    b"t",
    b"m",
    b"b",
)
_TAGS = frozenset({TAG_OK, TAG_RESULT, TAG_RESULT_TRUNCATED, TAG_TYPE, TAG_MESSAGE, TAG_TRACEBACK})

MAX_TYPE_BYTES = 100
MAX_MESSAGE_BYTES = 16 * 1024
MAX_TRACEBACK_BYTES = 64 * 1024
# A Python class name, optionally qualified (`__main__.Timeout`), ASCII, at most 100 characters.
ERROR_TYPE_SHAPE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
# Outcomes only the parent can establish, and the types the backend answers when it could not
# use the sandbox (contract/sandbox.ts BACKEND_ERROR_TYPES: the backend answers Throttled and
# ServerShuttingDown with 503 and Retry-After, SandboxUnavailable and SandboxError with 502, so
# a user's `class Throttled(Exception)` must not pass for them). A child naming its exception
# so is qualified (`class Timeout(Exception)` raised by user code is `__main__.Timeout`).
PARENT_ONLY_TYPES = frozenset(
    {
        "InvalidRequest",
        "Timeout",
        "ProcessCrashed",
        "SandboxUnavailable",
        "SandboxError",
        "Throttled",
        "Aborted",
        "ServerShuttingDown",
    }
)

# The child's single byte on the result pipe once every layer is in place (read by the zygote
# before it hands the child out), or the failure marker followed by the reason.
CHILD_READY = b"K"
CHILD_FAILED = b"F"
MAX_FAILURE_BYTES = 2048

MAX_CONTROL_BYTES = 4096


def result_capacity(max_output_bytes: int) -> int:
    """The most bytes a well-behaved child's result message can take; more is a broken child."""
    return (
        len(RESULT_MAGIC)
        + 6 * FIELD_HEADER
        + 1
        + 1
        + max_output_bytes
        + MAX_TYPE_BYTES
        + MAX_MESSAGE_BYTES
        + MAX_TRACEBACK_BYTES
    )


def utf8_prefix(text: str, max_bytes: int, keep_end: bool = False) -> bytes:
    """`text` as UTF-8 of at most `max_bytes`, cut at a character boundary; lone surrogates
    become their escape (`\\ud800`). keep_end keeps the last bytes instead of the first."""
    data = text.encode("utf-8", "backslashreplace")
    if len(data) <= max_bytes:
        return data
    if keep_end:
        return data[-max_bytes:].decode("utf-8", "ignore").encode("utf-8")
    return data[:max_bytes].decode("utf-8", "ignore").encode("utf-8")


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + len(payload).to_bytes(4, "big") + payload


def encode_result(
    ok: bool,
    result: Optional[str],
    result_truncated: bool,
    error: Optional[Dict[str, Any]],
    max_output_bytes: int,
) -> bytes:
    """The child's side: its outcome as one message (strings already capped by the caller
    are capped again here, so the message always fits result_capacity)."""
    parts = [RESULT_MAGIC, _field(TAG_OK, b"\x01" if ok else b"\x00")]
    if result is not None:
        encoded = utf8_prefix(result, max_output_bytes)
        result_truncated = result_truncated or len(encoded) < len(result.encode("utf-8", "backslashreplace"))
        parts.append(_field(TAG_RESULT, encoded))
    if result_truncated:
        parts.append(_field(TAG_RESULT_TRUNCATED, b"\x01"))
    if error is not None:
        parts.append(_field(TAG_TYPE, utf8_prefix(str(error.get("type", "Exception")), MAX_TYPE_BYTES)))
        parts.append(_field(TAG_MESSAGE, utf8_prefix(str(error.get("message", "")), MAX_MESSAGE_BYTES)))
        trace = error.get("traceback")
        if isinstance(trace, str):
            parts.append(_field(TAG_TRACEBACK, utf8_prefix(trace, MAX_TRACEBACK_BYTES, keep_end=True)))
    return b"".join(parts)


@dataclass
class ReportedOutcome:
    """What the child said happened, after every check."""

    ok: bool
    result: Optional[str]
    result_truncated: bool
    error: Optional[Dict[str, Any]]


def _text(payload: bytes, max_bytes: int) -> str:
    return payload[:max_bytes].decode("utf-8", "replace")


def clean_error_type(raw: str) -> Optional[str]:
    """The error type as reported, or None when it is not a class name of the allowed shape."""
    if len(raw) > MAX_TYPE_BYTES or not ERROR_TYPE_SHAPE.match(raw):
        return None
    return "__main__." + raw if raw in PARENT_ONLY_TYPES else raw


def decode_result(data: bytes, max_output_bytes: int) -> Optional[ReportedOutcome]:
    """The parent's side: the child's outcome, or None when the message is missing, too large
    or malformed in any way (the caller reports a crashed process then)."""
    if len(data) > result_capacity(max_output_bytes) or not data.startswith(RESULT_MAGIC):
        return None
    fields: Dict[bytes, bytes] = {}
    pos = len(RESULT_MAGIC)
    while pos < len(data):
        if pos + FIELD_HEADER > len(data):
            return None
        tag = data[pos : pos + 1]
        length = int.from_bytes(data[pos + 1 : pos + FIELD_HEADER], "big")
        pos += FIELD_HEADER
        if tag not in _TAGS or tag in fields or length > len(data) - pos:
            return None
        fields[tag] = data[pos : pos + length]
        pos += length
    ok_flag = fields.get(TAG_OK)
    if ok_flag not in (b"\x00", b"\x01"):
        return None
    ok = ok_flag == b"\x01"
    truncated_flag = fields.get(TAG_RESULT_TRUNCATED)
    if truncated_flag not in (None, b"\x01"):
        return None
    result = _text(fields[TAG_RESULT], max_output_bytes) if TAG_RESULT in fields else None
    has_error = TAG_TYPE in fields or TAG_MESSAGE in fields or TAG_TRACEBACK in fields
    if ok == has_error:
        return None
    error = None
    if has_error:
        if TAG_TYPE not in fields or TAG_MESSAGE not in fields or result is not None:
            return None
        kind = clean_error_type(_text(fields[TAG_TYPE], MAX_TYPE_BYTES))
        if kind is None:
            return None
        trace = fields.get(TAG_TRACEBACK)
        error = {
            "type": kind,
            "message": _text(fields[TAG_MESSAGE], MAX_MESSAGE_BYTES),
            "traceback": _text(trace, MAX_TRACEBACK_BYTES) if trace is not None else None,
        }
    return ReportedOutcome(ok=ok, result=result, result_truncated=truncated_flag is not None, error=error)


def marshal_safe(value: Any) -> Any:
    """`value` with every string valid UTF-8 (lone surrogates escaped as `\\udXXX`).

    AWS Lambda's Python runtime serialises the response with json.dumps(ensure_ascii=False)
    and then encodes it as UTF-8 outside any try block: one lone surrogate makes the runtime
    process exit. Every response passes through here, whatever produced its strings."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {marshal_safe(k): marshal_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [marshal_safe(v) for v in value]
    return value


def encode_control(message: Dict[str, Any]) -> bytes:
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_CONTROL_BYTES:
        raise ValueError("control message too large")
    return data


def decode_control(data: bytes) -> Dict[str, Any]:
    message = json.loads(data.decode("utf-8")) if data else {}
    if not isinstance(message, dict):
        raise ValueError("control message is not an object")
    return message
