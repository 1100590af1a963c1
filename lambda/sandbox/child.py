"""Inside a child forked by the zygote: the isolation layers, in order, then the user's code.

Every function here runs in the child only. The zygote that forked it never held credentials
or any request's data (zygote.py), so the child's memory holds neither. Order matters: the
descriptors first, then the working directory, limits, the unprivileged user, the tie to the
zygote's life, the audit hook, and the kernel filter last, once nothing more needs a file.
Only then does the child say it is ready, and only then does the parent send it code.
"""

from __future__ import annotations

import ast
import fcntl
import io
import os
import re
import resource
import signal
import sys
from types import ModuleType
from typing import Any, Dict, List, NoReturn, Optional, Tuple

from . import policy, protocol
from .kernel_filter import PreparedFilter
from .modules import INTERNAL_HELPER_MODULES

USER_FILENAME = "<sandbox>"
STDIN_FD, STDOUT_FD, STDERR_FD, RESULT_FD, CODE_FD = 0, 1, 2, 3, 4
CODE_MARKER = b"C"  # the parent's message is CODE_MARKER + UTF-8 code
NOBODY = 65534
MAX_MESSAGE_CHARS = 4096
MAX_TRACEBACK_CHARS = 16384
# The error types the child itself gives (above); a user exception class of the same name is
# reported as __main__.<name>.
CHILD_VERDICT_TYPES = frozenset({"MemoryLimit", "ModuleNotAllowed", "OperationNotAllowed"})
MAX_CHAIN_LINKS = 100  # within the printer's own recursion limit (3.12+), far inside its C stack (3.11)
_SANDBOX_DIR = os.path.dirname(os.path.abspath(__file__))
# The tokenizer's line breaks (universal newlines), unlike str.splitlines, which also breaks
# at form feeds, U+2028 and friends and would show the wrong source line in tracebacks.
_SOURCE_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def start_own_process_group() -> None:
    """Make the child the leader of a new session and process group.

    Stops: the child receiving the terminal's or the zygote's group signals, and anything it
    might start outliving it (the zygote kills the group before reaping). Does not stop
    anything by itself: the kernel filter refuses new processes.
    """
    os.setsid()


