// The SANDBOX_* variables the program gives the function, read by the sandbox's own parser
// (lambda/sandbox/config.py, run with the real python3): what Pulumi deploys is what the
// function accepts, and config.ts refuses exactly the modules the sandbox refuses.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { FORBIDDEN_MODULES } from "../../config";
import { oneOf, runPulumi, stackConfigWithSecrets } from "./pulumi-harness";

const LAMBDA_DIR = path.join(__dirname, "..", "..", "lambda");

/** Runs lambda/sandbox/config.py's load_config over `env` and returns what it parsed (or its error). */
function sandboxParse(env: Record<string, string>): Record<string, unknown> {
  const script = [
    "import json",
    "from sandbox.config import load_config, ConfigError, FORBIDDEN_MODULES",
    "try:",
    "    c = load_config()",
    "    print(json.dumps({'allowed': list(c.allowed_modules), 'timeoutMs': c.timeout_ms,",
    "        'maxOutputBytes': c.max_output_bytes, 'memoryMb': c.memory_mb, 'forbidden': sorted(FORBIDDEN_MODULES)}))",
    "except ConfigError as e:",
    "    print(json.dumps({'error': str(e)}))",
  ].join("\n");
  const result = spawnSync(
    "python3",
    ["-I", "-c", `import sys; sys.path.insert(0, ${JSON.stringify(LAMBDA_DIR)})\n${script}`],
    {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "512", ...env },
      encoding: "utf8",
      timeout: 20000,
    },
  );
  if (result.status !== 0) throw new Error(`python3 failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

describe.each(["dev", "prod"])("the %s stack's function environment", (stack) => {
  it("is accepted by the sandbox's own parser with the contract's values", async () => {
    const { config, secretKeys } = stackConfigWithSecrets(stack);
    const { resources } = await runPulumi({
      stack,
      config,
      secretKeys,
      program: () => require("../../index"), // eslint-disable-line @typescript-eslint/no-require-imports
    });
    const env = oneOf(resources, "aws:lambda/function:Function").inputs.environment.variables as Record<
      string,
      string
    >;
    const parsed = sandboxParse(env);
    expect(parsed.error).toBeUndefined();
    expect(parsed).toMatchObject({ timeoutMs: 30000, maxOutputBytes: 65536, memoryMb: 448 });
    expect(parsed.allowed).toHaveLength(15);
  });
});

it("refuses the same dangerous modules as the sandbox", () => {
  expect([...FORBIDDEN_MODULES].sort()).toEqual(sandboxParse({}).forbidden);
});
