"""The handler's side of one execution: send the code, read capped output, enforce the wall
clock, and turn however the child ended into a response value.

The handler's process never runs user code and never trusts what a child says: output is
capped as it is read, the result message is parsed as hostile input (protocol.decode_result),
and a kill is called MemoryLimit only with evidence.
"""

from __future__ import annotations

import codecs
import os
import select
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from . import protocol
from .child import CODE_MARKER
from .zygote_client import ChildExit, Standby, SandboxUnavailable, ZygoteClient

READ_CHUNK = 65536
# After the deadline's kill, how long the zygote may take to report the exit.
EXIT_REPORT_TIMEOUT_S = 5.0
# A killed child whose peak resident memory reached this share of the cap was killed for memory.
MEMORY_EVIDENCE_SHARE = 0.9


@dataclass
class Execution:
    """What one run produced, before the handler shapes the response."""

    ok: bool
    stdout: str = ""
    stderr: str = ""
    result: Optional[str] = None
    error: Optional[Dict[str, Any]] = None
    truncated: bool = False
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    max_rss_kb: int = 0


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


def _send_code(standby: Standby, code: str) -> bool:
    message = CODE_MARKER + code.encode("utf-8")
    try:
        view = memoryview(message)
        while view:
            view = view[os.write(standby.code_fd, view) :]
        return True
    except BrokenPipeError:
        return False
    finally:
        os.close(standby.code_fd)
        standby.code_fd = -1


def execute(
    zygote: ZygoteClient, code: str, timeout_ms: int, memory_mb: int, max_output_bytes: int
) -> Execution:
    """Run `code` in a standby child and return what happened. Raises SandboxUnavailable only
    when the sandbox cannot give a child at all."""
    standby = zygote.take_standby()
    if not _send_code(standby, code):  # the standby died after it was handed out: one more try
        zygote.exit_of(standby.pid, EXIT_REPORT_TIMEOUT_S)
        standby.close()
        standby = zygote.take_standby()
        _send_code(standby, code)
    out, err, res = (
        _Stream(max_output_bytes),
        _Stream(max_output_bytes),
        _Stream(protocol.result_capacity(max_output_bytes)),
    )
    streams = {standby.stdout_fd: out, standby.stderr_fd: err, standby.result_fd: res}
    try:
        timed_out, ended, reported = _supervise(
            zygote, standby, streams, timeout_ms / 1000.0, max_output_bytes
        )
    finally:
        standby.close()
    return _interpret(out, err, res, timed_out, ended, reported, timeout_ms, memory_mb)


def _supervise(
    zygote: ZygoteClient,
    standby: Standby,
    streams: Dict[int, _Stream],
    timeout_s: float,
    max_output_bytes: int,
) -> Tuple[bool, Optional[ChildExit], Optional[protocol.ReportedOutcome]]:
    """Read the pipes (capped) until the child is done, or the deadline.

    Returns (timed_out, how it ended or None, its result or None). The usual end: the child
    closes its pipes right after writing a valid result; it is then killed (it is in _exit
    anyway; a child that lingers gets nothing more) and its exit report is not awaited.
    Otherwise the zygote's report of the exit says how it ended. At the deadline the child is
    killed through its pidfd, and the zygote reaps it and reports.
    """
    deadline = time.monotonic() + timeout_s
    poller = select.poll()
    for fd in streams:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    control = zygote.control
    if control is None:
        raise SandboxUnavailable("the sandbox's zygote is not running")
    poller.register(control, select.POLLIN)
    open_fds = set(streams)
    result_stream = streams[standby.result_fd]
    checked_result = False
    while standby.pid not in zygote.exits:
        if not open_fds and not checked_result:
            checked_result = True  # without a valid result, how it ended decides: wait for that
            reported = (
                None
                if result_stream.overflowed
                else protocol.decode_result(bytes(result_stream.data), max_output_bytes)
            )
            if reported is not None:
                zygote.kill(standby)
                zygote.forget(standby.pid)
                return False, None, reported
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            zygote.kill(standby)
            ended = zygote.exit_of(standby.pid, EXIT_REPORT_TIMEOUT_S)
            _drain(streams, open_fds)
            if ended is None or _killed_by_us(ended):
                return True, ended, None
            # It ended on its own just before the kill (its last bytes were still unread): what
            # it sent decides, as when it ends before the deadline, not "could not read".
            return False, ended, _result_of(ended, result_stream, max_output_bytes)
        for fd, _ in poller.poll(max(1, remaining * 1000)):
            if fd == control.fileno():
                if not zygote.pump(0):
                    zygote.kill(standby)
                    raise SandboxUnavailable("the sandbox's zygote exited during an execution")
                continue
            chunk = os.read(fd, READ_CHUNK)
            if chunk:
                streams[fd].add(chunk)
            else:
                poller.unregister(fd)
                open_fds.discard(fd)
    # Exited: whatever is still in the pipes is read now (nothing else holds their write ends).
    _drain(streams, open_fds)
    ended = zygote.exits.pop(standby.pid)
    return False, ended, _result_of(ended, result_stream, max_output_bytes)


