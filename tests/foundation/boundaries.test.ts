// Where each part may reach: the layout's promises, checked over every import of every
// TypeScript and JavaScript file (TypeScript's own pre-processor finds `import`, `export ...
// from`, `import()` and `require()`). The backend ships alone in its image (backend/ and
// contract/ only), the infrastructure knows no runtime code, tooling never depends on the test
// tree, and contract/ stands on nothing.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

const ROOT = path.join(__dirname, "..", "..");

/** The part a repository path belongs to: its top folder, or the root file's own name. */
function partOf(relative: string): string {
  const [top, ...rest] = relative.split("/");
  return rest.length === 0 ? top!.replace(/\.[cm]?[jt]s$/, "") : top!;
}

/** Which parts each part may import (itself always). Anything not listed is refused. */
const MAY_IMPORT: Record<string, string[]> = {
  contract: [],
  backend: ["contract"],
  components: ["contract"],
  config: ["contract", "components"],
  index: ["contract", "components", "config"],
  scripts: ["contract"],
  dev: ["contract", "backend", "scripts"],
  bench: ["contract", "backend", "dev", "scripts"],
  tests: ["contract", "backend", "components", "config", "index", "scripts", "dev", "bench"],
  "eslint.config": [],
  "jest.config": [],
};

const SOURCE = /\.(ts|js|mjs|cjs)$/;

function projectSources(): string[] {
  return execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
    cwd: ROOT,
    encoding: "utf8",
  })
    .split("\n")
    .filter((file) => SOURCE.test(file) && fs.existsSync(path.join(ROOT, file)));
}

/** The project files `file` imports, as repository paths (packages and node: built-ins left out). */
function projectImports(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles
    .map((imported) => imported.fileName)
    .filter((specifier) => specifier.startsWith("."))
    .map((specifier) => path.relative(ROOT, path.resolve(ROOT, path.dirname(file), specifier)));
}

const sources = projectSources();
const edges = sources.flatMap((file) =>
  projectImports(file).map((target) => ({ file, target, from: partOf(file), to: partOf(target) })),
);

describe("the import boundaries", () => {
  it("finds the imports it checks (the scan itself works)", () => {
    expect(sources.length).toBeGreaterThan(100);
    expect(edges).toContainEqual(
      expect.objectContaining({ file: "index.ts", target: "config", from: "index", to: "config" }),
    );
  });

  it("knows every part of the repository that has code", () => {
    const parts = new Set(sources.map(partOf));
    expect([...parts].filter((part) => !(part in MAY_IMPORT))).toEqual([]);
  });

  it("contract/ imports nothing of the project", () => {
    expect(edges.filter((e) => e.from === "contract" && e.to !== "contract")).toEqual([]);
  });

  it("backend/ imports only backend/ and contract/: nothing of components/, config.ts, index.ts, scripts/, dev/ or tests/", () => {
    expect(edges.filter((e) => e.from === "backend" && !["backend", "contract"].includes(e.to))).toEqual([]);
  });

  it("components/ know no runtime code: nothing of backend/", () => {
    expect(edges.filter((e) => e.from === "components" && e.to === "backend")).toEqual([]);
  });

  it("nothing but tests/ imports tests/", () => {
    expect(edges.filter((e) => e.to === "tests" && e.from !== "tests")).toEqual([]);
  });

  it("the operations commands run tools only through scripts/lib/run-tool.ts (no other process spawning)", () => {
    const spawning = sources
      .filter((file) => file.startsWith("scripts/") && file !== "scripts/lib/run-tool.ts")
      .filter((file) =>
        ts
          .preProcessFile(fs.readFileSync(path.join(ROOT, file), "utf8"), true, true)
          .importedFiles.some((imported) =>
            ["node:child_process", "child_process", "zx"].includes(imported.fileName),
          ),
      );
    expect(spawning).toEqual([]);
  });

  it("every part imports only what the layout allows it", () => {
    const refused = edges.filter((e) => e.from !== e.to && !(MAY_IMPORT[e.from] ?? []).includes(e.to));
    expect(refused.map((e) => `${e.file} -> ${e.target}`)).toEqual([]);
  });
});
