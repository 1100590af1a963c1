"""The zygote: a fresh interpreter that forks every sandbox child, and never holds a secret.

The handler's process (the Lambda runtime) holds the function's credentials and talks to the
Runtime API; every request's code and output pass through it. A child forked from it would
carry all of that in its memory, where code with a memory primitive reads it back. So the
handler starts this process once, at init, as a new interpreter (exec, not fork) with an empty
environment and no inherited descriptor but its control socket. Here the allowed modules are
imported and the kernel filter is prepared; then children are forked from this clean image.
The zygote never receives code, output or results: code goes from the handler straight to a
child over the child's own pipes, and output comes back the same way.

Control protocol (SOCK_SEQPACKET, one JSON object per message, protocol.encode_control):
  zygote -> handler  {"event": "hello"}                      warmed up, about to fork
                     {"event": "standby", "pid": N}          + the child's descriptors
                     {"event": "exit", "pid": N, "status": S, "maxRssKb": K}
                     {"event": "failed", "reason": "..."}    a child could not set up
                     {"event": "fatal", "reason": "..."}     the zygote cannot work; it exits
  handler -> zygote  {"cmd": "next"}                         fork the next standby child
                     {"cmd": "kill", "pid": N}               SIGKILL a child (no pidfd support)
"""

from __future__ import annotations

import gc
import json
import os
import platform
import select
import shutil
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from typing import Dict, List, NoReturn, Optional, Tuple

from . import child, native, protocol, warmup
from .kernel_filter import DENY, PreparedFilter, machine_arch
from .modules import INTERNAL_HELPER_MODULES

# The child's set-up is a few milliseconds; a child that says nothing for this long is broken.
CHILD_READY_TIMEOUT_S = 10.0
# What unlisted syscalls get. Measuring tools (tests/lambda/measure_syscalls.py) replace it with
# SECCOMP_RET_ALLOW in their own zygote; nothing else does.
FILTER_DEFAULT_ACTION = DENY


@dataclass(frozen=True)
class ChildPlan:
    """What every child of this zygote gets (fixed for the zygote's life)."""

    allowed_modules: Tuple[str, ...]
    cpu_seconds: int
    memory_mb: int
    max_output_bytes: int
    workdir: str


class Zygote:
    def __init__(self, control: socket.socket, plan: ChildPlan, kernel, prepared: PreparedFilter) -> None:
        self.control = control
        self.plan = plan
        self.kernel = kernel
        self.prepared = prepared
        self.pid = os.getpid()
        self.children: Dict[int, Optional[int]] = {}  # pid -> pidfd (None without pidfd support)

    def send(self, message: Dict[str, object], fds: List[int] = ()) -> None:  # type: ignore[assignment]
        data = protocol.encode_control(message)
        if fds:
            socket.send_fds(self.control, [data], list(fds))
        else:
            self.control.send(data)

    def fork_standby(self) -> None:
        """Fork a child, wait until every layer is in place, hand its pipes to the handler."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        code_r, code_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            try:
                # detach(): the socket object must never close a number the child reuses later.
                for fd in (out_r, err_r, res_r, code_w, self.control.detach()):
                    os.close(fd)
            finally:
                child.run_child(
                    (out_w, err_w, res_w, code_r), self.plan, self.kernel, self.prepared, self.pid
                )
        for fd in (out_w, err_w, res_w, code_r):
            os.close(fd)
        pidfd = _pidfd_open(pid)
        self.children[pid] = pidfd
        failure = _await_ready(res_r)
        if failure is not None:
            for fd in (out_r, err_r, res_r, code_w):
                os.close(fd)
            self._kill(pid)
            self.send({"event": "failed", "reason": failure})
            return
        fds = [code_w, out_r, err_r, res_r] + ([pidfd] if pidfd is not None else [])
        try:
            self.send({"event": "standby", "pid": pid, "pidfd": pidfd is not None}, fds)
        finally:
            for fd in (code_w, out_r, err_r, res_r):
                os.close(fd)

    def _kill(self, pid: int) -> None:
        pidfd = self.children.get(pid)
        try:
            if pidfd is not None:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            elif pid in self.children:
                os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def reap(self, pid: int) -> None:
        """Kill the exited child's group (the zombie keeps its id reserved), reap, report."""
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            _, status, usage = os.wait4(pid, 0)
        except ChildProcessError:
            status, usage = 0, None
        pidfd = self.children.pop(pid, None)
        if pidfd is not None:
            os.close(pidfd)
        self.send(
            {"event": "exit", "pid": pid, "status": status, "maxRssKb": usage.ru_maxrss if usage else 0}
        )

    def reap_exited_without_pidfd(self) -> None:
        """Old kernels without pidfds: look for exited children without reaping them yet."""
        for pid in [p for p, fd in self.children.items() if fd is None]:
            try:
                exited = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                exited = True
            if exited:
                self.reap(pid)

    def serve(self) -> None:
        """Keep one standby child ready; fork the next when the handler takes it; reap."""
        self.fork_standby()
        poller = select.poll()
        poller.register(self.control, select.POLLIN)
        watched: Dict[int, int] = {}
        while True:
            for pid, pidfd in self.children.items():
                if pidfd is not None and pidfd not in watched:
                    poller.register(pidfd, select.POLLIN)
                    watched[pidfd] = pid
            without_pidfd = any(fd is None for fd in self.children.values())
            for fd, _ in poller.poll(10 if without_pidfd else None):
                if fd in watched:
                    poller.unregister(fd)
                    self.reap(watched.pop(fd))
                    continue
                data = self.control.recv(protocol.MAX_CONTROL_BYTES)
                if not data:  # the handler's process is gone
                    return
                command = protocol.decode_control(data)
                if command.get("cmd") == "next":
                    self.fork_standby()
                elif command.get("cmd") == "kill" and isinstance(command.get("pid"), int):
                    self._kill(command["pid"])
            if without_pidfd:
                self.reap_exited_without_pidfd()


