"""Inside the forked child: the isolation layers, in order, then the user's code.

Every function here runs in the child only. Order matters: descriptors and environment
first (while the child may still open /proc/self/mem), then limits, the unprivileged user,
the kernel filter, and the audit hook last (it would refuse the set-up steps themselves).
"""

from __future__ import annotations

import ast
import fcntl
import io
import json
import os
import resource
import signal
import sys
from typing import Any, Dict, NoReturn, Optional, Tuple

from . import policy, seccomp

USER_FILENAME = "<sandbox>"
RESULT_FD = 3
CODE_FD = 4
CODE_MARKER = b"C"  # the parent's message is CODE_MARKER + UTF-8 code; nothing at all means "exit"
NOBODY = 65534
MAX_TRACEBACK_CHARS = 16384
MAX_MESSAGE_CHARS = 4096
_SANDBOX_DIR = os.path.dirname(os.path.abspath(__file__))


def start_own_process_group() -> None:
    """Make the child the leader of a new session and process group.

    Stops: anything the child starts (if a later layer failed) outliving it, since the
    parent kills the whole group. Does not stop anything by itself.
    """
    os.setsid()


def wire_descriptors(stdout_fd: int, stderr_fd: int, result_fd: int, code_fd: int) -> None:
    """Keep only stdin (/dev/null), the output pipes, the result pipe and the code pipe.

    Stops: use of every descriptor inherited from the warm parent (the Lambda Runtime API
    connection, the local worker's protocol channel, log files). Does not stop opening new
    ones (the audit hook and the kernel filter do).
    """
    devnull = os.open(os.devnull, os.O_RDONLY)
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in (devnull, stdout_fd, stderr_fd, result_fd, code_fd)]
    for target, fd in enumerate(high):
        os.dup2(fd, target)
    os.closerange(CODE_FD + 1, 1 << 20)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(
        io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True
    )
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True
    )


def empty_environment() -> None:
    """Empty the environment at every level: os.environ, posix.environ, and the OS block.

    os.environ.clear() unsets libc's copy, but the original block the kernel placed on the
    stack (what /proc/self/environ shows, and where AWS_SECRET_ACCESS_KEY lives) stays in
    memory; it is zeroed here (memset on env_start..env_end, fields 50/51 of /proc/self/stat,
    located once by the warm parent; /proc/self/mem as the fallback). Stops: reading credentials through os.environ, os.getenv, posix.environ
    or /proc/self/environ, even by code that bypasses Python. Does not stop: values the warm
    parent copied elsewhere in its heap (the handler copies none).
    """
    import posix

    os.environ.clear()
    posix.environ.clear()
    start, end = _ENVIRONMENT_BLOCK
    if 0 < start < end and not seccomp.zero_memory(start, end - start):
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            mem.write(b"\0" * (end - start))


def _environment_block() -> Tuple[int, int]:
    """(env_start, env_end) from /proc/self/stat, fields 50 and 51; a forked child has the
    same addresses, so the warm parent reads them once."""
    try:
        with open("/proc/self/stat", "rb") as stat_file:
            fields = stat_file.read().rsplit(b")", 1)[1].split()
        return int(fields[47]), int(fields[48])  # counted from field 3, after "(comm)"
    except (OSError, IndexError, ValueError):
        return 0, 0


_ENVIRONMENT_BLOCK = _environment_block()


def enter_empty_directory(path: str) -> None:
    """Move to an empty, read-only working directory.

    Stops: relative paths landing in the function's code directory or /tmp. Does not stop
    absolute paths (the audit hook and the kernel filter do).
    """
    os.chdir(path)


def set_resource_limits(cpu_seconds: int, memory_bytes: int) -> None:
    """CPU seconds, address space, no new processes, no file writes, few descriptors, no core.

    Stops: CPU burn past the limit (SIGXCPU), memory bombs (MemoryError at the cap, on top of
    what the warm parent had already mapped), file growth (RLIMIT_FSIZE 0), descriptor
    floods and core dumps, and new processes once the uid is unprivileged (RLIMIT_NPROC 0;
    the kernel ignores it for root, hence the uid drop and the seccomp filter). Does not stop
    wall-clock waits (the parent's timer does).
    """
    base = _mapped_bytes()
    limits = {
        resource.RLIMIT_CPU: (cpu_seconds, cpu_seconds + 1),
        resource.RLIMIT_AS: (base + memory_bytes, base + memory_bytes),
        resource.RLIMIT_NPROC: (0, 0),
        resource.RLIMIT_FSIZE: (0, 0),
        resource.RLIMIT_NOFILE: (16, 16),
        resource.RLIMIT_CORE: (0, 0),
    }
    for which, value in limits.items():
        resource.setrlimit(which, value)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails (EFBIG), no kill


