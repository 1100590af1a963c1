"""The parent side of one execution: fork, read capped output, enforce the wall clock, reap.

The parent is the warm Lambda runtime process. It never runs user code, never buffers more
than the caps, always reaps the child, and turns every way a child can end (result, error,
timeout, kill, crash, garbage on the result pipe) into a response value.
"""

from __future__ import annotations

import codecs
import json
import os
import select
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from . import runner

READ_CHUNK = 65536
# The result pipe carries repr() and an error with its traceback, each capped in the child.
RESULT_SLACK_BYTES = 256 * 1024


@dataclass
class Execution:
    """What one run produced, before the handler shapes the response."""

    ok: bool
    stdout: str = ""
    stderr: str = ""
    result: Optional[str] = None
    error: Optional[Dict[str, Any]] = None
    truncated: bool = False
    kernel_filter_problem: Optional[str] = None
    stdout_bytes: int = 0
    stderr_bytes: int = 0


@dataclass
class _Stream:
    cap: int
    data: bytearray = field(default_factory=bytearray)
    seen: int = 0

    def add(self, chunk: bytes) -> None:
        self.seen += len(chunk)
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    @property
    def overflowed(self) -> bool:
        return self.seen > self.cap

    def text(self) -> str:
        # Drop a multi-byte character cut by the cap rather than emit a replacement for it.
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        return decoder.decode(bytes(self.data), final=not self.overflowed)


_workdir: Optional[str] = None


def empty_workdir() -> str:
    """One empty, read-only directory per warm process, the children's working directory."""
    global _workdir
    if _workdir is None or not os.path.isdir(_workdir):
        _workdir = tempfile.mkdtemp(prefix="sandbox-cwd-")
        os.chmod(_workdir, 0o555)
    return _workdir


@dataclass
class _Child:
    """A forked child with every layer in place, waiting on its code pipe."""

    pid: int
    stdout_fd: int
    stderr_fd: int
    result_fd: int
    code_fd: int
    key: Tuple[Any, ...]


_standby: Optional[_Child] = None


def _fork_child(key: Tuple[Any, ...]) -> _Child:
    allowed_modules, cpu_seconds, memory_mb, max_output_bytes = key
    workdir = empty_workdir()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    res_r, res_w = os.pipe()
    code_r, code_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        for fd in (out_r, err_r, res_r, code_w):
            os.close(fd)
        runner.run_child((out_w, err_w, res_w, code_r), allowed_modules, cpu_seconds, memory_mb, max_output_bytes, workdir)
    for fd in (out_w, err_w, res_w, code_r):
        os.close(fd)
    return _Child(pid, out_r, err_r, res_r, code_w, key)


def _discard(child: _Child) -> None:
    _kill_group(child.pid)
    try:
        os.waitpid(child.pid, 0)
    except ChildProcessError:
        pass
    for fd in (child.stdout_fd, child.stderr_fd, child.result_fd, child.code_fd):
        try:
            os.close(fd)
        except OSError:
            pass


def _take_standby(key: Tuple[Any, ...]) -> Optional[_Child]:
    global _standby
    child, _standby = _standby, None
    if child is None:
        return None
    if child.key != key or os.waitpid(child.pid, os.WNOHANG)[0] != 0:
        _discard(child)
        return None
    return child


def prepare_standby(allowed_modules: Tuple[str, ...], cpu_limit_ms: int, memory_mb: int, max_output_bytes: int) -> None:
    """Fork the next child now, so its set-up (every isolation layer) is off the request path.

    The child is forked from the warm parent after the previous execution ended, so it is as
    pristine as one forked on demand; it only waits for its code.
    """
    global _standby
    key = _key(allowed_modules, cpu_limit_ms, memory_mb, max_output_bytes)
    if _standby is not None and _standby.key == key:
        return
    if _standby is not None:
        _discard(_standby)
    _standby = _fork_child(key)


