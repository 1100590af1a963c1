// The SANDBOX_* variables the program gives the function, read by the sandbox's own parser
// (lambda/sandbox/config.py, run with the real python3): what Pulumi deploys is what the
// function accepts, and config.ts and the sandbox vet the same modules.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { DEFAULT_ALLOWED_MODULES, VETTED_MODULES } from "../../contract/sandbox-modules";
import { oneOf, runPulumi, stackConfigWithSecrets } from "./pulumi-harness";

const LAMBDA_DIR = path.join(__dirname, "..", "..", "lambda");

/** Runs lambda/sandbox/config.py's load_config over `env` and returns what it parsed (or its error). */
function sandboxParse(env: Record<string, string>): Record<string, unknown> {
  const script = [
    "import json",
    "from sandbox.config import load_config, ConfigError",
    "from sandbox.modules import VETTED_MODULES, DEFAULT_ALLOWED_MODULES",
    "try:",
    "    c = load_config()",
    "    print(json.dumps({'allowed': list(c.allowed_modules), 'timeoutMs': c.timeout_ms,",
    "        'maxOutputBytes': c.max_output_bytes, 'memoryMb': c.memory_mb, 'vetted': VETTED_MODULES, 'defaults': list(DEFAULT_ALLOWED_MODULES)}))",
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
    expect(parsed).toMatchObject({ timeoutMs: 30000, maxOutputBytes: 65536, memoryMb: 416 });
    expect(parsed.allowed).toHaveLength(15);
  });
});

it("vets the same modules, for the same reasons, and defaults to the same allow-list as the sandbox", () => {
  const parsed = sandboxParse({});
  expect(VETTED_MODULES).toEqual(parsed.vetted);
  expect([...DEFAULT_ALLOWED_MODULES]).toEqual(parsed.defaults);
});
