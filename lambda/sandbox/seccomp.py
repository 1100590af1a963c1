"""The kernel layer: PR_SET_NO_NEW_PRIVS and a seccomp-BPF filter, built with ctypes + prctl.

The filter holds even when user code has corrupted the interpreter and bypassed every
Python-level hook: the kernel itself refuses the calls (EPERM), so there is no Python path
around it. Tables for x86_64 and aarch64 (the Lambda runs on arm64); the filter first checks
the architecture field of seccomp_data so a syscall made through another ABI (i386 int 0x80,
x32) cannot use a different numbering to slip through: it kills the process instead.
"""

from __future__ import annotations

import platform
import struct
import sys
from typing import Dict, List, Optional, Tuple

# linux/audit.h
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

# linux/seccomp.h, linux/prctl.h
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
EPERM = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
SECCOMP_MODE_FILTER = 2

# linux/filter.h (classic BPF opcodes)
BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
BPF_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
BPF_RET_K = 0x06  # BPF_RET | BPF_K

# struct seccomp_data offsets: nr (u32), arch (u32), instruction_pointer (u64), args[6] (u64)
OFF_NR = 0
OFF_ARCH = 4


def off_arg_low(index: int) -> int:
    """Offset of the low 32 bits of syscall argument `index` (both arches are little-endian)."""
    return 16 + 8 * index


# Open flags that create, truncate or write (identical values on x86_64 and aarch64).
O_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000  # O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND

# Refused with EPERM on every call: what lets code reach the network, start programs,
# processes or threads, trace or signal other processes, change namespaces or the kernel,
# or change the file system. Numbers: arch/x86/entry/syscalls/syscall_64.tbl and
# include/uapi/asm-generic/unistd.h (aarch64). tests/lambda checks both tables.
DENIED_SYSCALLS: Dict[str, Dict[str, int]] = {
    "x86_64": {
        "socket": 41, "socketpair": 53, "connect": 42, "bind": 49, "listen": 50, "accept": 43, "accept4": 288,
        "execve": 59, "execveat": 322, "fork": 57, "vfork": 58, "clone": 56, "clone3": 435,
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
        "pidfd_open": 434, "pidfd_getfd": 438, "pidfd_send_signal": 424, "tkill": 200,
        "setns": 308, "unshare": 272, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
        "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsmount": 432,
        "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250, "add_key": 248,
        "request_key": 249, "init_module": 175, "finit_module": 313, "delete_module": 176,
        "kexec_load": 246, "kexec_file_load": 320, "reboot": 169, "swapon": 167, "swapoff": 168,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "setsid": 112, "setpgid": 109,
        "personality": 135, "acct": 163, "ioperm": 173, "iopl": 172, "uselib": 134,
        "openat2": 437, "creat": 85, "mkdir": 83, "mkdirat": 258, "rmdir": 84, "unlink": 87,
        "unlinkat": 263, "rename": 82, "renameat": 264, "renameat2": 316, "link": 86, "linkat": 265,
        "symlink": 88, "symlinkat": 266, "chmod": 90, "fchmod": 91, "fchmodat": 268, "chown": 92,
        "fchown": 93, "lchown": 94, "fchownat": 260, "truncate": 76, "ftruncate": 77, "mknod": 133,
        "mknodat": 259, "utime": 132, "utimes": 235, "futimesat": 261, "utimensat": 280,
        "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197,
        "lremovexattr": 198, "fremovexattr": 199, "fanotify_init": 300, "memfd_create": 319,
    },
    "aarch64": {
        "socket": 198, "socketpair": 199, "connect": 203, "bind": 200, "listen": 201, "accept": 202,
        "accept4": 242, "execve": 221, "execveat": 281, "clone": 220, "clone3": 435,
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272,
        "pidfd_open": 434, "pidfd_getfd": 438, "pidfd_send_signal": 424, "tkill": 130,
        "setns": 268, "unshare": 97, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsmount": 432,
        "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219, "add_key": 217,
        "request_key": 218, "init_module": 105, "finit_module": 273, "delete_module": 106,
        "kexec_load": 104, "kexec_file_load": 294, "reboot": 142, "swapon": 224, "swapoff": 225,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "setsid": 157, "setpgid": 154,
        "personality": 92, "acct": 89, "openat2": 437, "mkdirat": 34, "unlinkat": 35,
        "renameat": 38, "renameat2": 276, "linkat": 37, "symlinkat": 36, "fchmod": 52,
        "fchmodat": 53, "fchown": 55, "fchownat": 54, "truncate": 45, "ftruncate": 46,
        "mknodat": 33, "utimensat": 88, "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7,
        "removexattr": 14, "lremovexattr": 15, "fremovexattr": 16, "fanotify_init": 262,
        "memfd_create": 279,
    },
}
# Refused when the flags argument asks to create, truncate or write: (number, flags arg index).
OPEN_SYSCALLS: Dict[str, Dict[str, Tuple[int, int]]] = {
    "x86_64": {"open": (2, 1), "openat": (257, 2)},
    "aarch64": {"openat": (56, 2)},
}
# Allowed only when aimed at the calling process itself (arg 0 == its own pid): abort() and
# signal.raise_signal use tgkill(getpid(), ...); anything else would signal another process.
SELF_ONLY_SYSCALLS: Dict[str, Dict[str, int]] = {
    "x86_64": {"kill": 62, "tgkill": 234},
    "aarch64": {"kill": 129, "tgkill": 131},
}
AUDIT_ARCH = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}


def machine_arch() -> Optional[str]:
    machine = platform.machine().lower()
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(machine)


Insn = Tuple[int, int, int, int]


