/** git, as build:image and rollout ask it: which commit a checkout is at, and what is not committed. */
import { StepFailure } from "../lib/cli-error";
import { failureLine, runTool } from "../lib/run-tool";

export interface GitState {
  commit: string;
  shortCommit: string;
  /** `git status --porcelain` lines: modified, staged or untracked paths. */
  changes: string[];
}

/** The commit and the uncommitted changes of the repository at `dir`. */
export async function gitState(dir: string): Promise<GitState> {
  const head = await runTool("git", ["rev-parse", "HEAD"], { cwd: dir, required: true });
  if (head.code !== 0) {
    throw new StepFailure(
      `${dir} is not a git checkout with a commit (${failureLine(head)})`,
      "build from a clone of the repository (the image tag is its commit): git clone ... && npm run build:image",
    );
  }
  const commit = head.stdout.trim();
  const status = await runTool("git", ["status", "--porcelain"], { cwd: dir, required: true });
  if (status.code !== 0) throw new StepFailure(`git status failed: ${failureLine(status)}`, "git status");
  return {
    commit,
    shortCommit: commit.slice(0, 12),
    changes: status.stdout.split("\n").filter((l) => l.trim() !== ""),
  };
}