def _result_of(
    ended: ChildExit, result_stream: _Stream, max_output_bytes: int
) -> Optional[protocol.ReportedOutcome]:
    """The result of a child that exited (not killed), all its pipes read; else None."""
    if os.WIFSIGNALED(ended.status) or result_stream.overflowed:
        return None
    return protocol.decode_result(bytes(result_stream.data), max_output_bytes)


def _killed_by_us(ended: ChildExit) -> bool:
    return os.WIFSIGNALED(ended.status) and os.WTERMSIG(ended.status) == signal.SIGKILL


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


def _interpret(
    out: _Stream,
    err: _Stream,
    res: _Stream,
    timed_out: bool,
    ended: Optional[ChildExit],
    reported: Optional[protocol.ReportedOutcome],
    timeout_ms: int,
    memory_mb: int,
) -> Execution:
    execution = Execution(
        ok=False,
        stdout=out.text(),
        stderr=err.text(),
        truncated=out.overflowed or err.overflowed,
        stdout_bytes=out.seen,
        stderr_bytes=err.seen,
        max_rss_kb=ended.max_rss_kb if ended else 0,
    )
    status = ended.status if ended else 0
    signalled = ended is not None and os.WIFSIGNALED(status)
    signal_number = os.WTERMSIG(status) if signalled else 0
    if timed_out or signal_number == signal.SIGXCPU:
        execution.error = _error("Timeout", f"the code did not finish within {timeout_ms} ms and was stopped")
        return execution
    if reported is not None:
        execution.ok = reported.ok
        execution.result = reported.result
        execution.error = reported.error
        execution.truncated = execution.truncated or reported.result_truncated
        return execution
    peak_mb = execution.max_rss_kb / 1024
    if (
        signalled
        and signal_number in (signal.SIGKILL, signal.SIGSEGV)
        and peak_mb >= MEMORY_EVIDENCE_SHARE * memory_mb
    ):
        execution.error = _error(
            "MemoryLimit",
            f"the code was stopped at the sandbox memory limit ({memory_mb} MB; it reached {peak_mb:.0f} MB)",
        )
    elif signalled and signal_number == signal.SIGSYS:
        execution.error = _error(
            "OperationNotAllowed", "the code made a system call through a foreign interface and was stopped"
        )
    elif signalled:
        name = _signal_name(signal_number)
        execution.error = _error(
            "ProcessCrashed",
            f"the code's process was ended by {name} after using {peak_mb:.0f} MB; nothing it did persists",
        )
    elif res.overflowed or res.data:
        execution.error = _error(
            "ProcessCrashed", "the code's process sent a result the sandbox could not read"
        )
    else:
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
        execution.error = _error(
            "ProcessCrashed", f"the code's process ended without a result (exit status {code})"
        )
    return execution


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _error(kind: str, message: str) -> Dict[str, Any]:
    return {"type": kind, "message": message, "traceback": None}
