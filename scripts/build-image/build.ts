/**
 * `build:image`: the backend image, tagged with the git commit it was built from, so the tag
 * alone says what code runs. A dirty tree is refused (its image would claim a commit it does
 * not contain) unless the caller says so; then the tag says so too.
 */
import { START_DOCKER_FIX, docker, dockerDaemonDown } from "../adapters/docker";
import { gitState, type GitState } from "../adapters/git";
import { StepFailure } from "../lib/cli-error";
import { failureLine, tail } from "../lib/run-tool";

export const DOCKERFILE = "backend/Dockerfile";

export interface BuildOptions {
  /** Repository root: the build context and where git is asked. */
  context: string;
  /** Image name without tag: the repository URL when known, else the repository name. */
  imageName: string;
  allowDirty: boolean;
  /** Echo docker's output (progress). */
  echo?: (chunk: string) => void;
  /** Clock for the dirty tag (tests). */
  now?: () => Date;
}

export interface BuildResult {
  image: string;
  tag: string;
  commit: string;
  dirty: boolean;
}

/**
 * The tag for a build: the short commit, or for a dirty tree `<commit>-dirty-<UTC time>`:
 * ECR tags are immutable, so two dirty builds of one commit must not share a tag.
 */
export function imageTag(state: GitState, dirty: boolean, now: Date): string {
  if (!dirty) return state.shortCommit;
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\..*$/, "").replace("T", "");
  return `${state.shortCommit}-dirty-${stamp}`;
}

export async function buildImage(opts: BuildOptions): Promise<BuildResult> {
  const state = await gitState(opts.context);
  const dirty = state.changes.length > 0;
  if (dirty && !opts.allowDirty) {
    const shown = state.changes.slice(0, 5).map((l) => `  ${l}`);
    if (state.changes.length > 5) shown.push(`  ... and ${state.changes.length - 5} more`);
    throw new StepFailure(
      `the working tree has ${state.changes.length} uncommitted change(s); an image tagged ${state.shortCommit} would not contain that commit`,
      "commit (or remove) the changes and build again, or accept a -dirty tag: npm run build:image -- --allow-dirty",
      shown,
    );
  }
  const tag = imageTag(state, dirty, (opts.now ?? (() => new Date()))());
  const image = `${opts.imageName}:${tag}`;
  const result = await docker(["build", "-f", DOCKERFILE, "-t", image, "--", "."], {
    cwd: opts.context,
    echo: opts.echo,
    timeoutMs: 30 * 60_000,
  });
  if (result.code !== 0 && dockerDaemonDown(result)) {
    throw new StepFailure(`docker build failed: ${failureLine(result)}`, START_DOCKER_FIX);
  }
  if (result.code !== 0) {
    throw new StepFailure(
      `docker build failed: ${failureLine(result)}`,
      `fix the build error above, then: npm run build:image  (reproduce with: docker build -f ${DOCKERFILE} -t ${image} .)`,
      tail(`${result.stdout}\n${result.stderr}`, 15),
    );
  }
  return { image, tag, commit: state.commit, dirty };
}
