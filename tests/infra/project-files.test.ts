// Pulumi.yaml and stacks/Pulumi.*.yaml read the way the Pulumi CLI reads them, before any
// program runs: a strict YAML 1.2 parser (the CLI's is Go's yaml.v3), Pulumi's rules for a
// project file and its stack files, and this program's own config schema (every key a stack
// file sets is one the program reads, with a value it accepts).
import * as fs from "node:fs";
import * as path from "node:path";
import { parseDocument } from "yaml";
import * as pulumi from "@pulumi/pulumi";
import { ConfigSource, SECRET_KEYS, loadConfig } from "../../config";

const ROOT = path.join(__dirname, "..", "..");
const STACK_DIR = path.join(ROOT, "stacks");
const stackFiles = fs.readdirSync(STACK_DIR).filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f));

/**
 * Parses YAML as strictly as the spec allows: YAML 1.2, duplicate keys refused, every error
 * and every warning fatal. Also refuses a scalar whose meaning differs under YAML 1.1 (yes,
 * on, 0755, 1:20...), which some YAML libraries still apply.
 */
export function parseStrict(text: string, file: string): unknown {
  const options = { version: "1.2", strict: true, uniqueKeys: true, prettyErrors: true } as const;
  const doc = parseDocument(text, options);
  const problems = [...doc.errors, ...doc.warnings].map((e) => e.message);
  if (problems.length > 0) throw new Error(`${file}: ${problems.join("; ")}`);
  const asYaml11 = parseDocument(text, { ...options, version: "1.1" }).toJS();
  const value = doc.toJS();
  if (JSON.stringify(asYaml11) !== JSON.stringify(value))
    throw new Error(`${file}: a scalar means something else under YAML 1.1; quote it`);
  return value;
}

const read = (file: string) => parseStrict(fs.readFileSync(file, "utf8"), path.relative(ROOT, file));

describe("the strict YAML reading itself", () => {
  it("refuses the plain scalar with ': ' that broke Pulumi.yaml (yaml.v3: mapping values are not allowed)", () => {
    expect(() => parseStrict("name: x\ndescription: Code execution: the sandbox\n", "t")).toThrow(/t:/);
  });

  it("refuses duplicate keys, tabs for indentation and YAML 1.1 booleans", () => {
    expect(() => parseStrict("a: 1\na: 2\n", "dup")).toThrow(/dup/);
    expect(() => parseStrict("a:\n\tb: 1\n", "tab")).toThrow(/tab/);
    expect(() => parseStrict("enabled: yes\n", "yes")).toThrow(/YAML 1.1/);
  });
});

describe("Pulumi.yaml (the project file)", () => {
  const project = read(path.join(ROOT, "Pulumi.yaml")) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const KNOWN = [
    "name",
    "description",
    "author",
    "website",
    "license",
    "runtime",
    "main",
    "config",
    "stackConfigDir",
    "backend",
    "options",
    "template",
    "plugins",
  ];

  it("names the project as the program's config namespace, in Pulumi's name grammar", () => {
    expect(project.name).toMatch(/^[A-Za-z0-9_.-]{1,100}$/);
    expect(project.name).toBe("co-intelligence");
    expect(typeof project.description).toBe("string");
  });

  it("runs index.ts with the Node.js runtime and TypeScript: package.json's main, which the host runs when the project file names none", () => {
    expect(project.runtime).toEqual({ name: "nodejs", options: { typescript: true } });
    expect(project.main).toBeUndefined();
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { main?: string };
    expect(pkg.main).toBe("index.ts");
    expect(fs.statSync(path.join(ROOT, pkg.main!)).isFile()).toBe(true);
  });

  it("keeps stack files in stacks/, which exists", () => {
    expect(project.stackConfigDir).toBe("stacks");
    expect(fs.statSync(path.join(ROOT, project.stackConfigDir)).isDirectory()).toBe(true);
  });

  it("has only keys of Pulumi's project schema", () => {
    expect(Object.keys(project).filter((k) => !KNOWN.includes(k))).toEqual([]);
  });
});

describe.each(stackFiles)("stacks/%s", (file) => {
  const stack = /^Pulumi\.(.+)\.yaml$/.exec(file)![1]!;
  const parsed = read(path.join(STACK_DIR, file)) as { config?: Record<string, unknown> };
  const config = parsed.config ?? {};

  it("has only the top-level keys of a Pulumi stack file", () => {
    const known = ["config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"];
    expect(Object.keys(parsed).filter((k) => !known.includes(k))).toEqual([]);
  });

  it("names every key <namespace>:<name>, in the project's namespace or the AWS provider's", () => {
    for (const key of Object.keys(config)) {
      expect({ key, form: /^[a-z][a-z0-9-]*:[A-Za-z][A-Za-z0-9_]*$/.test(key) }).toEqual({ key, form: true });
      expect(["co-intelligence", "aws"]).toContain(key.split(":")[0]);
    }
  });

  it("holds no secret in plain text (only `secure:` values)", () => {
    for (const name of SECRET_KEYS) {
      const value = config[`co-intelligence:${name}`];
      if (value !== undefined) expect(value).toEqual({ secure: expect.any(String) });
    }
  });

  it("sets only keys the program reads, with values it accepts", () => {
    const read = new Set<string>();
    const values: Record<string, string> = {};
    for (const [key, value] of Object.entries(config)) {
      // The CLI hands structured values (lists) to the program as JSON, scalars as strings.
      values[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
    const secrets: Record<string, string> = {
      "co-intelligence:geminiApiKey": "k",
      "co-intelligence:apiToken": "t",
    };
    const source: ConfigSource = {
      project: "co-intelligence",
      stack,
      get: (key) => {
        read.add(key);
        return values[key] ?? secrets[key];
      },
      getSecret: (key) => {
        read.add(key);
        return secrets[key] === undefined ? undefined : pulumi.secret(secrets[key]);
      },
      isSecret: (key) => key in secrets,
    };
    expect(() => loadConfig(source)).not.toThrow();
    expect(Object.keys(config).filter((key) => !read.has(key))).toEqual([]);
  });
});

it("there are dev and prod stack files", () => {
  expect(stackFiles.sort()).toEqual(["Pulumi.dev.yaml", "Pulumi.prod.yaml"]);
});
