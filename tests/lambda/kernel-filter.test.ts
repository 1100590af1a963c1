/**
 * The kernel filter's tables and program (lambda/sandbox/kernel_filter.py), checked against the
 * kernel's own syscall numbers, executed by a classic-BPF interpreter for every syscall
 * number, and compared with what the sandbox's children were measured to need.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { supportedPythons } from "./pythons";

const LAMBDA_DIR = path.join(__dirname, "..", "..", "lambda");
const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const DENY = 0x00050000 | 1; // SECCOMP_RET_ERRNO | EPERM
const AUDIT_ARCH = { x86_64: 0xc000003e, aarch64: 0xc00000b7 } as const;
type Arch = keyof typeof AUDIT_ARCH;
const OWN_PID = 4242;

interface Tables {
  rules: Record<string, [string, Array<[number, number[], number]>]>;
  numbers: Record<Arch, Record<string, number>>;
  programs: Record<Arch, Array<[number, number, number, number]>>;
}

const tables = JSON.parse(
  execFileSync(
    "python3",
    [
      "-c",
      `import sys, json, dataclasses
sys.path.insert(0, ${JSON.stringify(LAMBDA_DIR)})
from sandbox import kernel_filter as k
import struct
def program(arch):
    packed = k.PreparedFilter(arch).for_pid(${OWN_PID})
    return [list(struct.unpack_from("<HBBI", packed, i)) for i in range(0, len(packed), 8)]
print(json.dumps({
    "rules": {n: [why, [[r.index, list(r.equals), r.forbidden_bits] for r in rules]] for n, (why, rules) in k.RULES.items()},
    "numbers": k.SYSCALL_NUMBERS,
    "programs": {a: program(a) for a in ("x86_64", "aarch64")},
}))`,
    ],
    { encoding: "utf8" },
  ),
) as Tables;

/** Classic BPF as the kernel runs a seccomp filter over struct seccomp_data. */
function runFilter(
  program: Array<[number, number, number, number]>,
  arch: number,
  nr: number,
  args: bigint[] = [],
): number {
  const data = Buffer.alloc(64);
  data.writeUInt32LE(nr >>> 0, 0);
  data.writeUInt32LE(arch >>> 0, 4);
  args.forEach((value, i) => data.writeBigUInt64LE(BigInt.asUintN(64, value), 16 + 8 * i));
  let accumulator = 0;
  for (let pc = 0; pc < program.length;) {
    const [code, jt, jf, k] = program[pc]!;
    if (code === 0x20) {
      accumulator = data.readUInt32LE(k);
      pc += 1;
    } else if (code === 0x15 || code === 0x35 || code === 0x45) {
      const taken =
        code === 0x15
          ? accumulator === k
          : code === 0x35
            ? accumulator >>> 0 >= k >>> 0
            : (accumulator & k) !== 0;
      pc += 1 + (taken ? jt : jf);
    } else if (code === 0x06) {
      return k >>> 0;
    } else {
      throw new Error(`unexpected BPF instruction ${code} at ${pc}`);
    }
  }
  throw new Error("the program fell off its end");
}

