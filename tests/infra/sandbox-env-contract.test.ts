// The one place the Python sandbox's own copy of the contract (lambda/handler.py,
// lambda/sandbox/config.py and modules.py, run with the real python3) is held against
// contract/: the same vetted modules and default allow-list, the same environment variables,
// defaults, bounds and code limit; and the SANDBOX_* variables the program deploys are ones
// the function accepts.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { DEFAULT_ALLOWED_MODULES, VETTED_MODULES } from "../../contract/sandbox-modules";
import { defaultSandboxMemoryMb, SANDBOX_ENV, SANDBOX_LIMITS } from "../../contract/sandbox";
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

it("uses the contract's defaults: the time limit, the output cap, and the memory left after the parent's reserve", () => {
  for (const functionMb of ["512", "1024", "3008", "128"]) {
    const parsed = sandboxParse({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: functionMb });
    expect({ functionMb, parsed }).toEqual({
      functionMb,
      parsed: expect.objectContaining({
        timeoutMs: SANDBOX_LIMITS.timeoutMs.default,
        maxOutputBytes: SANDBOX_LIMITS.maxOutputBytes.default,
        memoryMb: defaultSandboxMemoryMb(Number(functionMb)),
      }),
    });
  }
});

describe.each([
  ["timeoutMs", SANDBOX_ENV.timeoutMs, SANDBOX_LIMITS.timeoutMs],
  ["maxOutputBytes", SANDBOX_ENV.maxOutputBytes, SANDBOX_LIMITS.maxOutputBytes],
  ["memoryMb", SANDBOX_ENV.memoryMb, SANDBOX_LIMITS.memoryMb],
] as const)("%s (%s)", (field, variable, range) => {
  it("accepts exactly the contract's range, and names the variable when refusing", () => {
    for (const value of [range.min, range.max])
      expect(sandboxParse({ [variable]: String(value) })).toMatchObject({ [field]: value });
    for (const value of [range.min - 1, range.max + 1])
      expect(String(sandboxParse({ [variable]: String(value) }).error)).toContain(variable);
  });
});

it("names the allow-list variable the contract names", () => {
  expect(String(sandboxParse({ [SANDBOX_ENV.allowedModules]: "math,os" }).error)).toContain(
    SANDBOX_ENV.allowedModules,
  );
  expect(sandboxParse({ [SANDBOX_ENV.allowedModules]: "math,re" })).toMatchObject({
    allowed: ["math", "re"],
  });
});

it("takes code up to the contract's limit (handler.MAX_CODE_BYTES)", () => {
  const result = spawnSync(
    "python3",
    [
      "-I",
      "-c",
      [
        "import ast, sys",
        "tree = ast.parse(open(sys.argv[1]).read())",
        "[node] = [n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], 'id', '') == 'MAX_CODE_BYTES']",
        "print(eval(compile(ast.Expression(node.value), 'handler.py', 'eval')))",
      ].join("\n"),
      path.join(LAMBDA_DIR, "handler.py"),
    ],
    { encoding: "utf8", timeout: 20000 },
  );
  expect(result.stderr).toBe("");
  expect(Number(result.stdout)).toBe(SANDBOX_LIMITS.maxCodeBytes);
});
