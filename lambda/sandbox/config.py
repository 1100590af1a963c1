"""The sandbox function's configuration: the SANDBOX_* environment variables of the contract.

A bad value is an error that names the variable and the fix, never a silent fallback; the
handler reports it as a function error on every call.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

DEFAULT_ALLOWED_MODULES: Tuple[str, ...] = (
    "math",
    "json",
    "datetime",
    "random",
    "statistics",
    "re",
    "collections",
    "itertools",
    "string",
    "decimal",
    "fractions",
    "uuid",
    "hashlib",
    "base64",
    "textwrap",
)
DEFAULT_TIMEOUT_MS = 30000
DEFAULT_MAX_OUTPUT_BYTES = 65536
DEFAULT_FUNCTION_MEMORY_MB = 512
# User code gets "a little under the function's memory": the warm parent and the Lambda
# runtime keep living next to the child inside the same memory budget.
PARENT_RESERVE_MB = 64

_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Modules that hand out the very capabilities the sandbox removes: allowing one of them is a
# configuration mistake, not a choice, so the function refuses to start with it.
FORBIDDEN_MODULES = frozenset(
    {
        "os",
        "sys",
        "subprocess",
        "socket",
        "ctypes",
        "importlib",
        "builtins",
        "gc",
        "inspect",
        "posix",
        "io",
        "pathlib",
        "shutil",
        "signal",
        "threading",
        "_thread",
        "multiprocessing",
        "pickle",
        "marshal",
        "code",
        "types",
    }
)


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
    dangerous = sorted(set(names) & FORBIDDEN_MODULES)
    if dangerous:
        raise ConfigError(
            f"SANDBOX_ALLOWED_MODULES must not contain {', '.join(dangerous)}: they expose files, "
            f"processes or interpreter internals; remove them from the function's environment"
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
