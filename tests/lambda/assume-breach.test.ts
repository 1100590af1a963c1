/**
 * Assume-breach: user code is handed what an attacker who broke every in-process layer would
 * have (no audit hook, no allow-list, the real builtins, and __breach__: arbitrary memory
 * read/write and raw system calls; tests/lambda/breach_prelude.py, test-only). These tests
 * show that the operating system alone still holds, on every CPython, as root and as an
 * unprivileged user: no credential or earlier request in the child's memory, no file, socket,
 * process, executable memory, IPC object, and nothing that reaches the handler's process or
 * the zygote. Each check asserts the effect did not happen, not only that a call failed.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import {
  BatchResult,
  BREACH_PRELUDE,
  CANARY,
  code,
  responseOf,
  runAsModes,
  runBatch,
  SANDBOX_TEST_USER,
} from "./sandbox-harness";
import { supportedPythons } from "./pythons";

const PYTHONS = supportedPythons();
const MODES = runAsModes();
const RUNS = PYTHONS.flatMap((p) => MODES.map((m) => [p.version, m.label, p.path, m] as const));
const EPERM = 1;
const SANE = code("import math, json\nprint(len([1, 2]), math.pi, json.dumps([1]))");
const SANE_STDOUT = "2 3.141592653589793 [1]\n";

/** Syscall numbers of this machine's architecture (x86_64: syscall_64.tbl; aarch64: asm-generic). */
const SYSCALLS_PY = `
import os
_X86 = dict(read=0, open=2, creat=85, openat=257, openat2=437, open_by_handle_at=304, mknodat=259,
    memfd_create=319, symlinkat=266, linkat=265, renameat2=316, unlinkat=263, truncate=76, fchmodat=268,
    fchmodat2=452, utimensat=280, fchownat=260, mkdirat=258, socket=41, socketpair=53, execve=59,
    execveat=322, mmap=9, mprotect=10, pkey_mprotect=329, remap_file_pages=216, personality=135, kill=62,
    tkill=200, tgkill=234, rt_sigqueueinfo=129, rt_tgsigqueueinfo=297, pidfd_open=434,
    pidfd_send_signal=424, prlimit64=302, setpriority=141, sched_setaffinity=203, sched_setscheduler=144,
    sched_setattr=314, sched_setparam=142, ioprio_set=251, shmget=29, msgget=68, semget=64, mq_open=240,
    ptrace=101, process_vm_readv=310, process_vm_writev=311, kcmp=312, setns=308, unshare=272, fork=57,
    vfork=58, clone=56, clone3=435, io_uring_setup=425, bpf=321, userfaultfd=323, perf_event_open=298,
    add_key=248, keyctl=250, newfstatat=262, statx=332, getdents64=217, chdir=80, prctl=157, seccomp=317,
    landlock_create_ruleset=444, memfd_secret=447, process_madvise=440, futex_waitv=449, mseal=462,
    clock_gettime=228, clock_getres=229, clock_nanosleep=230)
_ARM = dict(read=63, openat=56, openat2=437, open_by_handle_at=265, mknodat=33, memfd_create=279,
    symlinkat=36, linkat=37, renameat2=276, unlinkat=35, truncate=45, fchmodat=53, fchmodat2=452,
    utimensat=88, fchownat=54, mkdirat=34, socket=198, socketpair=199, execve=221, execveat=281, mmap=222,
    mprotect=226, pkey_mprotect=288, remap_file_pages=234, personality=92, kill=129, tkill=130, tgkill=131,
    rt_sigqueueinfo=138, rt_tgsigqueueinfo=240, pidfd_open=434, pidfd_send_signal=424, prlimit64=261,
    setpriority=140, sched_setaffinity=122, sched_setscheduler=119, sched_setattr=274, sched_setparam=118,
    ioprio_set=30, shmget=194, msgget=186, semget=190, mq_open=180, ptrace=117, process_vm_readv=270,
    process_vm_writev=271, kcmp=272, setns=268, unshare=97, clone=220, clone3=435, io_uring_setup=425,
    bpf=280, userfaultfd=282, perf_event_open=241, add_key=217, keyctl=219, newfstatat=79, statx=291,
    getdents64=61, chdir=49, prctl=167, seccomp=277, landlock_create_ruleset=444, memfd_secret=447,
    process_madvise=440, futex_waitv=449, mseal=462, clock_gettime=113, clock_getres=114, clock_nanosleep=115)
N = _X86 if ${JSON.stringify(os.arch())} == "x64" else _ARM
b = __breach__
`;

