"""The sandbox function's configuration: the SANDBOX_* environment variables of the contract.

A bad value is an error that names the variable and the fix, never a silent fallback; the
handler reports it as a function error on every call.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from .modules import DEFAULT_ALLOWED_MODULES, VETTED_MODULES, unvetted

DEFAULT_TIMEOUT_MS = 30000
DEFAULT_MAX_OUTPUT_BYTES = 65536
DEFAULT_FUNCTION_MEMORY_MB = 512
# User code gets "a little under the function's memory": the Lambda runtime (the handler's
# process) and the zygote keep living next to the child inside the same memory budget
# (about 30 and 20 MB resident; measured by tests/lambda/sandbox.test.ts).
PARENT_RESERVE_MB = 96

_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(Exception):
    """A SANDBOX_* variable has a bad value; the message names it and says how to fix it."""


@dataclass(frozen=True)
class SandboxConfig:
    allowed_modules: Tuple[str, ...]
    timeout_ms: int
    max_output_bytes: int
    memory_mb: int


def _positive_int(env: Mapping[str, str], name: str, default: int, unit: str, maximum: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    if not re.fullmatch(r"[0-9]+", text):
        raise ConfigError(
            f"{name} must be a positive whole number of {unit}, got {raw!r}; "
            f"fix the function's environment (unset it for the default {default})"
        )
    value = int(text)
    if value < 1 or value > maximum:
        raise ConfigError(
            f"{name} must be between 1 and {maximum} {unit}, got {value}; "
            f"fix the function's environment (unset it for the default {default})"
        )
    return value


def _allowed_modules(env: Mapping[str, str]) -> Tuple[str, ...]:
    raw = env.get("SANDBOX_ALLOWED_MODULES")
    if raw is None or raw.strip() == "":
        return DEFAULT_ALLOWED_MODULES
    names = [part.strip() for part in raw.split(",") if part.strip()]
    bad = [n for n in names if not _MODULE_NAME.match(n)]
    if bad:
        raise ConfigError(
            f"SANDBOX_ALLOWED_MODULES must be a comma-separated list of top-level module names, "
            f"got {', '.join(repr(b) for b in bad)}; e.g. SANDBOX_ALLOWED_MODULES=math,json,re"
        )
    refused = unvetted(tuple(dict.fromkeys(names)))
    if refused:
        raise ConfigError(
            f"SANDBOX_ALLOWED_MODULES may only name vetted modules (they compute without files, "
            f"network, processes or interpreter internals), got {', '.join(refused)}; "
            f"vetted: {', '.join(sorted(VETTED_MODULES))}; fix the function's environment"
        )
    return tuple(dict.fromkeys(names))


def _default_memory_mb(env: Mapping[str, str]) -> int:
    function_mb = DEFAULT_FUNCTION_MEMORY_MB
    raw = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if raw.isdigit() and int(raw) > 0:
        function_mb = int(raw)
    return max(64, function_mb - PARENT_RESERVE_MB)


def load_config(env: Optional[Mapping[str, str]] = None) -> SandboxConfig:
    """Parse the SANDBOX_* variables (defaults are the seed's); raise ConfigError on a bad one."""
    env = os.environ if env is None else env
    return SandboxConfig(
        allowed_modules=_allowed_modules(env),
        timeout_ms=_positive_int(env, "SANDBOX_TIMEOUT_MS", DEFAULT_TIMEOUT_MS, "milliseconds", 900_000),
        max_output_bytes=_positive_int(
            env, "SANDBOX_MAX_OUTPUT_BYTES", DEFAULT_MAX_OUTPUT_BYTES, "bytes", 6 * 1024 * 1024
        ),
        memory_mb=_positive_int(env, "SANDBOX_MEMORY_MB", _default_memory_mb(env), "MB", 10240),
    )
