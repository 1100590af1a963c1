"""The kernel layer: a seccomp-BPF allow-list, one table per architecture, default deny.

Under assume-breach (user code has arbitrary read/write in its own process) this filter is the
boundary: whatever the interpreter is made to do, the kernel refuses every system call that is
not listed here, with EPERM. The lists hold only what a computing CPython needs once the child
is set up, derived by measurement (tests/lambda/measure_syscalls.py runs the sandbox suite
under strace with a filter that allows everything and records every call made after the
filter went in), with the reason for each entry. Unknown and future syscall numbers are
denied because they are not listed. Calls that can name another process are allowed only
for the child itself; calls that could create executable memory are allowed only without
PROT_EXEC. The filter first checks the architecture of the call, so another ABI's numbering
(i386 int 0x80, x32) cannot slip through: a foreign architecture kills the process.

Installed by the native helper (native.py), never through ctypes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

# linux/audit.h
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

# linux/seccomp.h
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
EPERM = 1
DENY = SECCOMP_RET_ERRNO | EPERM

# linux/filter.h (classic BPF)
BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
BPF_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
BPF_RET_K = 0x06  # BPF_RET | BPF_K

# struct seccomp_data: nr (u32), arch (u32), instruction_pointer (u64), args[6] (u64)
OFF_NR = 0
OFF_ARCH = 4

PROT_EXEC = 0x4
# Stands for the child's own pid in the program; each child patches in its pid (own_pid()).
PID_PLACEHOLDER = 0x7FFFFFF0


def arg_low(index: int) -> int:
    """Offset of the low 32 bits of argument `index` (both architectures are little-endian).

    Every argument checked here is an int in the kernel (pid_t, prot bits, a command), which
    the kernel truncates to its low 32 bits, so the low word is what the kernel acts on."""
    return 16 + 8 * index


@dataclass(frozen=True)
class ArgRule:
    """Allow the call only if argument `index` passes: `equals` one of the values (the child's
    own pid is PID_PLACEHOLDER), or has none of the `forbidden_bits`."""

    index: int
    equals: Tuple[int, ...] = ()
    forbidden_bits: int = 0


NO_EXEC = (ArgRule(2, forbidden_bits=PROT_EXEC),)
# A negative clock id (clockid_t, an int) names the CPU clock of any process or thread by pid
# (((~pid) << 3) | which, no permission check: clock_getres says whether a pid exists,
# clock_gettime how much CPU the handler's process used) or a clock device by descriptor. The
# standard clocks, the child's own CPU clocks among them, are the ids from 0 up.
SYSTEM_CLOCKS_ONLY = (ArgRule(0, forbidden_bits=0x80000000),)

# Why each syscall is allowed, and on what condition; the same purposes on both architectures
# (the tables below give the numbers). "measured" entries were made by the correctness suite
# after the filter went in (tests/lambda/measure_syscalls.py, CPython 3.11, 3.12, 3.13);
# "fallback" entries were not, but the C library makes them for the same purpose in other
# builds or situations, and they act on the child alone.
RULES: Dict[str, Tuple[str, Tuple[ArgRule, ...]]] = {
    "read": ("measured: reads the code pipe (fd 4); no other readable descriptor is open", ()),
    "write": ("measured: stdout, stderr, the result pipe; no other writable descriptor is open", ()),
    "close": ("measured: closes the code pipe after reading it", ()),
    "brk": ("measured: grows and shrinks the malloc heap", ()),
    "mmap": ("measured: memory for large objects and arenas; never executable", NO_EXEC),
    "munmap": ("measured: returns memory", ()),
    "mremap": ("measured: resizes large allocations (cannot add execute permission)", ()),
    "mprotect": ("fallback: glibc's malloc sets protections on its heaps; never executable", NO_EXEC),
    "madvise": ("fallback: glibc's malloc hands free pages of its heaps back", ()),
    "getrandom": ("measured: random, secrets, uuid4 and hash seeds", ()),
    "clock_gettime": (
        "measured: process CPU time (time.process_time); other clocks when the vDSO cannot;"
        " never another process's CPU clock",
        SYSTEM_CLOCKS_ONLY,
    ),
    "clock_getres": (
        "fallback: clock resolution when the vDSO cannot answer; never another process's clock",
        SYSTEM_CLOCKS_ONLY,
    ),
    "gettimeofday": ("fallback: wall-clock time when the vDSO cannot answer", ()),
    "clock_nanosleep": (
        "measured: time.sleep (bounded by the parent's wall-clock limit); never on another"
        " process's CPU clock",
        SYSTEM_CLOCKS_ONLY,
    ),
    "nanosleep": ("fallback: sleep in C libraries that do not use clock_nanosleep", ()),
    "restart_syscall": ("fallback: resumes a sleep interrupted by a stop and continue", ()),
    "getpid": ("measured: its own pid (random, uuid)", ()),
    "gettid": ("fallback: its own thread id (raise, abort)", ()),
    "rt_sigaction": ("fallback: the child's own signal handlers", ()),
    "rt_sigprocmask": ("fallback: the child's own signal mask (abort, raise)", ()),
    "rt_sigreturn": ("fallback: returns from a signal handler", ()),
    "tgkill": (
        "fallback: abort() after an interpreter fatal error signals the child itself, only itself",
        (ArgRule(0, equals=(PID_PLACEHOLDER,)), ArgRule(1, equals=(PID_PLACEHOLDER,))),
    ),
    "exit": ("fallback: ends the thread", ()),
    "exit_group": ("measured: ends the child", ()),
}

# Syscall numbers: x86_64 from arch/x86/entry/syscalls/syscall_64.tbl, aarch64 from
# include/uapi/asm-generic/unistd.h; tests/lambda/kernel-filter.test.ts checks both against
# the kernel's headers.
SYSCALL_NUMBERS: Dict[str, Dict[str, int]] = {
    "x86_64": {
        "read": 0,
        "write": 1,
        "close": 3,
        "mmap": 9,
        "mprotect": 10,
        "munmap": 11,
        "brk": 12,
        "rt_sigaction": 13,
        "rt_sigprocmask": 14,
        "rt_sigreturn": 15,
        "mremap": 25,
        "madvise": 28,
        "nanosleep": 35,
        "getpid": 39,
        "exit": 60,
        "gettimeofday": 96,
        "gettid": 186,
        "restart_syscall": 219,
        "clock_gettime": 228,
        "clock_getres": 229,
        "clock_nanosleep": 230,
        "exit_group": 231,
        "tgkill": 234,
        "getrandom": 318,
    },
    "aarch64": {
        "close": 57,
        "read": 63,
        "write": 64,
        "exit": 93,
        "exit_group": 94,
        "nanosleep": 101,
        "clock_gettime": 113,
        "clock_getres": 114,
        "clock_nanosleep": 115,
        "restart_syscall": 128,
        "tgkill": 131,
        "rt_sigaction": 134,
        "rt_sigprocmask": 135,
        "rt_sigreturn": 139,
        "gettimeofday": 169,
        "getpid": 172,
        "gettid": 178,
        "brk": 214,
        "munmap": 215,
        "mremap": 216,
        "mmap": 222,
        "mprotect": 226,
        "madvise": 233,
        "getrandom": 278,
    },
}
AUDIT_ARCH = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}


def machine_arch(machine: str) -> Optional[str]:
    """The table name for a `platform.machine()` value, or None when there is no table."""
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(
        machine.lower()
    )


Insn = Tuple[int, int, int, int]


class _Assembler:
    """Classic BPF with forward jumps to labels, resolved at the end (offsets are 8-bit)."""

    def __init__(self) -> None:
        self.code: List[Tuple[int, object, object, int]] = []
        self.labels: Dict[str, int] = {}

    def emit(self, op: int, k: int, jt: object = 0, jf: object = 0) -> None:
        self.code.append((op, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> List[Insn]:
        out: List[Insn] = []
        for at, (op, jt, jf, k) in enumerate(self.code):
            out.append((op, self._offset(at, jt), self._offset(at, jf), k))
        return out

    def _offset(self, at: int, target: object) -> int:
        if isinstance(target, int):
            return target
        distance = self.labels[str(target)] - at - 1
        if not 0 <= distance <= 255:
            raise ValueError(f"BPF jump to {target} is {distance} instructions away")
        return distance


def build_program(arch: str, default_action: int = DENY) -> List[Insn]:
    """The filter for `arch` as (code, jt, jf, k) instructions. Every refusal is EPERM;
    `default_action` replaces that for unlisted calls (SECCOMP_RET_ALLOW when measuring)."""
    table = SYSCALL_NUMBERS[arch]
    asm = _Assembler()
    asm.emit(BPF_LD_W_ABS, OFF_ARCH)
    asm.emit(BPF_JEQ_K, AUDIT_ARCH[arch], 1, 0)
    asm.emit(BPF_RET_K, SECCOMP_RET_KILL_PROCESS)
    asm.emit(BPF_LD_W_ABS, OFF_NR)
    if arch == "x86_64":  # x32 calls carry bit 30 and their own numbering
        asm.emit(BPF_JGE_K, X32_SYSCALL_BIT, "deny", 0)
    checked = []
    for name, nr in sorted(table.items(), key=lambda item: item[1]):
        rules = RULES[name][1]
        if rules:
            checked.append((name, rules))
            asm.emit(BPF_JEQ_K, nr, f"check_{name}", 0)
        else:
            asm.emit(BPF_JEQ_K, nr, "allow", 0)
    asm.emit(BPF_RET_K, default_action)
    for name, rules in checked:
        asm.label(f"check_{name}")
        for number, rule in enumerate(rules):
            passed = "allow" if number == len(rules) - 1 else f"check_{name}_{number + 1}"
            if number:
                asm.label(f"check_{name}_{number}")
            asm.emit(BPF_LD_W_ABS, arg_low(rule.index))
            if rule.forbidden_bits:
                asm.emit(BPF_JSET_K, rule.forbidden_bits, "deny", passed)
            else:
                for value in rule.equals[:-1]:
                    asm.emit(BPF_JEQ_K, value, passed, 0)
                asm.emit(BPF_JEQ_K, rule.equals[-1], passed, "deny")
    asm.label("allow")
    asm.emit(BPF_RET_K, SECCOMP_RET_ALLOW)
    asm.label("deny")
    asm.emit(BPF_RET_K, DENY)
    return asm.assemble()


def pack(program: Sequence[Insn]) -> bytes:
    return b"".join(struct.pack("<HBBI", code, jt, jf, k) for code, jt, jf, k in program)


class PreparedFilter:
    """The packed program, built once in the zygote; a child patches in its pid (own_pid)."""

    def __init__(self, arch: str, default_action: int = DENY) -> None:
        program = build_program(arch, default_action)
        self.arch = arch
        self.packed = bytearray(pack(program))
        self.pid_offsets = [i * 8 + 4 for i, insn in enumerate(program) if insn[3] == PID_PLACEHOLDER]

    def for_pid(self, pid: int) -> bytes:
        program = bytearray(self.packed)
        for offset in self.pid_offsets:
            struct.pack_into("<I", program, offset, pid)
        return bytes(program)