/** One attack per entry: Python that evaluates to (result, errno) of the attempt. */
function attacks(dir: string, port: number): Record<string, string> {
  const marker = JSON.stringify(path.join(dir, "marker"));
  const victim = JSON.stringify(path.join(dir, "victim"));
  const targets: Record<string, string> = { zygote: "ZYGOTE_PID", handler: "HANDLER_PID" };
  const list: Record<string, string> = {
    // files
    "openat /etc/passwd": `b.syscall(N["openat"], -100, b.cstring(b"/etc/passwd"), 0)`,
    "openat /proc/<handler>/environ": `b.syscall(N["openat"], -100, b.cstring(b"/proc/HANDLER_PID/environ"), 0)`,
    "openat creating the marker": `b.syscall(N["openat"], -100, b.cstring(${marker}.encode()), 0o101, 0o644)`,
    "openat2 of the victim": `b.syscall(N["openat2"], -100, b.cstring(${victim}.encode()), b.buffer(24), 24)`,
    open_by_handle_at: `b.syscall(N["open_by_handle_at"], -100, b.buffer(128), 0)`,
    "mknodat the marker": `b.syscall(N["mknodat"], -100, b.cstring(${marker}.encode()), 0o100644, 0)`,
    memfd_create: `b.syscall(N["memfd_create"], b.cstring(b"x"), 0)`,
    memfd_secret: `b.syscall(N["memfd_secret"], 0)`,
    "symlinkat the marker": `b.syscall(N["symlinkat"], b.cstring(b"/etc/passwd"), -100, b.cstring(${marker}.encode()))`,
    "linkat the marker": `b.syscall(N["linkat"], -100, b.cstring(${victim}.encode()), -100, b.cstring(${marker}.encode()), 0)`,
    "renameat2 the victim": `b.syscall(N["renameat2"], -100, b.cstring(${victim}.encode()), -100, b.cstring(${marker}.encode()), 0)`,
    "unlinkat the victim": `b.syscall(N["unlinkat"], -100, b.cstring(${victim}.encode()), 0)`,
    "truncate the victim": `b.syscall(N["truncate"], b.cstring(${victim}.encode()), 0)`,
    "fchmodat the victim": `b.syscall(N["fchmodat"], -100, b.cstring(${victim}.encode()), 0o777)`,
    "fchmodat2 the victim": `b.syscall(N["fchmodat2"], -100, b.cstring(${victim}.encode()), 0o777, 0)`,
    "utimensat the victim": `b.syscall(N["utimensat"], -100, b.cstring(${victim}.encode()), 0, 0)`,
    "mkdirat the marker": `b.syscall(N["mkdirat"], -100, b.cstring(${marker}.encode()), 0o755)`,
    "newfstatat /etc/passwd": `b.syscall(N["newfstatat"], -100, b.cstring(b"/etc/passwd"), b.buffer(256), 0)`,
    "statx /etc/passwd": `b.syscall(N["statx"], -100, b.cstring(b"/etc/passwd"), 0, 0x7ff, b.buffer(512))`,
    "getdents64 of stdin": `b.syscall(N["getdents64"], 0, b.buffer(4096), 4096)`,
    "chdir /": `b.syscall(N["chdir"], b.cstring(b"/"))`,
    "os.open of /etc/passwd": `(lambda os: (lambda: os.open("/etc/passwd", os.O_RDONLY)))(__import__("os"))`,
    // network
    "socket AF_INET": `b.syscall(N["socket"], 2, 1, 0)`,
    "socket AF_UNIX": `b.syscall(N["socket"], 1, 1, 0)`,
    socketpair: `b.syscall(N["socketpair"], 1, 1, 0, b.buffer(8))`,
    "socket module to the runtime API stand-in": `(lambda: __import__("socket").create_connection(("127.0.0.1", ${port}), timeout=1))`,
    // processes and executable memory
    "execve /bin/sh": `b.syscall(N["execve"], b.cstring(b"/bin/sh"), 0, 0)`,
    "execveat /bin/sh": `b.syscall(N["execveat"], -100, b.cstring(b"/bin/sh"), 0, 0, 0)`,
    clone: `b.syscall(N["clone"], 17, 0, 0, 0, 0)`,
    clone3: `b.syscall(N["clone3"], b.buffer(88), 88)`,
    "os.fork": `(lambda: __import__("os").fork())`,
    "mmap PROT_EXEC": `b.syscall(N["mmap"], 0, 4096, 5, 0x22, -1, 0)`,
    "mmap PROT_EXEC in the high word too": `b.syscall(N["mmap"], 0, 4096, 0x100000007, 0x22, -1, 0)`,
    "mprotect a heap page to executable": `b.syscall(N["mprotect"], b.buffer(8192) // 4096 * 4096 + 4096, 4096, 7)`,
    "pkey_mprotect to executable": `b.syscall(N["pkey_mprotect"], b.buffer(8192) // 4096 * 4096 + 4096, 4096, 7, -1)`,
    remap_file_pages: `b.syscall(N["remap_file_pages"], b.buffer(8192) // 4096 * 4096 + 4096, 4096, 7, 0, 0)`,
    "personality READ_IMPLIES_EXEC": `b.syscall(N["personality"], 0x0400000)`,
    // IPC objects that would outlive the child
    shmget: `b.syscall(N["shmget"], 0, 1 << 20, 0o1600)`,
    msgget: `b.syscall(N["msgget"], 0, 0o1600)`,
    semget: `b.syscall(N["semget"], 0, 1, 0o1600)`,
    mq_open: `b.syscall(N["mq_open"], b.cstring(b"sbx-breach"), 0o102, 0o600, 0)`,
    // the kernel's other doors
    "unshare a user namespace": `b.syscall(N["unshare"], 0x10000000)`,
    setns: `b.syscall(N["setns"], 0, 0)`,
    io_uring_setup: `b.syscall(N["io_uring_setup"], 8, b.buffer(120))`,
    bpf: `b.syscall(N["bpf"], 0, b.buffer(128), 128)`,
    userfaultfd: `b.syscall(N["userfaultfd"], 0)`,
    perf_event_open: `b.syscall(N["perf_event_open"], b.buffer(128), 0, -1, -1, 0)`,
    add_key: `b.syscall(N["add_key"], b.cstring(b"user"), b.cstring(b"k"), b.cstring(b"v"), 1, -2)`,
    "keyctl join a session keyring": `b.syscall(N["keyctl"], 1, 0)`,
    "prctl make itself dumpable": `b.syscall(N["prctl"], 4, 1, 0, 0, 0)`,
    "seccomp another filter": `b.syscall(N["seccomp"], 1, 0, 0)`,
    landlock_create_ruleset: `b.syscall(N["landlock_create_ruleset"], 0, 0, 1)`,
    "futex_waitv (newer than the tables)": `b.syscall(N["futex_waitv"], 0, 0, 0, 0, 0)`,
    "mseal (newer than the tables)": `b.syscall(N["mseal"], 0, 0, 0)`,
    "syscall 600 (not yet assigned)": `b.syscall(600)`,
    "syscall 1023": `b.syscall(1023)`,
    "x32 ABI getpid": `b.syscall(0x40000000 | 39) if N is _X86 else (-1, 1)`,
    "setpriority of its own uid (every process of the user)": `b.syscall(N["setpriority"], 2, 0, 19)`,
    "ioprio_set of its own uid": `b.syscall(N["ioprio_set"], 3, __import__("os").getuid(), 3 << 13)`,
    // A process CPU clock id is ((~pid) << 3) | 2: clock_getres of one says whether pid 1 exists.
    "clock_getres of pid 1's CPU clock (is there such a process?)": `b.syscall(N["clock_getres"], ((~1) << 3) | 2, 0)`,
  };
  for (const [name, pid] of Object.entries(targets)) {
    Object.assign(list, {
      [`SIGSTOP to the ${name}`]: `b.syscall(N["kill"], ${pid}, 19)`,
      [`SIGKILL to the ${name}`]: `b.syscall(N["kill"], ${pid}, 9)`,
      [`tgkill SIGKILL to the ${name}`]: `b.syscall(N["tgkill"], ${pid}, ${pid}, 9)`,
      [`tkill SIGKILL to the ${name}`]: `b.syscall(N["tkill"], ${pid}, 9) if "tkill" in N else (-1, 1)`,
      [`rt_sigqueueinfo SIGKILL to the ${name}`]: `b.syscall(N["rt_sigqueueinfo"], ${pid}, 9, b.buffer(128))`,
      [`rt_tgsigqueueinfo SIGINT to the ${name}`]: `b.syscall(N["rt_tgsigqueueinfo"], ${pid}, ${pid}, 2, b.buffer(128))`,
      [`pidfd_open of the ${name}`]: `b.syscall(N["pidfd_open"], ${pid}, 0)`,
      [`prlimit64 RLIMIT_NPROC 0 on the ${name}`]: `b.syscall(N["prlimit64"], ${pid}, 6, b.buffer(16), 0)`,
      [`prlimit64 RLIMIT_CPU 0 on the ${name}`]: `b.syscall(N["prlimit64"], ${pid}, 0, b.buffer(16), 0)`,
      [`setpriority 19 on the ${name}`]: `b.syscall(N["setpriority"], 0, ${pid}, 19)`,
      [`os.setpriority 19 on the ${name}`]: `(lambda: __import__("os").setpriority(0, ${pid}, 19))`,
      [`sched_setaffinity of the ${name}`]: `b.syscall(N["sched_setaffinity"], ${pid}, 8, b.buffer(8))`,
      [`sched_setscheduler SCHED_IDLE on the ${name}`]: `b.syscall(N["sched_setscheduler"], ${pid}, 5, b.buffer(8))`,
      [`sched_setattr on the ${name}`]: `b.syscall(N["sched_setattr"], ${pid}, b.buffer(56), 0)`,
      [`sched_setparam on the ${name}`]: `b.syscall(N["sched_setparam"], ${pid}, b.buffer(8))`,
      [`ioprio_set idle on the ${name}`]: `b.syscall(N["ioprio_set"], 1, ${pid}, 3 << 13)`,
      [`ptrace attach to the ${name}`]: `b.syscall(N["ptrace"], 16, ${pid}, 0, 0)`,
      [`process_vm_readv of the ${name}`]: `b.syscall(N["process_vm_readv"], ${pid}, b.buffer(16), 1, b.buffer(16), 1, 0)`,
      [`process_vm_writev to the ${name}`]: `b.syscall(N["process_vm_writev"], ${pid}, b.buffer(16), 1, b.buffer(16), 1, 0)`,
      [`kcmp with the ${name}`]: `b.syscall(N["kcmp"], ${pid}, ${pid}, 0, 0, 0)`,
      [`process_madvise on the ${name}`]: `b.syscall(N["process_madvise"], 0, b.buffer(16), 1, 8, 0)`,
      [`clock_gettime of the ${name}'s CPU clock`]: `b.syscall(N["clock_gettime"], ((~${pid}) << 3) | 2, b.buffer(16))`,
      [`clock_getres of the ${name}'s thread CPU clock`]: `b.syscall(N["clock_getres"], ((~${pid}) << 3) | 6, b.buffer(16))`,
      [`clock_nanosleep on the ${name}'s CPU clock`]: `b.syscall(N["clock_nanosleep"], ((~${pid}) << 3) | 2, 0, b.buffer(16), 0)`,
    });
  }
  return list;
}