def _pidfd_open(pid: int) -> Optional[int]:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _await_ready(res_r: int) -> Optional[str]:
    """None when the child reported every layer in place; else why it could not."""
    poller = select.poll()
    poller.register(res_r, select.POLLIN | select.POLLHUP)
    if not poller.poll(CHILD_READY_TIMEOUT_S * 1000):
        return f"the child did not finish its set-up within {CHILD_READY_TIMEOUT_S:.0f} s"
    first = os.read(res_r, 1)
    if first == protocol.CHILD_READY:
        return None
    if first == protocol.CHILD_FAILED:
        reason = b""
        while len(reason) < protocol.MAX_FAILURE_BYTES:
            chunk = os.read(res_r, protocol.MAX_FAILURE_BYTES)
            if not chunk:
                break
            reason += chunk
        return "the child could not set up its isolation: " + reason[: protocol.MAX_FAILURE_BYTES].decode(
            "utf-8", "replace"
        )
    return "the child ended during its set-up"


def _make_workdir() -> str:
    """One empty, read-only directory, the children's working directory."""
    path = tempfile.mkdtemp(prefix="sandbox-cwd-")
    os.chmod(path, 0o555)
    return path


def _import_helpers() -> None:
    """The modules allowed modules import lazily from C (INTERNAL_HELPER_MODULES), loaded now:
    a child can open no file, so it could not load them later."""
    import importlib

    for name in sorted(INTERNAL_HELPER_MODULES):
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # not on this Python version (e.g. _sha2 before 3.12)


def main(argv: List[str]) -> NoReturn:
    """argv: [control fd, handler pid, JSON plan]. Never returns."""
    control = socket.socket(fileno=int(argv[0]))
    parent_pid = int(argv[1])
    settings = json.loads(argv[2])
    workdir = None
    status = 0
    # Started with an empty environment; Python's C-locale coercion may have set LC_CTYPE.
    os.environ.clear()
    try:
        kernel = native.load()
        kernel.set_parent_death_signal(signal.SIGKILL)  # never outlive the handler's process
        if os.getppid() != parent_pid:
            os._exit(0)
        kernel.set_dumpable(0)
        arch = machine_arch(platform.machine())
        if arch is None:
            raise native.NativeHelperMissing(
                f"no kernel filter table for architecture {platform.machine()!r}"
            )
        prepared = PreparedFilter(arch, FILTER_DEFAULT_ACTION)
        allowed = tuple(settings["allowedModules"])
        missing = warmup.warm(allowed)
        _import_helpers()
        workdir = _make_workdir()
        plan = ChildPlan(
            allowed,
            int(settings["cpuSeconds"]),
            int(settings["memoryMb"]),
            int(settings["maxOutputBytes"]),
            workdir,
        )
        zygote = Zygote(control, plan, kernel, prepared)
        # Everything that exists now is shared with every child and never collected again, so
        # a child's garbage collector leaves these pages alone and fork copies less.
        gc.collect()
        gc.freeze()
        zygote.send({"event": "hello", "unavailableModules": list(missing)})
        zygote.serve()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the handler's process went away
    except BaseException as exc:
        status = 70
        try:
            control.send(
                protocol.encode_control({"event": "fatal", "reason": f"{type(exc).__name__}: {exc}"[:2000]})
            )
        except OSError:
            pass
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.flush()
    os._exit(status)