def wire_descriptors(stdout_fd: int, stderr_fd: int, result_fd: int, code_fd: int) -> None:
    """Keep only stdin (/dev/null), the output pipes, the result pipe and the code pipe.

    Stops: use of every descriptor inherited from the zygote (its control socket to the handler
    process, other children's pipes). Does not stop opening new ones (the kernel filter does).
    """
    devnull = os.open(os.devnull, os.O_RDONLY)
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in (devnull, stdout_fd, stderr_fd, result_fd, code_fd)]
    for target, fd in enumerate(high):
        os.dup2(fd, target)
    os.closerange(CODE_FD + 1, 1 << 20)
    sys.stdin = io.TextIOWrapper(io.FileIO(STDIN_FD, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(
        io.FileIO(STDOUT_FD, "w", closefd=False),
        encoding="utf-8",
        errors="backslashreplace",
        write_through=True,
    )
    sys.stderr = io.TextIOWrapper(
        io.FileIO(STDERR_FD, "w", closefd=False),
        encoding="utf-8",
        errors="backslashreplace",
        write_through=True,
    )


def enter_empty_directory(path: str) -> None:
    """Move to an empty, read-only working directory.

    Stops: relative paths meaning the function's code directory. Does not stop anything the
    kernel filter does not already stop (no file can be opened at all).
    """
    os.chdir(path)


def set_resource_limits(cpu_seconds: int, memory_bytes: int) -> None:
    """CPU seconds, address space, no new processes, no file writes, few descriptors, no core.

    Stops: CPU burn past the limit (SIGXCPU), memory bombs (MemoryError at the cap, on top of
    what the zygote had mapped), descriptor floods and core dumps; RLIMIT_NPROC 0 refuses new
    processes for an unprivileged uid even without the filter. The child cannot raise a hard
    limit, and only the CPU limit has a soft limit below it. Does not stop wall-clock waits (the
    parent's deadline does).
    """
    base = _mapped_bytes()
    limits = {
        resource.RLIMIT_CPU: (cpu_seconds, cpu_seconds + 1),  # SIGXCPU, then SIGKILL a second later
        resource.RLIMIT_AS: (base + memory_bytes, base + memory_bytes),
        resource.RLIMIT_NPROC: (0, 0),
        resource.RLIMIT_FSIZE: (0, 0),
        resource.RLIMIT_NOFILE: (16, 16),
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_MEMLOCK: (0, 0),
        resource.RLIMIT_MSGQUEUE: (0, 0),
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
    effective. Does not apply in Lambda, where the runtime is already unprivileged and the
    child has the same uid as the handler's process: the kernel filter is what keeps it away.
    """
    if os.getuid() != 0:
        return
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def tie_lifetime_to_zygote(kernel: ModuleType, zygote_pid: int) -> None:
    """SIGKILL when the zygote dies, and not dumpable.

    Stops: a child outliving the sandbox (a killed local runtime, a crashed zygote); other
    processes of the same uid reading /proc/<pid>/mem or environ of the child. Set after the
    uid change, which clears both.
    """
    kernel.set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != zygote_pid:  # the zygote died before the tie was made
        os._exit(0)
    kernel.set_dumpable(0)


def reseed_random_state() -> None:
    """A forked child must not replay the zygote's random state: reseed from the kernel."""
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

    Gives clear errors (OperationNotAllowed, ModuleNotAllowed) for what the kernel filter would
    refuse anyway. Not a boundary: code that corrupts the interpreter can disarm it. A hook
    can never be removed through the API once added.
    """
    collections = sys.modules.get("collections")
    if collections is not None:
        collections._sys = _SysWithoutFrames()  # type: ignore[attr-defined]
    builtins_namespace = policy.restricted_builtins(allowed_modules)
    sys.meta_path.insert(0, policy.make_allow_list_finder(allowed_modules))
    sys.addaudithook(policy.make_audit_hook(allowed_modules))
    return builtins_namespace


def install_kernel_filter(kernel: ModuleType, prepared: PreparedFilter) -> None:
    """The boundary: no-new-privs and the seccomp allow-list (kernel_filter.py), for this pid.

    Stops, even when user code has arbitrary read/write in this process: every syscall not on
    the allow-list (files, sockets, processes, threads, exec and executable memory, signals,
    rlimits and scheduling of any other process, IPC objects, namespaces, BPF, io_uring...).
    Does not stop: CPU and memory use within the limits, or kernel bugs in the allowed calls.
    """
    kernel.install_filter(prepared.for_pid(os.getpid()))


def compile_user_code(code: str) -> Tuple[Any, Optional[Any]]:
    """Compile the code; a trailing bare expression is compiled apart so its value is shown."""
    tree = ast.parse(code, USER_FILENAME, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, USER_FILENAME, "exec", dont_inherit=True)
    expr = compile(last, USER_FILENAME, "eval", dont_inherit=True) if last is not None else None
    return body, expr


def source_lines_of(code: str) -> List[str]:
    return _SOURCE_LINE_BREAK.split(code)


def _format_traceback(exc: BaseException, source_lines: List[str]) -> str:
    """The traceback as CPython prints it, reduced to the user's frames.

    Formatted by the interpreter's C printer (sys.__excepthook__), which needs no frame
    attributes the audit hook refuses; the user's source lines are added back from the code
    (the printer cannot open `<sandbox>`). From 3.13 that printer leaves out add_note() notes
    and exception-group members (they moved to the traceback module, which needs frames), so
    they are added here.
    """
    _bound_chains(exc)
    text = _printed(exc, source_lines)
    if sys.version_info >= (3, 13):
        text = "\n".join([text, *_notes_and_members(exc, source_lines, depth=0)])
    return text[-MAX_TRACEBACK_CHARS:]


def _bound_chains(exc: BaseException) -> None:
    """Cut every __cause__/__context__ chain the printer would follow after MAX_CHAIN_LINKS.

    CPython 3.11's C printer recurses once per link and overflows the C stack at about 100,000
    (raising an exception chained that deep made the child die by SIGSEGV: ProcessCrashed for
    an ordinary error); from 3.12 it stops at the recursion limit and prints nothing. Read
    and cut through BaseException's own descriptors, which user classes cannot shadow for the
    printer; the child ends right after, so nothing else sees it.
    """
    cause = BaseException.__dict__["__cause__"]
    context = BaseException.__dict__["__context__"]
    members = BaseExceptionGroup.__dict__["exceptions"]  # noqa: F821 (3.11+)
    pending = [(exc, 0)]
    visited = 0
    try:
        while pending and visited < 20 * MAX_CHAIN_LINKS:
            current, depth = pending.pop()
            for _ in range(MAX_CHAIN_LINKS):
                visited += 1
                if issubclass(type(current), BaseExceptionGroup) and depth < 10:  # noqa: F821
                    pending += [(member, depth + 1) for member in members.__get__(current)[:15]]
                following = cause.__get__(current) or context.__get__(current)
                if following is None:
                    break
                current = following
            else:
                cause.__set__(current, None)
                context.__set__(current, None)
    except BaseException:
        pass


def _printed(exc: BaseException, source_lines: List[str]) -> str:
    buffer = io.StringIO()
    saved = sys.stderr
    sys.stderr = buffer
    # 3.13 first tries traceback._print_exception_bltin, which works only for an exception
    # without a traceback (it needs frames); keep to the C printer so every entry looks alike.
    traceback_module = sys.modules.get("traceback")
    python_printer = getattr(traceback_module, "_print_exception_bltin", None)
    try:
        if python_printer is not None:
            traceback_module._print_exception_bltin = None  # type: ignore[union-attr]
        sys.__excepthook__(type(exc), exc, exc.__traceback__)
    except BaseException:
        pass
    finally:
        sys.stderr = saved
        if python_printer is not None:
            traceback_module._print_exception_bltin = python_printer  # type: ignore[union-attr]
    out: List[str] = []
    skipping = False
    for line in buffer.getvalue().splitlines():
        entry = line.lstrip(" |")
        if entry.startswith("File "):
            skipping = _is_sandbox_frame(entry)
            if skipping:
                continue
            out.append(line)
            if f'"{USER_FILENAME}"' in entry:
                try:
                    lineno = int(entry.split(", line ", 1)[1].split(",", 1)[0])
                    prefix = line[: len(line) - len(entry)]
                    out.append(prefix + "  " + source_lines[lineno - 1].strip())
                except (IndexError, ValueError):
                    pass
            continue
        if skipping and line.startswith(" "):
            continue
        skipping = False
        if line.strip():
            out.append(line)
    return "\n".join(out)


def _notes_and_members(exc: BaseException, source_lines: List[str], depth: int) -> List[str]:
    """add_note() notes, then an exception group's members (at most 15, 10 levels), as 3.12 shows them."""
    lines: List[str] = []
    try:
        notes = exc.__notes__ if isinstance(getattr(exc, "__notes__", None), list) else []
        lines += [_safe_text(note) for note in notes]
        members = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else []  # noqa: F821 (3.11+)
    except BaseException:
        return lines
    if not members or depth >= 10:
        return lines
    for number, member in enumerate(members[:15], 1):
        lines.append(f"{'  +-' if number == 1 else '    '}+---------------- {number} ----------------")
        inner = [_printed(member, source_lines), *_notes_and_members(member, source_lines, depth + 1)]
        lines += ["    | " + line for line in "\n".join(inner).splitlines()]
    lines.append("    +------------------------------------")
    return lines


def _exact_str(value: object) -> str:
    """str(value) as a plain str: __str__ and __repr__ may return a str subclass whose slicing,
    len() or encode() user code overrides (and the result message would then fail to encode)."""
    return str.__str__(str(value))


def _safe_text(value: object) -> str:
    try:
        return _exact_str(value)[:MAX_MESSAGE_CHARS]
    except BaseException:
        return "(a note that could not be shown)"


def _is_sandbox_frame(entry: str) -> bool:
    """A traceback entry of the sandbox's own modules (child, policy), hidden from users."""
    try:
        file_name = entry.split('"', 2)[1]
    except IndexError:
        return False
    return os.path.dirname(file_name) == _SANDBOX_DIR


def _safe_str(value: BaseException) -> str:
    try:
        return _exact_str(value)[:MAX_MESSAGE_CHARS]
    except BaseException:
        return "(the exception's message could not be shown)"


def error_type_of(exc: BaseException) -> str:
    # By the exception's real type: isinstance() asks its __class__, which user code can make
    # a property that raises (no result at all) or names MemoryError (a false MemoryLimit).
    real = type(exc)
    if issubclass(real, MemoryError):
        return "MemoryLimit"
    if issubclass(real, policy.ModuleNotAllowed):
        return "ModuleNotAllowed"
    if issubclass(real, PermissionError):  # the audit hook's refusals and the kernel's EPERM
        return "OperationNotAllowed"
    if issubclass(real, RuntimeError) and "can't start new thread" in _safe_str(exc):
        return "OperationNotAllowed"  # the kernel filter refused clone
    try:
        name = type(exc).__name__
    except BaseException:
        return "Exception"
    # A class name the response can carry (see protocol.ERROR_TYPE_SHAPE); else the base name.
    if type(name) is not str or protocol.clean_error_type(name) is None:
        return "Exception"
    # A user class named like one of the sandbox's own verdicts is not that verdict (a
    # `class MemoryLimit(Exception)` did not hit the memory limit): qualified, as the parent
    # qualifies the types only it can establish.
    return "__main__." + name if name in CHILD_VERDICT_TYPES else name


def _outside_allow_list(exc: BaseException, allowed_modules: Tuple[str, ...]) -> Optional[str]:
    """The module name of an ImportError for a module outside the allow-list (however the
    import was attempted: the finders fail to find it because no file can be opened)."""
    # ImportError's own slot, not exc.name: a subclass's property could raise.
    name = ImportError.__dict__["name"].__get__(exc) if issubclass(type(exc), ImportError) else None
    if type(name) is str:
        top = name.partition(".")[0]
        if top not in allowed_modules and top not in INTERNAL_HELPER_MODULES:
            return name
    return None


def describe_error(
    exc: BaseException, source_lines: List[str], memory_mb: int, allowed_modules: Tuple[str, ...]
) -> Dict[str, Any]:
    kind = error_type_of(exc)
    refused_module = _outside_allow_list(exc, allowed_modules) if kind != "ModuleNotAllowed" else None
    if kind == "MemoryLimit":
        message = f"the code exceeded the sandbox memory limit ({memory_mb} MB)"
    elif refused_module is not None:
        kind, message = "ModuleNotAllowed", policy.module_not_allowed_message(refused_module, allowed_modules)
    else:
        message = _safe_str(exc)
    try:
        trace: Optional[str] = _format_traceback(exc, source_lines)
    except BaseException:
        trace = None
    return {"type": kind, "message": message, "traceback": trace}


def run_user_code(
    body: Any,
    expr: Optional[Any],
    builtins_namespace: Dict[str, Any],
    max_repr_chars: int,
    source_lines: List[str],
    memory_mb: int,
    allowed_modules: Tuple[str, ...],
) -> Tuple[bool, Optional[str], bool, Optional[Dict[str, Any]]]:
    """Execute the compiled code; return (ok, result, result truncated, error)."""
    namespace: Dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins_namespace}
    try:
        exec(body, namespace)
        result = None
        truncated = False
        if expr is not None:
            value = eval(expr, namespace)
            if value is not None:
                result = str.__str__(repr(value))  # a plain str (see _exact_str)
                if len(result) > max_repr_chars:
                    result, truncated = result[:max_repr_chars], True
        return True, result, truncated, None
    except SystemExit as stop:
        # SystemExit's own slot (a subclass's `code` property could raise), and not
        # `code in (None, 0)`, which calls the code object's own __eq__.
        code = SystemExit.__dict__["code"].__get__(stop)
        if code is None or (type(code) in (int, bool) and code == 0):
            return True, None, False, None
        return False, None, False, _describe_safely(stop, source_lines, memory_mb, allowed_modules)
    except BaseException as exc:  # user code's errors are values, never exceptions escaping
        return False, None, False, _describe_safely(exc, source_lines, memory_mb, allowed_modules)


def _describe_safely(
    exc: BaseException, source_lines: List[str], memory_mb: int, allowed_modules: Tuple[str, ...]
) -> Dict[str, Any]:
    """describe_error, or a plain Exception when the exception object defeats even that."""
    try:
        return describe_error(exc, source_lines, memory_mb, allowed_modules)
    except BaseException:
        return {"type": "Exception", "message": "(the exception could not be described)", "traceback": None}


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def receive_code() -> Optional[str]:
    """Wait for the code on the code pipe; None when the parent closed it unused."""
    chunks = []
    while True:
        chunk = os.read(CODE_FD, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(CODE_FD)
    message = b"".join(chunks)
    if not message.startswith(CODE_MARKER):
        return None
    return message[len(CODE_MARKER) :].decode("utf-8")


def run_child(
    pipes: Tuple[int, int, int, int],
    plan: Any,
    kernel: ModuleType,
    prepared: PreparedFilter,
    zygote_pid: int,
) -> NoReturn:
    """The child's whole life: every layer, "ready", the code, the result, exit. Never returns.

    `plan` is the zygote's ChildPlan (allowed modules, limits, working directory).
    """
    try:
        start_own_process_group()
        wire_descriptors(*pipes)
        enter_empty_directory(plan.workdir)
        set_resource_limits(plan.cpu_seconds, plan.memory_mb * 1024 * 1024)
        drop_privileges()
        tie_lifetime_to_zygote(kernel, zygote_pid)
        reseed_random_state()
        builtins_namespace = install_audit_hook(plan.allowed_modules)
        install_kernel_filter(kernel, prepared)
    except BaseException as exc:
        try:
            reason = f"{type(exc).__name__}: {exc}"
            _write_all(
                RESULT_FD,
                protocol.CHILD_FAILED + reason.encode("utf-8", "replace")[: protocol.MAX_FAILURE_BYTES],
            )
        finally:
            os._exit(70)
    status = 0
    try:
        _write_all(RESULT_FD, protocol.CHILD_READY)
        code = receive_code()
        if code is None:
            os._exit(0)  # the standby was discarded unused
        _write_all(RESULT_FD, run_code(code, builtins_namespace, plan))
        # The handler answers as soon as every pipe is closed: do not make it wait for the
        # address space to be torn down (exit closes descriptors only after that).
        for fd in (STDOUT_FD, STDERR_FD, RESULT_FD):
            os.close(fd)
    except BaseException:
        status = 70  # the parent reports a crashed process for a child that ends without a result
    os._exit(status)


def run_code(code: str, builtins_namespace: Dict[str, Any], plan: Any) -> bytes:
    """Compile and run `code`; the encoded result message."""
    source_lines = source_lines_of(code)
    error: Optional[Dict[str, Any]] = None
    ok, result, truncated = False, None, False
    try:
        body, expr = compile_user_code(code)
    except SyntaxError as exc:
        error = _syntax_error(exc)
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        error = {"type": "SyntaxError", "message": _safe_str(exc), "traceback": None}
    else:
        ok, result, truncated, error = run_user_code(
            body,
            expr,
            builtins_namespace,
            plan.max_output_bytes,
            source_lines,
            plan.memory_mb,
            plan.allowed_modules,
        )
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    return protocol.encode_result(ok, result, truncated, error, plan.max_output_bytes)


def _syntax_error(exc: SyntaxError) -> Dict[str, Any]:
    import traceback

    where = f" (line {exc.lineno})" if exc.lineno else ""
    trace = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    return {"type": "SyntaxError", "message": f"{exc.msg}{where}", "traceback": trace}
