"""Loads the native helper (native/sandbox_kernel.c) built for this machine's architecture.

The helper gives the sandbox its four prctl calls (seccomp filter, no-new-privs, dumpable,
parent-death signal) without ctypes, so no process that runs user code ever has a foreign
function interface or its C types in memory. Built files live in sandbox/native/<arch>/.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import platform
from types import ModuleType
from typing import Optional

from .kernel_filter import machine_arch

NATIVE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "native")
MODULE_NAME = "_sandbox_kernel"


class NativeHelperMissing(RuntimeError):
    """No helper for this architecture (or it does not load): the sandbox cannot run code."""


def helper_path(machine: Optional[str] = None) -> str:
    arch = machine_arch(machine or platform.machine())
    if arch is None:
        raise NativeHelperMissing(
            f"the sandbox's kernel filter has no table for architecture {platform.machine()!r} "
            "(x86_64 and aarch64 are supported)"
        )
    return os.path.join(NATIVE_DIR, arch, MODULE_NAME + ".abi3.so")


def load() -> ModuleType:
    """Import the helper by path (the package may not be on sys.path as `sandbox`)."""
    path = helper_path()
    if not os.path.isfile(path):
        raise NativeHelperMissing(
            f"the sandbox's native helper {path} is missing; build it with: bash native/build.sh"
        )
    try:
        loader = importlib.machinery.ExtensionFileLoader(MODULE_NAME, path)
        spec = importlib.util.spec_from_file_location(MODULE_NAME, path, loader=loader)
        if spec is None:
            raise ImportError("no module spec")
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        return module
    except (ImportError, OSError) as exc:
        raise NativeHelperMissing(f"the sandbox's native helper {path} does not load: {exc}") from None
