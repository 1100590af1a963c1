"""AWS Lambda entry point of the Co-Intelligence code sandbox (CONTRACT section 1).

Thin on purpose: validate the event, hand the code to the executor (sandbox/executor.py),
shape the response, write one JSON log line. User code's failures are response values;
a function error (an exception escaping here) means the sandbox itself is misconfigured.
"""

from __future__ import annotations

import gc
import json
import math
import sys
import time
import uuid
from typing import Any, Dict, Optional

from sandbox import seccomp, warmup
from sandbox.config import ConfigError, SandboxConfig, load_config
from sandbox.executor import Execution, execute, prepare_standby

MAX_CODE_BYTES = 64 * 1024
# Time kept back from Lambda's own deadline so the handler answers before Lambda kills it.
DEADLINE_MARGIN_MS = 300

try:
    _CONFIG: Optional[SandboxConfig] = load_config()
    _CONFIG_ERROR: Optional[str] = None
except ConfigError as exc:
    _CONFIG, _CONFIG_ERROR = None, str(exc)

# Warm parent: every allowed module (and its lazy helpers) is imported once, here, so each
# forked child starts with them and the audit hook never needs to admit an import.
warmup.warm(_CONFIG.allowed_modules if _CONFIG else ())
seccomp.prepare()
# The parent keeps the function's credentials in its environment: make it unreadable through
# /proc/<pid>/ to any other process of the same uid (the children, in Lambda).
seccomp.make_undumpable()
# Objects that exist now are never collected again; a child's garbage collector then leaves
# the parent's pages alone, so fork's copy-on-write copies less.
gc.freeze()
if _CONFIG is not None:  # the first child is prepared during the function's init phase
    prepare_standby(_CONFIG.allowed_modules, _CONFIG.timeout_ms, _CONFIG.memory_mb, _CONFIG.max_output_bytes)

_kernel_filter_warned = False


class InvalidRequest(ValueError):
    pass


def _validate(event: Any, config: SandboxConfig) -> tuple:
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
        raise InvalidRequest(f'"timeoutMs" must be an integer number of milliseconds, got {type(timeout_ms).__name__}')
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
    return {
        "ok": execution.ok,
        "stdout": execution.stdout,
        "stderr": execution.stderr,
        "result": execution.result,
        "error": execution.error,
        "truncated": execution.truncated,
        "durationMs": round(duration_ms, 1),
    }


def _log(record: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def handler(event: Any, context: Any = None) -> Dict[str, Any]:
    """Run event["code"] in the sandbox and return the contract's response object."""
    global _kernel_filter_warned
    started = time.perf_counter()
    request_id = str(getattr(context, "aws_request_id", None) or uuid.uuid4())
    if _CONFIG is None:
        _log({"level": "ERROR", "message": "sandbox configuration error", "requestId": request_id, "error": _CONFIG_ERROR})
        raise ConfigError(_CONFIG_ERROR)
    config = _CONFIG
    try:
        code, timeout_ms = _validate(event, config)
    except InvalidRequest as exc:
        execution = Execution(ok=False, error={"type": "InvalidRequest", "message": str(exc), "traceback": None})
        timeout_ms = 0
    else:
        remaining = _remaining_ms(context)
        if remaining is not None:
            timeout_ms = max(1, min(timeout_ms, remaining - DEADLINE_MARGIN_MS))
        execution = execute(
            code, timeout_ms, config.allowed_modules, config.memory_mb, config.max_output_bytes, config.timeout_ms
        )
    duration_ms = (time.perf_counter() - started) * 1000
    if execution.kernel_filter_problem and not _kernel_filter_warned:
        _kernel_filter_warned = True
        _log({"level": "WARN", "message": "seccomp filter unavailable; the other layers still hold", "reason": execution.kernel_filter_problem})
    error_type = execution.error["type"] if execution.error else None
    _log(
        {
            "level": "INFO" if execution.ok or error_type not in ("ProcessCrashed",) else "WARN",
            "message": "invocation",
            "requestId": request_id,
            "durationMs": round(duration_ms, 1),
            "timeoutMs": timeout_ms,
            "ok": execution.ok,
            "errorType": error_type,
            "stdoutBytes": execution.stdout_bytes,
            "stderrBytes": execution.stderr_bytes,
            "truncated": execution.truncated,
        }
    )
    return _response(execution, duration_ms)