def build_filter(arch: str, own_pid: int) -> List[Insn]:
    """The BPF program (code, jt, jf, k) for `arch`; every refusal is EPERM, never a crash."""
    errno = SECCOMP_RET_ERRNO | EPERM
    prog: List[Insn] = [
        (BPF_LD_W_ABS, 0, 0, OFF_ARCH),
        (BPF_JEQ_K, 1, 0, AUDIT_ARCH[arch]),
        (BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        (BPF_LD_W_ABS, 0, 0, OFF_NR),
    ]
    if arch == "x86_64":
        # x32 ABI calls carry bit 30 and their own numbering: refuse them all.
        prog += [(BPF_JGE_K, 0, 1, X32_SYSCALL_BIT), (BPF_RET_K, 0, 0, errno)]
    for nr in sorted(set(DENIED_SYSCALLS[arch].values())):
        prog += [(BPF_JEQ_K, 0, 1, nr), (BPF_RET_K, 0, 0, errno)]
    for nr, flags_arg in OPEN_SYSCALLS[arch].values():
        # if nr matches: load flags; refuse if any write flag; else allow. Otherwise skip 4.
        prog += [
            (BPF_JEQ_K, 0, 4, nr),
            (BPF_LD_W_ABS, 0, 0, off_arg_low(flags_arg)),
            (BPF_JSET_K, 0, 1, O_WRITE_FLAGS),
            (BPF_RET_K, 0, 0, errno),
            (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        ]
    for nr in SELF_ONLY_SYSCALLS[arch].values():
        prog += [
            (BPF_JEQ_K, 0, 4, nr),
            (BPF_LD_W_ABS, 0, 0, off_arg_low(0)),
            (BPF_JEQ_K, 1, 0, own_pid),
            (BPF_RET_K, 0, 0, errno),
            (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        ]
    prog.append((BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    return prog


def pack_filter(prog: List[Insn]) -> bytes:
    return b"".join(struct.pack("<HBBI", code, jt, jf, k) for code, jt, jf, k in prog)


class _Prepared:
    """libc calls and the packed program, made once in the warm parent (the child only
    patches its pid into the program and calls prctl)."""

    def __init__(self, arch: str) -> None:
        import ctypes

        self.ctypes = ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        self.prctl = libc.prctl
        self.prctl.restype = ctypes.c_int
        self.memset = ctypes.memset
        # Build with a placeholder pid, remember where it sits, patch it per child.
        self.program = bytearray(pack_filter(build_filter(arch, PID_PLACEHOLDER)))
        self.pid_offsets = [
            i * 8 + 4 for i, insn in enumerate(build_filter(arch, PID_PLACEHOLDER)) if insn[3] == PID_PLACEHOLDER
        ]

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        self.buffer = ctypes.create_string_buffer(len(self.program))
        self.fprog = SockFprog(len(self.program) // 8, ctypes.addressof(self.buffer))
        self.module_names = [n for n in sys.modules if n == "ctypes" or n.startswith(("ctypes.", "_ctypes"))]


PID_PLACEHOLDER = 0x7FFFFFF0
_prepared: Optional[_Prepared] = None


def prepare() -> None:
    """Load libc's prctl and pack the filter once, in the warm parent."""
    global _prepared
    arch = machine_arch()
    if _prepared is None and arch is not None:
        _prepared = _Prepared(arch)


def make_undumpable() -> bool:
    """PR_SET_DUMPABLE 0: /proc/<pid>/environ, /mem and ptrace of this process become
    root-only, so another process of the same uid (a sandbox child in Lambda, where there is
    no uid to drop to) cannot read the credentials in the warm parent's environment."""
    prepare()
    return _prepared is not None and _prepared.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0


def zero_memory(address: int, size: int) -> bool:
    """memset(address, 0, size) in this process (the child's copy of the environment block)."""
    if _prepared is None:
        return False
    _prepared.memset(address, 0, size)
    return True


def install_syscall_filter(own_pid: int) -> Optional[str]:
    """Kernel layer: set PR_SET_NO_NEW_PRIVS and install the seccomp-BPF filter.

    Stops, even after every Python-level hook is bypassed or the interpreter is corrupted:
    socket creation and connects (the Lambda Runtime API on localhost included), execve,
    fork/vfork/clone/clone3 (no new processes or threads), ptrace and process_vm_*, signals
    to any other process, namespaces, mounts, BPF, io_uring, kernel keyrings and modules, and
    every file-system mutation (create, truncate, write-open, unlink, rename, chmod, chown...).
    Does not stop: reading files the process may read (the credentials live only in the
    environment, which the child has wiped), CPU or memory use (resource limits do), or
    kernel bugs in the syscalls still allowed. Returns None when installed, else the reason
    it could not be (the caller logs it once; the other layers still hold).
    """
    if machine_arch() is None:
        return f"unsupported architecture {platform.machine()!r}"
    prepare()
    prepared = _prepared
    if prepared is None:
        return "prctl unavailable"
    program = prepared.program
    for offset in prepared.pid_offsets:
        struct.pack_into("<I", program, offset, own_pid)
    prepared.buffer.raw = bytes(program)
    prepared.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # siblings cannot read this child either
    if prepared.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return f"PR_SET_NO_NEW_PRIVS failed (errno {prepared.ctypes.get_errno()})"
    if prepared.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prepared.ctypes.byref(prepared.fprog), 0, 0) != 0:
        return f"PR_SET_SECCOMP failed (errno {prepared.ctypes.get_errno()})"
    return None


def forget() -> None:
    """Drop every reference to ctypes in the child once the filter is installed, so user code
    finds no loaded copy to pivot to (re-importing it is refused)."""
    global _prepared
    names = _prepared.module_names if _prepared is not None else []
    _prepared = None
    for name in names:
        sys.modules.pop(name, None)
