"""AWS Lambda entry point of the Co-Intelligence code sandbox (CONTRACT section 1).

Thin on purpose: validate the event, hand the code to the executor (sandbox/executor.py),
shape the response, write one JSON log line. User code's failures are response values; a
function error (an exception escaping here) means the sandbox itself is broken or
misconfigured, never anything a child did.

This process holds the function's credentials and the Runtime API connection and never runs
user code: children are forked by the zygote (sandbox/zygote.py), a separate interpreter
started here during init with an empty environment.
"""

from __future__ import annotations

import json
import math
import sys
import time
import uuid
from typing import Any, Dict, Optional, Tuple

from sandbox import native
from sandbox.config import ConfigError, SandboxConfig, load_config
from sandbox.executor import Execution, execute
from sandbox.protocol import marshal_safe
from sandbox.zygote_client import SandboxUnavailable, ZygoteClient

MAX_CODE_BYTES = 64 * 1024
# Time kept back from Lambda's own deadline so the handler answers before Lambda kills it.
DEADLINE_MARGIN_MS = 300
# AWS Lambda refuses a synchronous response over 6,291,556 bytes (a function error), counted
# as its runtime serialises it (json.dumps, ensure_ascii=False): a control character takes 6
# bytes, a quote 2. The output caps alone do not keep within it (1 MiB of \x01 is 6 MiB).
MAX_RESPONSE_BYTES = 6_000_000


class InvalidRequest(ValueError):
    pass