def _key(allowed_modules: Tuple[str, ...], cpu_limit_ms: int, memory_mb: int, max_output_bytes: int) -> Tuple[Any, ...]:
    cpu_seconds = max(1, -(-cpu_limit_ms // 1000)) + 1
    return (tuple(allowed_modules), cpu_seconds, memory_mb, max_output_bytes)


def _send_code(child: _Child, code: str) -> bool:
    message = runner.CODE_MARKER + code.encode("utf-8")
    try:
        view = memoryview(message)
        while view:
            view = view[os.write(child.code_fd, view) :]
        return True
    except BrokenPipeError:
        return False
    finally:
        os.close(child.code_fd)
        child.code_fd = -1


def execute(
    code: str,
    timeout_ms: int,
    allowed_modules: Tuple[str, ...],
    memory_mb: int,
    max_output_bytes: int,
    cpu_limit_ms: Optional[int] = None,
) -> Execution:
    """Run `code` in a fresh forked child and return what happened.

    cpu_limit_ms: the function's maximum timeout, the basis of the child's RLIMIT_CPU (the
    per-request wall-clock limit, timeout_ms, is enforced here by the parent).
    """
    key = _key(allowed_modules, cpu_limit_ms or timeout_ms, memory_mb, max_output_bytes)
    child = _take_standby(key) or _fork_child(key)
    if not _send_code(child, code):  # a prepared child that died: use a fresh one once
        _discard(child)
        child = _fork_child(key)
        _send_code(child, code)
    streams = {
        child.stdout_fd: _Stream(max_output_bytes),
        child.stderr_fd: _Stream(max_output_bytes),
        child.result_fd: _Stream(2 * max_output_bytes + RESULT_SLACK_BYTES),
    }
    timed_out, status = _supervise(child.pid, streams, timeout_ms / 1000.0)
    execution = _interpret(
        streams[child.stdout_fd], streams[child.stderr_fd], streams[child.result_fd], timed_out, status, timeout_ms, memory_mb
    )
    prepare_standby(allowed_modules, cpu_limit_ms or timeout_ms, memory_mb, max_output_bytes)
    return execution


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _supervise(pid: int, streams: Dict[int, _Stream], timeout_s: float) -> Tuple[bool, int]:
    """Read all pipes (capped) until the child exits and they close, or the deadline passes.

    Returns (timed_out, wait status). The child's process group is killed in every case
    before the child is reaped, so nothing it started survives; the zombie keeps the group
    id reserved until then.
    """
    deadline = time.monotonic() + timeout_s
    poller = select.poll()
    for fd in streams:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    pidfd = _open_pidfd(pid)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    open_fds = set(streams)
    exited: Optional[int] = None
    timed_out = False
    try:
        while open_fds or exited is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = exited is None
                break
            # Without a pidfd the child's exit is noticed by polling waitpid every 5 ms.
            wait_ms = remaining * 1000 if pidfd is not None else min(remaining * 1000, 5)
            for fd, _ in poller.poll(max(1, wait_ms)):
                if fd == pidfd:
                    poller.unregister(pidfd)
                    continue
                chunk = os.read(fd, READ_CHUNK)
                if chunk:
                    streams[fd].add(chunk)
                else:
                    poller.unregister(fd)
                    open_fds.discard(fd)
            if exited is None:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    exited = status
                    # Whatever is still buffered in the pipes is read next; a pipe a
                    # stray process keeps open must not hold the parent: kill the group.
                    _drain(streams, open_fds)
                    break
        if exited is None:
            _kill_group(pid)
            _, exited = os.waitpid(pid, 0)
            _drain(streams, open_fds)
        else:
            _kill_group(pid)  # stray members, should a later layer ever fail
    finally:
        for fd in streams:
            os.close(fd)
        if pidfd is not None:
            os.close(pidfd)
    return timed_out, exited


def _drain(streams: Dict[int, _Stream], open_fds: set) -> None:
    for fd in list(open_fds):
        os.set_blocking(fd, False)
        try:
            while True:
                chunk = os.read(fd, READ_CHUNK)
                if not chunk:
                    break
                streams[fd].add(chunk)
        except BlockingIOError:
            pass
        open_fds.discard(fd)


def _open_pidfd(pid: int) -> Optional[int]:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _interpret(
    out: _Stream, err: _Stream, res: _Stream, timed_out: bool, status: int, timeout_ms: int, memory_mb: int
) -> Execution:
    execution = Execution(
        ok=False,
        stdout=out.text(),
        stderr=err.text(),
        truncated=out.overflowed or err.overflowed,
        stdout_bytes=out.seen,
        stderr_bytes=err.seen,
    )
    signalled = os.WIFSIGNALED(status)
    signal_number = os.WTERMSIG(status) if signalled else 0
    if timed_out or signal_number == signal.SIGXCPU:
        execution.error = _error("Timeout", f"the code did not finish within {timeout_ms} ms and was stopped")
        return execution
    reported = _parse_result(res)
    if reported is not None and not signalled:
        execution.ok = reported["ok"]
        execution.result = reported["result"]
        execution.error = reported["error"]
        execution.truncated = execution.truncated or reported["resultTruncated"]
        execution.kernel_filter_problem = reported["kernelFilter"]
        return execution
    if signal_number == signal.SIGKILL:
        execution.error = _error("MemoryLimit", f"the code was killed, most likely for exceeding the memory limit ({memory_mb} MB)")
    elif signalled:
        name = signal.Signals(signal_number).name if signal_number in signal.Signals._value2member_map_ else str(signal_number)
        execution.error = _error("ProcessCrashed", f"the code's process crashed ({name}); nothing it did persists")
    else:
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
        execution.error = _error("ProcessCrashed", f"the code's process ended without a result (exit status {code})")
    return execution


def _error(kind: str, message: str) -> Dict[str, Any]:
    return {"type": kind, "message": message, "traceback": None}


def _parse_result(res: _Stream) -> Optional[Dict[str, Any]]:
    """The child's report, or None when it is missing, oversized or not the expected shape."""
    if res.overflowed or not res.data:
        return None
    try:
        data = json.loads(bytes(res.data).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
        return None
    result = data.get("result")
    error = data.get("error")
    if result is not None and not isinstance(result, str):
        return None
    if error is not None:
        if not isinstance(error, dict) or not isinstance(error.get("type"), str) or not isinstance(error.get("message"), str):
            return None
        trace = error.get("traceback")
        error = {"type": error["type"], "message": error["message"], "traceback": trace if isinstance(trace, str) else None}
    if data["ok"] == (error is not None):
        return None
    kernel = data.get("kernelFilter")
    return {
        "ok": data["ok"],
        "result": result,
        "error": error,
        "resultTruncated": data.get("resultTruncated") is True,
        "kernelFilter": kernel if isinstance(kernel, str) else None,
    }
