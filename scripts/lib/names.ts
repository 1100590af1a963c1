/**
 * The real grammar of every name an operations command hands to a tool or an API. A name that
 * does not fit is refused before any tool runs: a deployment "name" such as
 * `--kubeconfig=/tmp/x` (from a flag, BACKEND_DEPLOYMENT or a stack output) would otherwise
 * reach kubectl as a flag. The commands also put `--` before positional arguments; this is the
 * first of the two locks.
 */
import { DEFAULT_NAMES, NAME_PATTERNS } from "../../contract/names";
import { CliError } from "./cli-error";

interface Rule {
  pattern: RegExp;
  /** What the name must look like, for the error message. */
  grammar: string;
  example: string;
}

export const NAME_RULES = {
  namespace: {
    pattern: NAME_PATTERNS.dnsLabel,
    grammar: "a Kubernetes namespace (DNS-1123 label: lower-case letters, digits and '-', at most 63)",
    example: DEFAULT_NAMES.namespace,
  },
  deployment: {
    pattern: NAME_PATTERNS.dnsSubdomain,
    grammar: "a Kubernetes object name (DNS-1123 subdomain: lower-case letters, digits, '-' and '.')",
    example: DEFAULT_NAMES.deploymentName,
  },
  container: {
    pattern: NAME_PATTERNS.dnsLabel,
    grammar: "a container name (DNS-1123 label)",
    example: DEFAULT_NAMES.containerName,
  },
  functionName: {
    pattern: NAME_PATTERNS.functionName,
    grammar: "a Lambda function name (letters, digits, '-', '_', at most 64) or function ARN",
    example: DEFAULT_NAMES.functionName,
  },
  repositoryName: {
    pattern: NAME_PATTERNS.repositoryName,
    grammar: "an ECR repository name (lower-case letters, digits, '.', '_', '-' and '/')",
    example: DEFAULT_NAMES.repositoryName,
  },
  invokeRoleName: {
    pattern: NAME_PATTERNS.iamRoleName,
    grammar: "an IAM role name (letters, digits and +=,.@_-, at most 64)",
    example: DEFAULT_NAMES.nodeRoleName,
  },
  region: {
    pattern: NAME_PATTERNS.region,
    grammar: "an AWS region",
    example: DEFAULT_NAMES.region,
  },
  stack: {
    pattern: NAME_PATTERNS.stack,
    grammar: "a Pulumi stack name (letters, digits, '-', '_', '.', optionally org/project/stack)",
    example: "prod",
  },
} as const satisfies Record<string, Rule>;

export type NameKind = keyof typeof NAME_RULES;

/** The problem with a name, or undefined when it fits its grammar. */
export function nameProblem(kind: NameKind, value: string): string | undefined {
  const rule = NAME_RULES[kind];
  if (rule.pattern.test(value) && !value.startsWith("-")) return undefined;
  return `must be ${rule.grammar}, like ${rule.example}; got ${JSON.stringify(value)}`;
}

/** The name, or a CliError saying which grammar it breaks. */
export function checkedName(kind: NameKind, value: string, source = kind): string {
  const problem = nameProblem(kind, value);
  if (problem) throw new CliError(`${source} ${problem}`, 2);
  return value;
}

export function kubernetesName(kind: "namespace" | "deployment" | "container", value: string): string {
  return checkedName(kind, value);
}