/** Python that runs every attack and prints {name: [result, errno]} as JSON. */
function attackProgram(list: Record<string, string>): string {
  const entries = Object.entries(list)
    .map(([name, expr]) => `    (${JSON.stringify(name)}, lambda: ${expr}),`)
    .join("\n");
  return `${SYSCALLS_PY}
import json
out = {}
for name, attempt in [
${entries}
]:
    try:
        value = attempt()
        if callable(value):
            value = value()
        out[name] = list(value) if isinstance(value, tuple) else ["succeeded", repr(value)[:80]]
    except OSError as e:
        out[name] = [-1, e.errno]
    except BaseException as e:
        out[name] = ["raised", f"{type(e).__name__}: {e}"[:200]]
print(json.dumps(out))
`;
}

/** Python that scans every readable mapping of the child for `needle` (by a prefix, then a
 * hash of the whole, so the scan itself never holds the needle) and prints the hit count. */
function scanProgram(needles: Record<string, string>, first = ""): string {
  const spec = Object.entries(needles).map(([name, value]) => [
    name,
    value.slice(0, 12),
    crypto.createHash("sha256").update(value).digest("hex"),
    Buffer.byteLength(value),
  ]);
  return `${SYSCALLS_PY}
${first}
import hashlib, json
NEEDLES = ${JSON.stringify(spec)}
hits = {name: 0 for name, _, _, _ in NEEDLES}
scanned = 0
for start, end, perms, name in b.maps():
    if "r" not in perms or name in ("[vvar]", "[vvar_vclock]", "[vsyscall]"):
        continue
    address = start
    while address < end:
        want = min(1 << 20, end - address + 4096)
        chunk = b.read_safely(address, want)
        if not chunk:
            address += 4096  # an unreadable page (a guard page): skip it
            continue
        # Pieces overlap by 4 KiB (longer than any needle) so no match is cut in two; a piece cut
        # short by unreadable memory is the end of what can be read here, so it counts whole.
        step = len(chunk) - 4096 if len(chunk) == want and len(chunk) > 4096 else len(chunk)
        scanned += min(step, end - address)
        for name, prefix, digest, length in NEEDLES:
            at = chunk.find(prefix.encode())
            while 0 <= at < step:
                if hashlib.sha256(chunk[at:at + length]).hexdigest() == digest:
                    hits[name] += 1
                at = chunk.find(prefix.encode(), at + 1)
        address += step
print(json.dumps({"hits": hits, "scannedBytes": scanned}))
`;
}

