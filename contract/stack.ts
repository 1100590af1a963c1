/**
 * What the Pulumi stack and the operations commands share: the config namespace, the two keys
 * `npm run rollout` writes (the image the backend runs and its undo target, in the format
 * the stack config accepts), and the names of the stack outputs the commands read with
 * `--stack`. index.ts exports exactly these outputs (the compiler checks it).
 */

/** The project's config namespace: every key is `co-intelligence:<name>` (Pulumi.yaml's `name`). */
export const CONFIG_NAMESPACE = "co-intelligence";

/** `co-intelligence:<name>`. */
export function configKey(name: string): string {
  return `${CONFIG_NAMESPACE}:${name}`;
}

/** The image keys rollout records and the program reads. */
export const IMAGE_CONFIG_KEYS = {
  /** The image the Deployment runs. */
  image: configKey("image"),
  /** The image before the last rollout: the undo target. */
  previousImage: configKey("previousImage"),
} as const;

/**
 * An image as rollout records it, `<registry>/<name>:<tag>@sha256:<digest>`: the digest pins
 * what runs, the tag is what the repository's lifecycle policy protects.
 */
export const IMAGE_REFERENCE =
  /^(?<repository>[a-z0-9]+(?:[.-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)+):(?<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})@(?<digest>sha256:[0-9a-f]{64})$/;

/** The stack outputs (`pulumi stack output --json`), every one index.ts exports. */
export const STACK_OUTPUT_NAMES = [
  "region",
  "functionName",
  "functionArn",
  "logGroupName",
  "repositoryUrl",
  "repositoryName",
  "namespace",
  "serviceName",
  "deploymentName",
  "accessMode",
  "invokeRoleName",
  "invokeRoleArn",
  "codeExecutionEnabled",
  "modelProvider",
  "modelId",
  "image",
  "previousImage",
  "url",
] as const;

export type StackOutputName = (typeof STACK_OUTPUT_NAMES)[number];
