"""The handler's side of the zygote: start it, take standby children, learn how they ended.

Runs in the handler's process (the Lambda runtime, which holds the credentials). It starts
the zygote as a new interpreter (`python -I -S`, exec'd, not forked) with an EMPTY environment
and only the control socket as an extra descriptor, so nothing of this process reaches it.
"""

from __future__ import annotations

import collections
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Deque, Dict, List, Optional, Set, Tuple

from . import protocol

LAMBDA_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Test seam: Python source the zygote runs before its main (tests/lambda sets it in their own
# harness process to measure syscalls or to hand user code a memory primitive). Empty here.
ZYGOTE_PRELUDE = ""
_ENTRY = (
    "import sys\nsys.path.insert(0, sys.argv[1])\n{prelude}\n"
    "from sandbox.zygote import main\nmain(sys.argv[2:])\n"
)
START_TIMEOUT_S = 30.0
REPLY_TIMEOUT_S = 10.0


class SandboxUnavailable(RuntimeError):
    """The zygote cannot give out children (it failed to start, or children cannot set up).
    The handler reports it as a function error: the sandbox itself is broken."""


@dataclass
class Standby:
    """A child with every layer in place, waiting for its code."""

    pid: int
    code_fd: int
    stdout_fd: int
    stderr_fd: int
    result_fd: int
    pidfd: Optional[int]

    def close(self) -> None:
        for fd in (self.code_fd, self.stdout_fd, self.stderr_fd, self.result_fd, self.pidfd):
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.code_fd = self.stdout_fd = self.stderr_fd = self.result_fd = -1
        self.pidfd = None


@dataclass(frozen=True)
class ChildExit:
    status: int
    max_rss_kb: int


class ZygoteClient:
    def __init__(
        self, allowed_modules: Tuple[str, ...], cpu_seconds: int, memory_mb: int, max_output_bytes: int
    ) -> None:
        self.settings = {
            "allowedModules": list(allowed_modules),
            "cpuSeconds": cpu_seconds,
            "memoryMb": memory_mb,
            "maxOutputBytes": max_output_bytes,
        }
        self.process: Optional[subprocess.Popen] = None
        self.control: Optional[socket.socket] = None
        self.standbys: Deque[Standby] = collections.deque()
        self.exits: Dict[int, ChildExit] = {}
        # Children whose end the handler no longer waits for (it answered already).
        self.forgotten: Set[int] = set()
        self.failure: Optional[str] = None
        self.unavailable_modules: List[str] = []

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the zygote and wait until it has warmed up (the function's init phase)."""
        self.close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        entry = _ENTRY.format(prelude=ZYGOTE_PRELUDE)
        command = [
            sys.executable,
            "-I",
            "-S",
            "-X",
            "utf8",
            "-c",
            entry,
            LAMBDA_DIR,
            str(theirs.fileno()),
            str(os.getpid()),
            json.dumps(self.settings),
        ]
        try:
            self.process = subprocess.Popen(
                command,
                env={},
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                close_fds=True,
                cwd="/",
            )
        except OSError as exc:
            ours.close()
            raise SandboxUnavailable(f"cannot start the sandbox's zygote ({sys.executable}): {exc}") from None
        finally:
            theirs.close()
        self.control = ours
        self.failure = None
        hello = self._receive(START_TIMEOUT_S)
        if hello is None or hello[0].get("event") != "hello":
            reason = hello[0].get("reason") if hello else None
            self.close()
            raise SandboxUnavailable(f"the sandbox's zygote did not start: {reason or 'it exited'}")
        self.unavailable_modules = [m for m in hello[0].get("unavailableModules", []) if isinstance(m, str)]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and self.control is not None

    def close(self) -> None:
        for standby in self.standbys:
            standby.close()
        self.standbys.clear()
        self.exits.clear()
        self.forgotten.clear()
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None

    # --- messages ---------------------------------------------------------------------------

    def _receive(self, timeout_s: Optional[float]) -> Optional[Tuple[dict, List[int]]]:
        """One message from the zygote (with its descriptors), None on EOF or timeout."""
        if self.control is None:
            return None
        if timeout_s is not None:
            ready, _, _ = select.select([self.control], [], [], max(0.0, timeout_s))
            if not ready:
                return None
        try:
            data, fds, _, _ = socket.recv_fds(self.control, protocol.MAX_CONTROL_BYTES, 5)
        except OSError:
            return None
        if not data:
            return None
        return protocol.decode_control(data), list(fds)

    def _dispatch(self, message: dict, fds: List[int]) -> None:
        event = message.get("event")
        if event == "standby" and len(fds) >= 4:
            pidfd = fds[4] if message.get("pidfd") and len(fds) > 4 else None
            self.standbys.append(Standby(int(message["pid"]), fds[0], fds[1], fds[2], fds[3], pidfd))
            return
        for fd in fds:
            os.close(fd)
        if event == "exit":
            pid = int(message["pid"])
            if pid in self.forgotten:
                self.forgotten.discard(pid)
            else:
                self.exits[pid] = ChildExit(int(message["status"]), int(message.get("maxRssKb", 0)))
        elif event in ("failed", "fatal"):
            self.failure = str(message.get("reason", "unknown"))[:2000]

    def pump(self, timeout_s: Optional[float]) -> bool:
        """Handle one message if one arrives in time; False on timeout or a dead zygote."""
        received = self._receive(timeout_s)
        if received is None:
            return False
        self._dispatch(*received)
        return True

    def send(self, command: dict) -> None:
        if self.control is None:
            raise SandboxUnavailable("the sandbox's zygote is not running")
        try:
            self.control.send(protocol.encode_control(command))
        except OSError as exc:
            raise SandboxUnavailable(f"the sandbox's zygote stopped answering: {exc}") from None

    # --- what the executor uses ---------------------------------------------------------------

    def take_standby(self) -> Standby:
        """The next ready child; the zygote starts forking the one after it right away."""
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while True:
            while self.standbys:
                standby = self.standbys.popleft()
                if standby.pid in self.exits:  # died while waiting (killed from outside)
                    self.exits.pop(standby.pid)
                    standby.close()
                    self.send({"cmd": "next"})
                    continue
                self.send({"cmd": "next"})
                return standby
            if self.failure is not None:
                failure, self.failure = self.failure, None
                self.send({"cmd": "next"})  # try again on the next invocation
                raise SandboxUnavailable(failure)
            if not self.pump(deadline - time.monotonic()):
                raise SandboxUnavailable(
                    "the sandbox's zygote gave no child in time"
                    if self.alive()
                    else "the sandbox's zygote exited"
                )

    def kill(self, standby: Standby) -> None:
        """SIGKILL the child: through its pidfd (no pid-reuse race), else by the zygote."""
        if standby.pidfd is not None:
            try:
                signal.pidfd_send_signal(standby.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
        else:
            self.send({"cmd": "kill", "pid": standby.pid})

    def forget(self, pid: int) -> None:
        """The handler will not ask how `pid` ended: drop its exit report whenever it comes."""
        if self.exits.pop(pid, None) is None:
            self.forgotten.add(pid)

    def exit_of(self, pid: int, timeout_s: float) -> Optional[ChildExit]:
        """How child `pid` ended, waiting up to timeout_s for the zygote to report it."""
        deadline = time.monotonic() + timeout_s
        while pid not in self.exits:
            if not self.pump(deadline - time.monotonic()):
                return None
        return self.exits.pop(pid)
