// dev/ensure-test-deps.sh (run by `npm test` first): moto_server comes from PATH, else
// from the project-local .venv, which it creates when missing; without PyPI (as on the
// development machines) it says in one line what to run. python3 is a stand-in whose venv
// has a pip that installs or fails; everything else is real.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT, scratchDir } from "./deploy-harness";

const FAKE_PYTHON = `#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"
  cat > "$3/bin/pip" <<'PIP'
#!/bin/sh
[ "$FAKE_PYPI" = up ] || { echo "ERROR: Could not find a version that satisfies the requirement moto[server]" >&2; exit 1; }
printf '#!/bin/sh\\necho moto\\n' > "$(dirname "$0")/moto_server"
chmod +x "$(dirname "$0")/moto_server"
PIP
  chmod +x "$3/bin/pip"
  exit 0
fi
exec /usr/bin/python3 "$@"
`;

function project(opts: { motoOnPath?: boolean } = {}) {
  const scratch = scratchDir("ensure-deps-");
  fs.mkdirSync(path.join(scratch.dir, "dev"), { recursive: true });
  fs.copyFileSync(
    path.join(ROOT, "dev", "ensure-test-deps.sh"),
    path.join(scratch.dir, "dev", "ensure-test-deps.sh"),
  );
  const bin = path.join(scratch.dir, "bin");
  fs.mkdirSync(bin);
  const tool = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), body, { mode: 0o755 });
  tool("python3", FAKE_PYTHON);
  tool("chromium", "#!/bin/sh\nexit 0\n");
  // Not root, and the other tools present: the script's root-only set-up (apt-get, the
  // sandbox's unprivileged account) stays out of this test.
  tool("id", "#!/bin/sh\necho 1000\n");
  tool("strace", "#!/bin/sh\nexit 0\n");
  tool("aarch64-linux-gnu-gcc", "#!/bin/sh\nexit 0\n");
  if (opts.motoOnPath) tool("moto_server", "#!/bin/sh\nexit 0\n");
  return {
    dir: scratch.dir,
    run: (env: Record<string, string> = {}) =>
      spawnSync("bash", [path.join(scratch.dir, "dev", "ensure-test-deps.sh")], {
        encoding: "utf8",
        env: { PATH: `${bin}:/usr/bin:/bin`, HOME: scratch.dir, ...env },
      }),
    remove: scratch.remove,
  };
}

describe("npm test's first step, ensure-test-deps.sh", () => {
  it("installs moto_server into the project-local .venv when the machine has none", () => {
    const p = project();
    try {
      const run = p.run({ FAKE_PYPI: "up" });
      expect(run.stderr).toContain("installing moto[server] into");
      expect(run.status).toBe(0);
      expect(fs.existsSync(path.join(p.dir, ".venv", "bin", "moto_server"))).toBe(true);
      // The next run finds it there and installs nothing.
      const again = p.run({ FAKE_PYPI: "up" });
      expect(again.status).toBe(0);
      expect(again.stderr).toBe("");
    } finally {
      p.remove();
    }
  });

  it("without PyPI, fails in one line that says what to run (venv or pipx, not the system pip)", () => {
    const p = project();
    try {
      const run = p.run();
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(
        "could not install moto_server into .venv (no PyPI access?); run where PyPI is reachable: python3 -m venv .venv && .venv/bin/pip install 'moto[server]'  (or: pipx install 'moto[server]')",
      );
    } finally {
      p.remove();
    }
  });

  it("uses a moto_server already on PATH and creates nothing", () => {
    const p = project({ motoOnPath: true });
    try {
      const run = p.run();
      expect(run.status).toBe(0);
      expect(fs.existsSync(path.join(p.dir, ".venv"))).toBe(false);
    } finally {
      p.remove();
    }
  });
});
