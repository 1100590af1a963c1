"""What user code may do: the module allow-list, the restricted __import__, the audit hook.

The restricted __import__ is the friendly layer (it gives the model a ModuleNotAllowed
message it can act on). The audit hook is the enforcing one: PEP 578 events are raised by
the interpreter itself at the point of use, so the hook holds however the code reached
the capability (an attribute pivot such as `random._os`, `sys.modules`, `importlib`, a
`__loader__`, the object graph).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Tuple

from .modules import INTERNAL_HELPER_MODULES


class ModuleNotAllowed(ImportError):
    """An import outside the allow-list (error type `ModuleNotAllowed` in the response)."""


class OperationNotAllowed(PermissionError):
    """A blocked capability (error type `OperationNotAllowed`).

    A PermissionError (so an OSError): library code that expects a failing open or stat,
    such as linecache, degrades gracefully instead of crashing.
    """


# Shown in tracebacks as the bare names the response's error type uses.
ModuleNotAllowed.__module__ = "builtins"
OperationNotAllowed.__module__ = "builtins"


def module_not_allowed_message(name: str, allowed: Iterable[str]) -> str:
    return (
        f"import of '{name}' is not allowed in the sandbox; " f"allowed modules: {', '.join(sorted(allowed))}"
    )


def make_restricted_import(original_import: Callable[..., Any], allowed: Iterable[str]) -> Callable[..., Any]:
    """An __import__ that admits only the allow-list's top-level modules and their submodules.

    Stops: `import os`, `from subprocess import run`, relative imports, with a message naming
    the module and the allowed ones. Does not stop: reaching an already-imported module without
    importing (e.g. `random._os`); the audit hook and the kernel layer handle those.
    """
    allowed_set = frozenset(allowed)
    importable = allowed_set | INTERNAL_HELPER_MODULES

    def restricted_import(
        name: Any, globals: Any = None, locals: Any = None, fromlist: Any = (), level: Any = 0
    ) -> Any:
        if type(name) is not str or type(level) is not int:
            raise ModuleNotAllowed("import needs a plain module name")
        if level != 0:
            raise ModuleNotAllowed(module_not_allowed_message("." * level + name, allowed_set))
        if name.partition(".")[0] not in importable:
            raise ModuleNotAllowed(module_not_allowed_message(name, allowed_set))
        return original_import(name, globals, locals, fromlist, 0)

    return restricted_import


# Audit events refused outright. Names from the CPython audit events table (3.11 to 3.13).
BLOCKED_EVENTS = frozenset(
    {
        "open",  # builtins.open, io.open, os.open, os.fdopen... any path, /proc/self/environ included
        "subprocess.Popen",
        "pty.spawn",
        "_thread.start_new_thread",
        "_thread.start_joinable_thread",  # 3.13's threading
        "builtins.breakpoint",
        "builtins.input",
        "code.__new__",  # crafting bytecode, CodeType.replace
        "function.__new__",
        "object.__getattr__",  # __code__, f_code, tb_frame, gi_frame, cr_frame, ag_frame...
        "object.__delattr__",
        "sys._getframe",
        "sys._current_frames",
        "sys._current_exceptions",
        "sys.settrace",
        "sys.setprofile",
        "sys._settraceallthreads",  # 3.12+
        "sys._setprofileallthreads",
        "sys.remote_exec",  # 3.14
        "sys.addaudithook",
        "sys.unraisablehook",
        "sys._debugmallocstats",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "gc.freeze",
        "marshal.load",
        "marshal.loads",
        "marshal.dumps",
        "pickle.find_class",
        "mmap.__new__",
        "webbrowser.open",
        "ensurepip.bootstrap",
    }
)
BLOCKED_PREFIXES: Tuple[str, ...] = (
    "os.",  # system, exec*, spawn*, posix_spawn, fork, kill, killpg, listdir, remove, chdir, putenv...
    "socket.",
    "subprocess.",
    "ctypes.",
    "_ctypes.",
    "shutil.",
    "tempfile.",
    "glob.",
    "fcntl.",
    "mmap.",
    "resource.",
    "signal.",
    "sys.monitoring",
    "cpython.run_",
    "http.",
    "urllib.",
    "ftplib.",
    "smtplib.",
    "imaplib.",
    "poplib.",
    "nntplib.",
    "telnetlib.",
    "sqlite3.",
    "syslog.",
    "winreg.",
    "msvcrt.",
    "pdb.",
    "shelve.",
    "dbm.",
)
# Setting these rewires code or class identity; a refused setattr names the attribute.
BLOCKED_SETATTR_NAMES = frozenset({"__code__", "__class__", "__bases__", "__globals__", "__builtins__"})
_ALLOWED_CPYTHON_EVENTS = frozenset({"cpython._PySys_ClearAuditHooks"})


def _describe(event: str) -> str:
    if event == "open":
        return "opening files is not allowed in the sandbox"
    if event.startswith("socket.") or event.startswith(("http.", "urllib.", "ftplib.", "smtplib.")):
        return "network access is not allowed in the sandbox"
    if event in ("subprocess.Popen", "pty.spawn", "_thread.start_new_thread") or event.startswith(
        ("os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.kill", "os.killpg")
    ):
        return f"starting or signalling processes and threads is not allowed in the sandbox ({event})"
    if event.startswith(("os.putenv", "os.unsetenv")):
        return "the environment is not available in the sandbox"
    if event.startswith(("ctypes.", "_ctypes.")):
        return "ctypes is not allowed in the sandbox"
    return (
        f"'{event}' is not allowed in the sandbox "
        "(files, network, processes, environment and interpreter internals are blocked)"
    )


def make_audit_hook(allowed_modules: Iterable[str]) -> Callable[[str, Tuple[Any, ...]], None]:
    """Build the PEP 578 hook that refuses capability events.

    Stops, whichever Python path reached them: file opens (any path, /proc/self/environ
    included), listing/changing the file system, sockets and every networking module, process
    creation (subprocess, os.system, exec*, spawn*, posix_spawn, fork), signals, new threads,
    ctypes, loading a module outside the allow-list, and the introspection escapes rely on
    (frame and traceback objects, __code__, code/function construction, gc object walks,
    tracing and profiling hooks, marshal/pickle code loading, adding another hook).
    Does not stop: C code that makes a syscall without raising an event, or code that has
    already corrupted the interpreter's memory; the kernel layer (seccomp) is for those.
    Also does not bound CPU or memory (resource limits and the parent do).

    The hook keeps no mutable state that user code could reach: its only inputs are
    immutable sets captured here, and it refuses argument types it does not expect rather
    than calling methods on them (a str subclass could otherwise run user code inside it).
    """
    allowed = frozenset(allowed_modules)
    # Everything the hook consults is bound here, as closure constants: user code can
    # rebind this module's globals (sys.modules['sandbox.policy'].BLOCKED_EVENTS = ...),
    # but not the hook's own copies.
    blocked_events, blocked_prefixes, blocked_setattr = (
        BLOCKED_EVENTS,
        BLOCKED_PREFIXES,
        BLOCKED_SETATTR_NAMES,
    )
    allowed_cpython, describe, refusal, module_refusal = (
        _ALLOWED_CPYTHON_EVENTS,
        _describe,
        OperationNotAllowed,
        ModuleNotAllowed,
    )
    message_for = module_not_allowed_message
    exact_str = str

    def audit_hook(event: str, args: Tuple[Any, ...]) -> None:
        if event in blocked_events or event.startswith(blocked_prefixes):
            raise refusal(describe(event))
        if event == "import":
            name = args[0] if args else None
            if type(name) is not exact_str or name.partition(".")[0] not in allowed:
                raise module_refusal(message_for(name if type(name) is exact_str else "?", allowed))
            return
        if event == "object.__setattr__":
            name = args[1] if len(args) > 1 else None
            if type(name) is not exact_str or name in blocked_setattr:
                raise refusal(
                    f"setting '{name if type(name) is exact_str else '?'}' is not allowed in the sandbox"
                )
            return
        if event.startswith("cpython.") and event not in allowed_cpython:
            raise refusal(describe(event))

    return audit_hook


def make_allow_list_finder(allowed_modules: Iterable[str]) -> Any:
    """A finder for the front of sys.meta_path in the child: a module outside the allow-list is
    refused with ModuleNotAllowed before any finder looks at the file system
    (importlib.import_module, __loader__ tricks and the real __import__ pass through the
    finders, and importlib's pure-Python path raises no "import" audit event).

    Stops: loading a module outside the allow-list through the import system. Does not stop:
    user code removing it from sys.meta_path; the path finders then fail anyway, because
    listing directories and opening files are refused by the audit hook.
    """
    allowed = frozenset(allowed_modules)
    importable = allowed | INTERNAL_HELPER_MODULES
    refusal, message_for, exact_str = ModuleNotAllowed, module_not_allowed_message, str

    def find_spec(fullname: Any, path: Any = None, target: Any = None) -> None:
        if type(fullname) is not exact_str or fullname.partition(".")[0] not in importable:
            raise refusal(message_for(fullname if type(fullname) is exact_str else "?", allowed))
        return None

    def invalidate_caches() -> None:
        return None

    # A class with only static methods that close over the sets: no attribute to widen.
    return type(
        "AllowListFinder",
        (),
        {
            "find_spec": staticmethod(find_spec),
            "invalidate_caches": staticmethod(invalidate_caches),
            "__slots__": (),
        },
    )()


def restricted_builtins(allowed_modules: Iterable[str]) -> Dict[str, Any]:
    """A copy of the builtins whose __import__ is the restricted one (user code's globals).

    exit() and quit() are added back: the zygote runs without the site module (`python -S`),
    which is what normally defines them, and model-written scripts often end with exit(0).
    """
    import builtins

    namespace = dict(builtins.__dict__)
    namespace["__import__"] = make_restricted_import(builtins.__import__, allowed_modules)
    namespace["exit"] = namespace["quit"] = _exit
    return namespace


def _exit(code: Any = None) -> None:
    """exit([code]): stop the code here, like the interactive interpreter's exit()."""
    raise SystemExit(code)