/** The kernel's numbers: x86_64 from the machine's uapi header, aarch64 from asm-generic. */
function kernelNumbers(arch: Arch): Record<string, number> | undefined {
  const header =
    arch === "x86_64" ? "/usr/include/x86_64-linux-gnu/asm/unistd_64.h" : "/usr/include/asm-generic/unistd.h";
  if (!fs.existsSync(header)) return undefined;
  const text = fs.readFileSync(header, "utf8");
  const numbers: Record<string, number> = {};
  for (const [, name, value] of text.matchAll(/#define __NR(?:3264)?_(\w+)\s+(\d+)\b/g))
    numbers[name!] = Number(value);
  return numbers;
}

describe.each(["x86_64", "aarch64"] as const)("the %s table", (arch) => {
  const table = tables.numbers[arch];
  const program = tables.programs[arch];
  const kernel = kernelNumbers(arch);

  (kernel ? it : it.skip)("uses the kernel's own number for every syscall it allows", () => {
    for (const [name, nr] of Object.entries(table)) expect([name, nr]).toEqual([name, kernel![name]]);
  });

  it("gives every allowed syscall a reason, and allows the same purposes as the other architecture", () => {
    for (const name of Object.keys(table))
      expect([name, tables.rules[name]?.[0].length ?? 0]).not.toEqual([name, 0]);
    expect(Object.keys(table).sort()).toEqual(Object.keys(tables.rules).sort());
  });

  it("kills a call made through another architecture's interface", () => {
    const other = arch === "x86_64" ? 0x40000003 /* i386 */ : AUDIT_ARCH.x86_64;
    expect(runFilter(program, other, table.getpid!)).toBe(SECCOMP_RET_KILL_PROCESS);
  });

  it("denies with EPERM every syscall number up to 1023 that is not on the list (unknown and future ones too)", () => {
    const allowed = new Set(Object.values(table));
    const wrong: number[] = [];
    for (let nr = 0; nr < 1024; nr++) {
      const verdict = runFilter(program, AUDIT_ARCH[arch], nr, [BigInt(OWN_PID), BigInt(OWN_PID)]);
      if (allowed.has(nr) !== (verdict === SECCOMP_RET_ALLOW) || (!allowed.has(nr) && verdict !== DENY))
        wrong.push(nr);
    }
    expect(wrong).toEqual([]);
    expect(runFilter(program, AUDIT_ARCH[arch], 0xffffffff)).toBe(DENY);
  });

  if (arch === "x86_64")
    it("denies every x32-ABI call", () => {
      for (const nr of [0, 1, 39, 60, 231])
        expect(runFilter(program, AUDIT_ARCH[arch], 0x40000000 | nr)).toBe(DENY);
    });

  it("allows mmap and mprotect only without PROT_EXEC (read/write memory is fine)", () => {
    for (const name of ["mmap", "mprotect"]) {
      const nr = table[name]!;
      expect(runFilter(program, AUDIT_ARCH[arch], nr, [0n, 4096n, 3n, 0x22n])).toBe(SECCOMP_RET_ALLOW);
      expect(runFilter(program, AUDIT_ARCH[arch], nr, [0n, 4096n, 0n])).toBe(SECCOMP_RET_ALLOW);
      for (const prot of [4n, 5n, 7n, 0x100000004n, 0xffffffffn])
        expect([name, prot, runFilter(program, AUDIT_ARCH[arch], nr, [0n, 4096n, prot, 0x22n])]).toEqual([
          name,
          prot,
          DENY,
        ]);
    }
  });

  it("lets tgkill signal only the child itself (abort), never another process or thread", () => {
    const nr = table.tgkill!;
    const own = BigInt(OWN_PID);
    expect(runFilter(program, AUDIT_ARCH[arch], nr, [own, own, 6n])).toBe(SECCOMP_RET_ALLOW);
    for (const [tgid, tid] of [
      [1n, 1n],
      [own + 1n, own + 1n],
      [own, own + 1n],
      [own + 1n, own],
      [0n, 0n],
      [-1n, -1n],
    ])
      expect(runFilter(program, AUDIT_ARCH[arch], nr, [tgid!, tid!, 9n])).toBe(DENY);
  });

  it("lets the clock calls use the system's clocks and the child's own, never another process's CPU clock", () => {
    // clockid_t is an int; ((~pid) << 3) | which is the CPU clock of any pid (no permission
    // check in the kernel), so a negative id would say which processes exist and their CPU time.
    const clock = (id: number) => BigInt.asUintN(64, BigInt(id));
    for (const name of ["clock_gettime", "clock_getres", "clock_nanosleep"]) {
      const nr = table[name]!;
      for (const id of [0, 1, 2, 3, 4, 5, 6, 7, 11])
        expect([name, id, runFilter(program, AUDIT_ARCH[arch], nr, [clock(id), 0n])]).toEqual([
          name,
          id,
          SECCOMP_RET_ALLOW,
        ]);
      for (const id of [(~1 << 3) | 2, (~OWN_PID << 3) | 2, (~1 << 3) | 6, -1, -2147483648])
        expect([name, id, runFilter(program, AUDIT_ARCH[arch], nr, [clock(id), 0n])]).toEqual([
          name,
          id,
          DENY,
        ]);
    }
  });

  it("has no syscall that names another process, opens a file, or creates a process, socket or IPC object", () => {
    const forbidden = [
      "kill",
      "tkill",
      "rt_sigqueueinfo",
      "rt_tgsigqueueinfo",
      "pidfd_open",
      "pidfd_send_signal",
      "prlimit64",
      "setpriority",
      "sched_setaffinity",
      "sched_setscheduler",
      "sched_setattr",
      "ioprio_set",
      "ptrace",
      "process_vm_readv",
      "process_vm_writev",
      "open",
      "openat",
      "openat2",
      "creat",
      "execve",
      "execveat",
      "fork",
      "vfork",
      "clone",
      "clone3",
      "socket",
      "socketpair",
      "shmget",
      "msgget",
      "semget",
      "mq_open",
      "memfd_create",
      "newfstatat",
      "statx",
      "ioctl",
      "fcntl",
      "prctl",
      "seccomp",
      "personality",
      "pkey_mprotect",
    ];
    expect(forbidden.filter((name) => name in table)).toEqual([]);
  });
});

const strace = ["/usr/bin/strace", "/bin/strace"].some((p) => fs.existsSync(p));
(strace ? describe.each : describe.skip.each)(supportedPythons().map((p) => [p.version, p.path] as const))(
  "measured against the sandbox's own needs on CPython %s (strace)",
  (_version, python) => {
    let measured: {
      arch: string;
      children: number;
      syscalls: Record<string, number>;
      refusedOnPurpose: Record<string, string>;
    };
    beforeAll(() => {
      measured = JSON.parse(
        execFileSync(python, [path.join(__dirname, "measure_syscalls.py"), "--json"], {
          encoding: "utf8",
          timeout: 120000,
        }),
      );
    }, 150000);

    it("every syscall a child made after its filter went in is on the allow-list (or refused on purpose, with a reason)", () => {
      expect(measured.children).toBeGreaterThan(50);
      const arch = measured.arch as Arch;
      const unexplained = Object.keys(measured.syscalls).filter(
        (name) => !(name in tables.numbers[arch]) && !(name in measured.refusedOnPurpose),
      );
      expect(unexplained).toEqual([]);
      expect(Object.keys(measured.refusedOnPurpose).filter((name) => name in tables.numbers[arch])).toEqual(
        [],
      );
    });
  },
);
