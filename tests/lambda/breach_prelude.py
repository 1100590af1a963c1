# Test-only zygote prelude (tests/lambda/harness.py passes it; no production code path loads
# it): assume-breach. User code gets everything an attacker who broke every in-process layer
# would have, so the tests show what the operating system alone still holds:
#   - no audit hook, no allow-list finder, the real builtins (so `import os` works: every
#     module the zygote loaded is reachable);
#   - __breach__: arbitrary memory read/write and raw system calls, through ctypes, which is
#     loaded into the zygote here and so is in every child's memory.
# Run by the zygote before its main; `sandbox` is importable (its directory is on sys.path).
import builtins as _builtins
import ctypes as _ctypes
import os as _os

from sandbox import child as _child

_libc = _ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = _ctypes.c_long
_maps = []
_maps_fd = []
_probe_pipe = []
PROBE_PIPE_BYTES = 1 << 20


class _Breach:
    """The primitive: read(address, size), write(address, data), syscall(nr, *args) -> (result,
    errno), cstring(bytes) -> address (kept alive), maps() -> [(start, end, perms, name)] as
    they are when first asked, read_safely(address, size) for scanning them."""

    def __init__(self):
        self._keep = []

    def read(self, address, size):
        return _ctypes.string_at(address, size)

    def write(self, address, data):
        _ctypes.memmove(address, data, len(data))

    def read_safely(self, address, size):
        """Up to `size` bytes from `address`, through a pipe: write(2) copies the memory into the
        pipe and answers EFAULT for unmapped memory instead of crashing, as read() would.
        Returns b"" when the first byte is not readable."""
        copied, _ = self.syscall(SYS["write"], _probe_pipe[1], address, min(size, PROBE_PIPE_BYTES))
        return _os.read(_probe_pipe[0], copied) if copied > 0 else b""

    def syscall(self, nr, *args):
        converted = [_ctypes.c_long(a) if isinstance(a, int) else a for a in args]
        _ctypes.set_errno(0)
        result = _libc.syscall(_ctypes.c_long(nr), *converted)
        return result, _ctypes.get_errno()

    def cstring(self, data):
        buffer = _ctypes.create_string_buffer(data)
        self._keep.append(buffer)
        return _ctypes.addressof(buffer)

    def buffer(self, size):
        buffer = _ctypes.create_string_buffer(size)
        self._keep.append(buffer)
        return _ctypes.addressof(buffer)

    def maps(self):
        """The child's mappings now: /proc/self/maps was opened before the filter (no file can be
        opened after it), and a maps file is generated when it is first read."""
        if not _maps:
            text = b""
            while True:
                chunk = _os.read(_maps_fd[0], 65536)
                if not chunk:
                    break
                text += chunk
            for line in text.decode().splitlines():
                fields = line.split()
                start, end = (int(x, 16) for x in fields[0].split("-"))
                _maps.append((start, end, fields[1], fields[5] if len(fields) > 5 else ""))
        return list(_maps)


SYS = {
    "x86_64": {"write": 1},
    "aarch64": {"write": 64},
}[_os.uname().machine]


def _without_hooks(allowed_modules):
    namespace = dict(_builtins.__dict__)
    namespace["__breach__"] = _Breach()
    return namespace


_install_kernel_filter = _child.install_kernel_filter


def _record_maps_then_filter(kernel, prepared):
    import fcntl

    _maps_fd[:] = [_os.open("/proc/self/maps", _os.O_RDONLY)]
    _probe_pipe[:] = _os.pipe2(_os.O_NONBLOCK)
    fcntl.fcntl(_probe_pipe[1], 1031, PROBE_PIPE_BYTES)  # F_SETPIPE_SZ
    _install_kernel_filter(kernel, prepared)


_child.install_audit_hook = _without_hooks
_child.install_kernel_filter = _record_maps_then_filter
