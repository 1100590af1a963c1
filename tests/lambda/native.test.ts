/**
 * The sandbox's native helper (native/sandbox_kernel.c): the committed builds are exactly
 * what the source builds to, the aarch64 one (what the function runs) is a shared object the
 * Lambda runtime can load, and the helper does what the sandbox relies on.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { supportedPythons } from "./pythons";

const NATIVE = path.join(__dirname, "..", "..", "lambda", "sandbox", "native");
const BUILD = path.join(__dirname, "..", "..", "native", "build.sh");
const COMPILERS = {
  x86_64: os.arch() === "x64" ? "gcc" : "x86_64-linux-gnu-gcc",
  aarch64: os.arch() === "arm64" ? "gcc" : "aarch64-linux-gnu-gcc",
};
const has = (command: string) => {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
const built = (arch: string) => path.join(NATIVE, arch, "_sandbox_kernel.abi3.so");

describe.each(Object.entries(COMPILERS))("the %s build", (arch, compiler) => {
  (has(compiler) ? it : it.skip)(
    `is byte for byte what native/build.sh makes from the source (${compiler})`,
    () => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), "native-build-"));
      try {
        execFileSync("bash", [BUILD, arch], { env: { ...process.env, OUT_DIR: out }, stdio: "pipe" });
        const fresh = fs.readFileSync(path.join(out, arch, "_sandbox_kernel.abi3.so"));
        expect(fresh.equals(fs.readFileSync(built(arch)))).toBe(true);
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
    },
  );

  (has("readelf") ? it : it.skip)(
    "is a shared object that needs only the stable ABI and old glibc symbols (prctl)",
    () => {
      const header = execFileSync("readelf", ["-h", built(arch)], { encoding: "utf8" });
      expect(header).toMatch(/Type:\s+DYN/);
      expect(header).toMatch(
        arch === "aarch64" ? /Machine:\s+AArch64/ : /Machine:\s+Advanced Micro Devices X86-64/,
      );
      const symbols = execFileSync("readelf", ["--dyn-syms", "-W", built(arch)], { encoding: "utf8" });
      const undefinedNames = symbols
        .split("\n")
        .map((line) => line.trim().split(/\s+/))
        .filter((columns) => columns[6] === "UND" && columns[7])
        .map((columns) => columns[7]!.replace(/@.*/, ""))
        .sort();
      const allowed =
        /^(Py\w+|_Py\w+|prctl|__stack_chk_fail|__stack_chk_guard|__cxa_finalize|__gmon_start__|_ITM_\w+)$/;
      expect(undefinedNames.filter((name) => !allowed.test(name))).toEqual([]);
      expect(symbols).toMatch(/FUNC\s+GLOBAL\s+DEFAULT\s+\d+\s+PyInit__sandbox_kernel/);
      const versions = [...symbols.matchAll(/@(GLIBC_[\d.]+)/g)].map((m) => m[1]);
      const newest = arch === "aarch64" ? "GLIBC_2.17" : "GLIBC_2.4";
      for (const version of versions) {
        const [, major, minor] = /GLIBC_(\d+)\.(\d+)/.exec(version!)!.map(Number) as [number, number, number];
        const [, nMajor, nMinor] = /GLIBC_(\d+)\.(\d+)/.exec(newest)!.map(Number) as [number, number, number];
        expect(major * 100 + minor).toBeLessThanOrEqual(nMajor * 100 + nMinor);
      }
    },
  );
});

const host = os.arch() === "x64" ? "x86_64" : "aarch64";
describe.each(supportedPythons().map((p) => [p.version, p.path] as const))(
  `the ${host} helper on CPython %s`,
  (_version, python) => {
    it("loads and installs a filter that the kernel then reports (PR_GET_SECCOMP 0, then 2)", () => {
      const script = `
import importlib.machinery, importlib.util, os, struct, sys
path = ${JSON.stringify(built(host))}
loader = importlib.machinery.ExtensionFileLoader("_sandbox_kernel", path)
spec = importlib.util.spec_from_file_location("_sandbox_kernel", path, loader=loader)
k = importlib.util.module_from_spec(spec); loader.exec_module(k)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    before = k.seccomp_mode()
    k.install_filter(struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000))  # return ALLOW
    os.write(w, f"{before} {k.seccomp_mode()}".encode())
    os._exit(0)
os.waitpid(pid, 0)
print(os.read(r, 100).decode())
try:
    k.install_filter(b"short")
except ValueError as e:
    print("refused:", e)
`;
      expect(execFileSync(python, ["-c", script], { encoding: "utf8" })).toBe(
        "0 2\nrefused: program must be 1 to 4096 packed sock_filter instructions\n",
      );
    });
  },
);
