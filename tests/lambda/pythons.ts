/** Every CPython 3.11+ on this machine: python3 and the pyenv versions, deduplicated by version. */
import { execFileSync } from "node:child_process";
import fs from "node:fs";

export interface Python {
  path: string;
  version: string;
}

function versionOf(path: string): string | undefined {
  try {
    return execFileSync(path, ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"], {
      encoding: "utf8",
    }).trim();
  } catch {
    return undefined;
  }
}

export function supportedPythons(): Python[] {
  const candidates = ["python3"];
  const pyenv = "/root/.pyenv/versions";
  if (fs.existsSync(pyenv)) {
    for (const dir of fs.readdirSync(pyenv).sort()) {
      if (/^3\.(1[1-9]|[2-9]\d)\./.test(dir)) candidates.push(`${pyenv}/${dir}/bin/python`);
    }
  }
  const seen = new Map<string, Python>();
  for (const path of candidates) {
    const version = versionOf(path);
    if (!version) continue;
    const [major, minor] = version.split(".").map(Number) as [number, number];
    if (major === 3 && minor >= 11 && !seen.has(version)) seen.set(version, { path, version });
  }
  if (seen.size === 0) throw new Error("no CPython 3.11+ found: install python3 3.11 or later");
  return [...seen.values()];
}