function ipcObjects(): string {
  const lines = ["shm", "msg", "sem"].map((kind) => {
    try {
      return fs.readFileSync(`/proc/sysvipc/${kind}`, "utf8").trim().split("\n").length - 1;
    } catch {
      return -1;
    }
  });
  const queues = fs.existsSync("/dev/mqueue") ? fs.readdirSync("/dev/mqueue").sort().join(",") : "";
  return JSON.stringify({ lines, queues });
}

describe.each(RUNS)("assume-breach on CPython %s %s", (_version, label, python, runAs) => {
  let dir: string;
  let victimStat: fs.Stats;
  let connections = 0;
  let listener: net.Server;
  let ipcBefore: string;
  let results: BatchResult[];
  let names: string[];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-breach-"));
    fs.writeFileSync(path.join(dir, "victim"), "untouched\n");
    if (runAs.setpriv) {
      // Let file-system permissions allow everything, so any refusal is the kernel filter's.
      const ids = execFileSync("id", ["-u", SANDBOX_TEST_USER], { encoding: "utf8" }).trim();
      fs.chownSync(dir, Number(ids), 0);
      fs.chownSync(path.join(dir, "victim"), Number(ids), 0);
    }
    fs.chmodSync(dir, 0o777);
    fs.chmodSync(path.join(dir, "victim"), 0o666);
    victimStat = fs.statSync(path.join(dir, "victim"));
    listener = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const port = (listener.address() as net.AddressInfo).port;
    ipcBefore = ipcObjects();
    const list = attacks(dir, port);
    names = Object.keys(list);
    results = runBatch(python, [SANE, code(attackProgram(list), 20000), SANE], {
      prelude: BREACH_PRELUDE,
      runAs,
    });
    await new Promise((r) => setTimeout(r, 200)); // let the listener see queued connections
  }, 120000);

  afterAll(async () => {
    await new Promise((r) => listener.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("hands the attack code the primitive it is meant to have (the test would prove nothing otherwise)", () => {
    const outcome = JSON.parse(responseOf(results[1]).stdout) as Record<
      string,
      [number | string, number | string]
    >;
    expect(Object.keys(outcome)).toEqual(names);
  });

  it("refuses every attack with EPERM from the kernel filter", () => {
    const outcome = JSON.parse(responseOf(results[1]).stdout) as Record<string, unknown>;
    const notRefused = Object.entries(outcome).filter(
      ([, v]) => JSON.stringify(v) !== JSON.stringify([-1, EPERM]),
    );
    expect(notRefused).toEqual([]);
  });

  it("leaves no effect: no file created or changed, no connection, no IPC object", () => {
    expect(fs.readdirSync(dir).sort()).toEqual(["victim"]);
    const after = fs.statSync(path.join(dir, "victim"));
    expect([
      after.mode,
      after.size,
      after.mtimeMs,
      fs.readFileSync(path.join(dir, "victim"), "utf8"),
    ]).toEqual([victimStat.mode, victimStat.size, victimStat.mtimeMs, "untouched\n"]);
    expect(connections).toBe(0);
    expect(ipcObjects()).toBe(ipcBefore);
  });

  it("leaves the handler's process and the zygote untouched: alive, running, same priority, limits, affinity, scheduler", () => {
    const [before, attack, next] = results;
    expect(attack?.functionError).toBeUndefined();
    expect(attack?.after).toEqual(before?.after);
    expect(next?.after).toEqual(before?.after);
    expect(before?.after?.zygoteProcess).toMatchObject({ alive: true, stopped: false });
    expect(next?.after?.zygoteRestarted).toBe(false);
    expect(responseOf(next)).toMatchObject({ ok: true, stdout: SANE_STDOUT });
  });

  describe(`the child's memory (${label})`, () => {
    let scan: { hits: Record<string, number>; scannedBytes: number };
    const previousCode = "PREVIOUS-CODE-" + crypto.randomBytes(12).toString("hex");
    const previousOutput = "PREVIOUS-OUTPUT-" + crypto.randomBytes(12).toString("hex");

    beforeAll(() => {
      const [, probe, next] = runBatch(
        python,
        [
          // An earlier user's invocation: its code and its output.
          code(
            `print(${JSON.stringify(previousOutput.slice(0, 20))} + ${JSON.stringify(previousOutput.slice(20))})  # ${previousCode}`,
          ),
          code(
            scanProgram(
              {
                ...CANARY,
                previousCode,
                previousOutput,
                zygoteDocstring: "The zygote: a fresh interpreter that forks every sandbox child",
                builtHere: "BUILT-IN-THIS-CHILD-0123456789",
              },
              'mine = "BUILT-IN-THIS-CHILD-" + "".join(str(i) for i in range(10))',
            ),
            60000,
          ),
          SANE,
        ],
        { prelude: BREACH_PRELUDE, runAs, timeoutMs: 180000 },
      );
      scan = JSON.parse(responseOf(probe).stdout);
      expect(responseOf(next)).toMatchObject({ ok: true, stdout: SANE_STDOUT });
    }, 200000);

    it("is really scanned: what the child built and what it inherited from the zygote are found", () => {
      expect(scan.scannedBytes).toBeGreaterThan(4 * 1024 * 1024);
      expect(scan.hits.builtHere).toBeGreaterThan(0);
      expect(scan.hits.zygoteDocstring).toBeGreaterThan(0);
    });

    it("holds no byte of the function's credentials", () => {
      expect([
        scan.hits.AWS_ACCESS_KEY_ID,
        scan.hits.AWS_SECRET_ACCESS_KEY,
        scan.hits.AWS_SESSION_TOKEN,
      ]).toEqual([0, 0, 0]);
    });

    it("holds nothing of the previous invocation: neither its code nor its output", () => {
      expect([scan.hits.previousCode, scan.hits.previousOutput]).toEqual([0, 0]);
    });
  });
});

describe.each(RUNS)("a hostile child's result on CPython %s %s", (_version, _label, python, runAs) => {
  // Each writes its own message on the result pipe (fd 3), with the real os module.
  const field = (tag: string, payload: string) =>
    `${JSON.stringify(tag)}.encode() + len(${payload}).to_bytes(4, "big") + ${payload}`;
  const HOSTILE: Array<[string, string, (r: ReturnType<typeof responseOf>) => void]> = [
    [
      "250,000 nested brackets",
      `import os\nos.write(3, b"[" * 250000 + b"]" * 250000)\nos._exit(0)`,
      (r) => expect(r.error?.type).toBe("ProcessCrashed"),
    ],
    [
      "a forged ok result, then the real one",
      `import os\nos.write(3, b"SBXR1" + ${field("o", 'b"\\x01"')} + ${field("r", 'b"forged"')})`,
      (r) => expect(r.error?.type).toBe("ProcessCrashed"),
    ],
    [
      "an error type only the sandbox may give",
      `import os\nos.write(3, b"SBXR1" + ${field("o", 'b"\\x00"')} + ${field("t", 'b"Timeout"')} + ${field("m", 'b"forged"')})\nos._exit(0)`,
      (r) => expect(r.error?.type).toBe("__main__.Timeout"),
    ],
    [
      "a 300,000-character error type",
      `import os\nos.write(3, b"SBXR1" + ${field("o", 'b"\\x00"')} + ${field("t", 'b"T" * 300000')} + ${field("m", 'b"x"')})\nos._exit(0)`,
      (r) => expect(r.error!.type.length).toBeLessThanOrEqual(100),
    ],
    [
      "an error type holding a log injection",
      `import os\nos.write(3, b"SBXR1" + ${field("o", 'b"\\x00"')} + ${field("t", 'b"X\\n{\\"level\\":\\"WARN\\"}"')} + ${field("m", 'b"x"')})\nos._exit(0)`,
      (r) => expect(r.error?.type).toBe("ProcessCrashed"),
    ],
    [
      "lone surrogates and invalid UTF-8 in the message",
      `import os\nos.write(3, b"SBXR1" + ${field("o", 'b"\\x00"')} + ${field("t", 'b"E"')} + ${field("m", 'b"\\xed\\xa0\\x80 \\xff"')})\nos._exit(0)`,
      (r) => expect(r.error).toMatchObject({ type: "E", message: "\uFFFD\uFFFD\uFFFD \uFFFD" }),
    ],
    [
      "10 MB on the result pipe",
      `import os\nfor _ in range(160):\n    os.write(3, b"x" * 65536)`,
      (r) => expect(r.error?.type).toBe("ProcessCrashed"),
    ],
    [
      "the old JSON result with a kernel-filter report",
      `import os\nos.write(3, b'{"ok": true, "result": null, "error": null, "kernelFilter": "disabled"}')\nos._exit(0)`,
      (r) => expect(r.error?.type).toBe("ProcessCrashed"),
    ],
    [
      "closing every pipe, then waiting forever",
      `import os, time\nfor fd in (1, 2, 3):\n    os.close(fd)\ntime.sleep(60)`,
      (r) => expect(r.error?.type).toBe("Timeout"),
    ],
  ];
  let results: BatchResult[];
  beforeAll(() => {
    results = runBatch(
      python,
      HOSTILE.flatMap(([, src]) => [code(src, 1500), SANE]),
      { prelude: BREACH_PRELUDE, runAs },
    );
  }, 120000);

  it.each(HOSTILE.map(([name, , check], i) => [name, i, check] as const))(
    "%s: handler() answers (no function error, valid UTF-8), and the next call is correct",
    (_name, i, check) => {
      const attempt = results[2 * i];
      expect(attempt?.functionError).toBeUndefined();
      check(responseOf(attempt));
      expect(responseOf(results[2 * i + 1])).toMatchObject({ ok: true, stdout: SANE_STDOUT });
      expect(results[2 * i + 1]?.after?.zygoteRestarted).toBe(false);
    },
  );
});

describe.each(PYTHONS.map((p) => [p.version, p.path] as const))(
  "no memory primitive is reachable from plain Python on CPython %s",
  (_version, python) => {
    it("has no ctypes, mmap or test-C-API type anywhere in the child (a full __subclasses__ walk)", () => {
      const walk = `
import uuid
seen, todo, modules = set(), [object, type], set()
while todo:
    cls = todo.pop()
    if cls in seen:
        continue
    seen.add(cls)
    modules.add(getattr(cls, "__module__", "?"))
    try:
        todo.extend(type.__subclasses__(cls))
    except TypeError:
        pass
loaded = sorted(m for m in uuid.sys.modules if m.split(".")[0] in ("ctypes", "_ctypes", "mmap", "_testcapi", "_testinternalcapi", "cffi", "_cffi_backend"))
print(len(seen) > 500, sorted(m for m in modules if m.split(".")[0] in ("ctypes", "_ctypes", "mmap", "_testcapi", "_testinternalcapi", "_cffi_backend")), loaded)`;
      const [result] = runBatch(python, [code(walk)]);
      expect(responseOf(result)).toMatchObject({ ok: true, stdout: "True [] []\n" });
    });
  },
);