def _mapped_bytes() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def drop_privileges() -> None:
    """When running as root (local containers), become nobody (uid/gid 65534, no groups).

    Stops: root's ability to read or signal anything on the machine, and makes RLIMIT_NPROC
    effective. Also makes the process non-dumpable, so its own /proc/self files are no
    longer readable to it. Does not apply in Lambda, where the runtime is already unprivileged.
    """
    if os.getuid() != 0:
        return
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def reseed_random_state() -> None:
    """A forked child must not replay the parent's random state: reseed from the OS."""
    random = sys.modules.get("random")
    if random is not None:
        random.seed()


class _SysWithoutFrames:
    """What collections.namedtuple sees as `sys`: the module name without frame access.

    namedtuple asks sys._getframe(1) (3.11) or sys._getframemodulename(1) (3.12+) for the
    caller's module name; the audit hook refuses frame access, so it gets '__main__' here.
    """

    def __getattr__(self, name: str) -> Any:
        if name == "_getframe":
            raise AttributeError(name)
        if name == "_getframemodulename":
            return lambda depth=0: "__main__"
        return getattr(sys, name)


def install_audit_hook(allowed_modules: Tuple[str, ...]) -> Dict[str, Any]:
    """Install the PEP 578 hook (see policy.make_audit_hook) and return user code's builtins.

    Stops: see policy.make_audit_hook. Does not stop: anything the kernel filter stops when
    the interpreter itself is subverted. A hook can never be removed once added.
    """
    collections = sys.modules.get("collections")
    if collections is not None:
        collections._sys = _SysWithoutFrames()  # type: ignore[attr-defined]
    builtins_namespace = policy.restricted_builtins(allowed_modules)
    sys.meta_path.insert(0, policy.make_allow_list_finder(allowed_modules))
    sys.addaudithook(policy.make_audit_hook(allowed_modules))
    return builtins_namespace


def forget_privileged_helpers() -> None:
    """Drop the child's references to ctypes so user code finds no loaded copy to pivot to."""
    seccomp.forget()


def compile_user_code(code: str) -> Tuple[Any, Optional[Any]]:
    """Compile the code; a trailing bare expression is compiled apart so its value is shown."""
    tree = ast.parse(code, USER_FILENAME, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, USER_FILENAME, "exec", dont_inherit=True)
    expr = compile(last, USER_FILENAME, "eval", dont_inherit=True) if last is not None else None
    return body, expr


def _format_traceback(exc: BaseException, source_lines: list) -> str:
    """The traceback as CPython prints it, reduced to the user's frames.

    Formatted by the interpreter's C printer (sys.__excepthook__), which needs no frame
    attributes the audit hook refuses; the user's source lines are added back from the code.
    """
    buffer = io.StringIO()
    saved = sys.stderr
    sys.stderr = buffer
    try:
        sys.__excepthook__(type(exc), exc, exc.__traceback__)
    except BaseException:
        pass
    finally:
        sys.stderr = saved
    out = []
    skipping = False
    for line in buffer.getvalue().splitlines():
        stripped = line.strip()
        if line.startswith("  File "):
            skipping = _is_sandbox_frame(line)
            if skipping:
                continue
            out.append(line)
            if f'"{USER_FILENAME}"' in line:
                try:
                    lineno = int(line.split(", line ", 1)[1].split(",", 1)[0])
                    out.append("    " + source_lines[lineno - 1].strip())
                except (IndexError, ValueError):
                    pass
            continue
        if skipping and line.startswith("    "):
            continue
        skipping = False
        if stripped:
            out.append(line)
    return "\n".join(out)[-MAX_TRACEBACK_CHARS:]


def _is_sandbox_frame(line: str) -> bool:
    """A traceback entry of the sandbox's own modules (runner, policy), hidden from users."""
    try:
        file_name = line.split('"', 2)[1]
    except IndexError:
        return False
    return os.path.dirname(os.path.realpath(file_name)) == os.path.realpath(_SANDBOX_DIR)


def _safe_str(value: BaseException) -> str:
    try:
        return str(value)[:MAX_MESSAGE_CHARS]
    except BaseException:
        return "(the exception's message could not be shown)"


