// The program as the Pulumi CLI would load it (its vendored ts-node 7 with this project's
// TypeScript 5 and tsconfig.json, type-checking on): no CLI exists here, so
// cli-loader.js reproduces its loader in a child process.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { stackConfigWithSecrets } from "./pulumi-harness";

const ROOT = path.join(__dirname, "..", "..");

const IMAGE = `123456789012.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend:1a2b3c4d5e6f@sha256:${"ab".repeat(32)}`;

it("compiles and runs index.ts through the Pulumi CLI's TypeScript loader", () => {
  const { config, secretKeys } = stackConfigWithSecrets("dev");
  const result = spawnSync(
    path.join(ROOT, "node_modules", ".bin", "node"),
    [path.join(__dirname, "cli-loader.js"), ROOT],
    {
      env: {
        ...process.env,
        // A stack that was rolled out once, so the Deployment is part of the graph.
        PROGRAM_CONFIG: JSON.stringify({ ...config, "co-intelligence:image": IMAGE }),
        PROGRAM_SECRET_KEYS: JSON.stringify(secretKeys),
      },
      encoding: "utf8",
      timeout: 50000,
    },
  );
  expect(result.stderr).not.toMatch(/TSError|error TS\d+/);
  expect(result.status).toBe(0);
  const { registered } = JSON.parse(result.stdout.trim().split("\n").pop()!) as { registered: string[] };
  expect(registered).toContain("aws:lambda/function:Function");
  expect(registered).toContain("kubernetes:apps/v1:Deployment");
});