def _cpu_seconds(timeout_ms: int) -> int:
    """RLIMIT_CPU of a child: the function's maximum wall-clock limit, rounded up, plus one."""
    return max(1, -(-timeout_ms // 1000)) + 1


def _log(record: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(marshal_safe(record), separators=(",", ":")) + "\n")
    sys.stdout.flush()


try:
    _CONFIG: Optional[SandboxConfig] = load_config()
    _CONFIG_ERROR: Optional[str] = None
except ConfigError as exc:
    _CONFIG, _CONFIG_ERROR = None, str(exc)

_ZYGOTE: Optional[ZygoteClient] = None
_ZYGOTE_ERROR: Optional[str] = None
_INIT_MS: Optional[float] = None


def _start_sandbox() -> None:
    """Start the zygote (during init, so the first request finds a child ready)."""
    global _ZYGOTE, _ZYGOTE_ERROR, _INIT_MS
    if _CONFIG is None:
        return
    started = time.perf_counter()
    try:
        # This process keeps the credentials: make /proc/<pid>/ of it root-only, so even a
        # process of the same uid that could open files could not read them there.
        native.load().set_dumpable(0)
        zygote = ZygoteClient(
            _CONFIG.allowed_modules,
            _cpu_seconds(_CONFIG.timeout_ms),
            _CONFIG.memory_mb,
            _CONFIG.max_output_bytes,
        )
        zygote.start()
        zygote.pump(5.0)  # the first standby child, so the first request does not wait for it
        _ZYGOTE, _ZYGOTE_ERROR = zygote, None
        _INIT_MS = (time.perf_counter() - started) * 1000
        _log(
            {
                "level": "INFO",
                "message": "sandbox ready",
                "initMs": round(_INIT_MS, 1),
                "unavailableModules": zygote.unavailable_modules,
            }
        )
    except (SandboxUnavailable, native.NativeHelperMissing) as exc:
        _ZYGOTE, _ZYGOTE_ERROR = None, str(exc)
        _log({"level": "ERROR", "message": "sandbox unavailable", "error": _ZYGOTE_ERROR})


_start_sandbox()


def _validate(event: Any, config: SandboxConfig) -> Tuple[str, int]:
    """Return (code, timeout_ms) or raise InvalidRequest with a message saying what to send."""
    if not isinstance(event, dict):
        raise InvalidRequest('the event must be a JSON object like {"code": "print(1)"}')
    if "code" not in event:
        raise InvalidRequest('the event needs a "code" field holding the Python source to run')
    code = event["code"]
    if not isinstance(code, str):
        raise InvalidRequest(f'"code" must be a string, got {type(code).__name__}')
    try:
        size = len(code.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidRequest('"code" must be valid Unicode text (it holds an unpaired surrogate)') from None
    if size > MAX_CODE_BYTES:
        raise InvalidRequest(f'"code" is {size} bytes of UTF-8; the limit is {MAX_CODE_BYTES} (64 KiB)')
    timeout_ms = event.get("timeoutMs")
    if timeout_ms is None:
        return code, config.timeout_ms
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float)):
        raise InvalidRequest(
            f'"timeoutMs" must be an integer number of milliseconds, got {type(timeout_ms).__name__}'
        )
    if isinstance(timeout_ms, float) and (not math.isfinite(timeout_ms) or not timeout_ms.is_integer()):
        raise InvalidRequest(f'"timeoutMs" must be an integer number of milliseconds, got {timeout_ms!r}')
    if timeout_ms < 1:
        raise InvalidRequest(f'"timeoutMs" must be at least 1, got {int(timeout_ms)}')
    return code, min(int(timeout_ms), config.timeout_ms)


def _remaining_ms(context: Any) -> Optional[int]:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(getter):
        return None
    try:
        return int(getter())
    except Exception:
        return None


def _response(execution: Execution, duration_ms: float) -> Dict[str, Any]:
    return _within_response_limit(
        marshal_safe(
            {
                "ok": execution.ok,
                "stdout": execution.stdout,
                "stderr": execution.stderr,
                "result": execution.result,
                "error": execution.error,
                "truncated": execution.truncated,
                "durationMs": round(duration_ms, 1),
            }
        )
    )


def _serialised_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def _within_response_limit(response: Dict[str, Any]) -> Dict[str, Any]:
    """`response` cut to MAX_RESPONSE_BYTES as serialised, longest text first (`truncated`)."""
    texts = [(response, "stdout"), (response, "stderr"), (response, "result")]
    if isinstance(response.get("error"), dict):
        texts += [(response["error"], "message"), (response["error"], "traceback")]
    if 6 * sum(len(holder[key] or "") for holder, key in texts) + 4096 <= MAX_RESPONSE_BYTES:
        return response  # the usual case: cannot be over, whatever the characters
    size = _serialised_bytes(response)
    while size > MAX_RESPONSE_BYTES:
        holder, key = max(texts, key=lambda text: len(text[0][text[1]] or ""))
        longest = holder[key] or ""
        if not longest:
            break
        # Cut by the text's mean bytes per character; when the cut part was leaner, go round again.
        per_char = _serialised_bytes(longest) / len(longest)
        cut = max(1, math.ceil((size - MAX_RESPONSE_BYTES) / per_char))
        holder[key] = longest[: max(0, len(longest) - cut)]
        response["truncated"] = True
        size = _serialised_bytes(response)
    return response


def _sandbox(request_id: str) -> ZygoteClient:
    """The running zygote; restarted when it died; a function error when it cannot run."""
    if _ZYGOTE is None or not _ZYGOTE.alive():
        if _ZYGOTE is not None:
            _ZYGOTE.close()
        _start_sandbox()
    if _ZYGOTE is None:
        _log(
            {
                "level": "ERROR",
                "message": "sandbox unavailable",
                "requestId": request_id,
                "error": _ZYGOTE_ERROR,
            }
        )
        raise SandboxUnavailable(_ZYGOTE_ERROR)
    return _ZYGOTE


def handler(event: Any, context: Any = None) -> Dict[str, Any]:
    """Run event["code"] in the sandbox and return the contract's response object."""
    started = time.perf_counter()
    request_id = str(getattr(context, "aws_request_id", None) or uuid.uuid4())
    if _CONFIG is None:
        _log(
            {
                "level": "ERROR",
                "message": "sandbox configuration error",
                "requestId": request_id,
                "error": _CONFIG_ERROR,
            }
        )
        raise ConfigError(_CONFIG_ERROR)
    config = _CONFIG
    try:
        code, timeout_ms = _validate(event, config)
    except InvalidRequest as exc:
        execution = Execution(
            ok=False, error={"type": "InvalidRequest", "message": str(exc), "traceback": None}
        )
        timeout_ms = 0
    else:
        remaining = _remaining_ms(context)
        if remaining is not None:
            timeout_ms = max(1, min(timeout_ms, remaining - DEADLINE_MARGIN_MS))
        zygote = _sandbox(request_id)
        try:
            execution = execute(zygote, code, timeout_ms, config.memory_mb, config.max_output_bytes)
        except SandboxUnavailable as exc:
            zygote.close()  # started afresh by the next invocation
            _log(
                {
                    "level": "ERROR",
                    "message": "sandbox unavailable",
                    "requestId": request_id,
                    "error": str(exc),
                }
            )
            raise
    duration_ms = (time.perf_counter() - started) * 1000
    error_type = execution.error["type"] if execution.error else None
    _log(
        {
            "level": "WARN" if error_type == "ProcessCrashed" else "INFO",
            "message": "invocation",
            "requestId": request_id,
            "durationMs": round(duration_ms, 1),
            "timeoutMs": timeout_ms,
            "ok": execution.ok,
            "errorType": error_type,
            "stdoutBytes": execution.stdout_bytes,
            "stderrBytes": execution.stderr_bytes,
            "truncated": execution.truncated,
            "maxRssKb": execution.max_rss_kb or None,  # known when the child's end was awaited
        }
    )
    return _response(execution, duration_ms)