def error_type_of(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "MemoryLimit"
    if isinstance(exc, policy.ModuleNotAllowed):
        return "ModuleNotAllowed"
    if isinstance(exc, PermissionError):  # the audit hook's refusals and the kernel's EPERM
        return "OperationNotAllowed"
    if isinstance(exc, RuntimeError) and "can't start new thread" in _safe_str(exc):
        return "OperationNotAllowed"  # the kernel filter refused clone (3.11 raises no audit event first)
    return type(exc).__name__


def _outside_allow_list(exc: BaseException, allowed_modules: Tuple[str, ...]) -> Optional[str]:
    """The module name of an ImportError for a module outside the allow-list (however the
    import was attempted: the finders fail to find it because the file system is closed)."""
    name = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
    if type(name) is str and name.partition(".")[0] not in allowed_modules and name.partition(".")[0] not in policy.INTERNAL_HELPER_MODULES:
        return name
    return None


def describe_error(exc: BaseException, source_lines: list, memory_mb: int, allowed_modules: Tuple[str, ...] = ()) -> Dict[str, Any]:
    kind = error_type_of(exc)
    refused_module = _outside_allow_list(exc, allowed_modules) if kind not in ("ModuleNotAllowed",) else None
    if kind == "MemoryLimit":
        message = f"the code exceeded the sandbox memory limit ({memory_mb} MB)"
    elif refused_module is not None:
        kind, message = "ModuleNotAllowed", policy.module_not_allowed_message(refused_module, allowed_modules)
    else:
        message = _safe_str(exc)
    try:
        trace = _format_traceback(exc, source_lines)
    except BaseException:
        trace = None
    return {"type": kind, "message": message, "traceback": trace}


def run_user_code(
    body: Any,
    expr: Optional[Any],
    builtins_namespace: Dict[str, Any],
    max_repr: int,
    source_lines: list,
    memory_mb: int,
    allowed_modules: Tuple[str, ...] = (),
) -> Dict[str, Any]:
    """Execute the compiled code; return {ok, result, error, resultTruncated}."""
    namespace: Dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins_namespace}
    result: Optional[str] = None
    truncated = False
    try:
        exec(body, namespace)
        if expr is not None:
            value = eval(expr, namespace)
            if value is not None:
                result = repr(value)
                if len(result) > max_repr:
                    result, truncated = result[:max_repr], True
    except SystemExit as stop:
        if stop.code not in (None, 0):
            return {"ok": False, "result": None, "error": describe_error(stop, source_lines, memory_mb, allowed_modules), "resultTruncated": False}
    except BaseException as exc:  # user code's errors are values, never exceptions escaping
        return {"ok": False, "result": None, "error": describe_error(exc, source_lines, memory_mb, allowed_modules), "resultTruncated": False}
    return {"ok": True, "result": result, "error": None, "resultTruncated": truncated}


def _write_result(payload: Dict[str, Any]) -> None:
    data = json.dumps(payload).encode("utf-8")
    while data:
        written = os.write(RESULT_FD, data)
        data = data[written:]


def receive_code() -> str:
    """Wait for the code on the code pipe (the child is prepared before the request comes)."""
    chunks = []
    while True:
        chunk = os.read(CODE_FD, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(CODE_FD)
    message = b"".join(chunks)
    if not message.startswith(CODE_MARKER):
        os._exit(0)  # the parent dropped this prepared child without using it
    return message[len(CODE_MARKER) :].decode("utf-8")


def run_child(
    pipes: Tuple[int, int, int, int],
    allowed_modules: Tuple[str, ...],
    cpu_seconds: int,
    memory_mb: int,
    max_output_bytes: int,
    workdir: str,
) -> NoReturn:
    """The child's whole life: set up every layer, wait for the code, run it, report, exit.

    Every layer is in place before the code arrives, so the parent can fork the next child
    ahead of the next request. Never returns.
    """
    status = 0
    try:
        start_own_process_group()
        wire_descriptors(*pipes)
        reseed_random_state()
        empty_environment()
        enter_empty_directory(workdir)
        set_resource_limits(cpu_seconds, memory_mb * 1024 * 1024)
        drop_privileges()
        kernel_filter = seccomp.install_syscall_filter(os.getpid())
        forget_privileged_helpers()
        builtins_namespace = install_audit_hook(allowed_modules)
        code = receive_code()
        source_lines = code.splitlines()
        try:
            body, expr = compile_user_code(code)
        except SyntaxError as exc:
            outcome = {"ok": False, "result": None, "error": _syntax_error(exc), "resultTruncated": False}
        except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
            error = {"type": "SyntaxError", "message": _safe_str(exc), "traceback": None}
            outcome = {"ok": False, "result": None, "error": error, "resultTruncated": False}
        else:
            outcome = run_user_code(body, expr, builtins_namespace, max_output_bytes, source_lines, memory_mb, allowed_modules)
        outcome["kernelFilter"] = kernel_filter
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        _write_result(outcome)
    except BaseException:
        status = 70  # the parent reports a sandbox failure for a child that ends without a result
    os._exit(status)


def _syntax_error(exc: SyntaxError) -> Dict[str, Any]:
    import traceback

    where = f" (line {exc.lineno})" if exc.lineno else ""
    trace = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    return {"type": "SyntaxError", "message": f"{exc.msg}{where}", "traceback": trace}
