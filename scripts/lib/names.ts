/**
 * The real grammar of every name an operations command hands to a tool or an API. A name that
 * does not fit is refused before any tool runs: a deployment "name" such as
 * `--kubeconfig=/tmp/x` (from a flag, BACKEND_DEPLOYMENT or a stack output) would otherwise
 * reach kubectl as a flag. The commands also put `--` before positional arguments; this is the
 * first of the two locks.
 */
import { CliError } from "./cli-error";

interface Rule {
  pattern: RegExp;
  /** What the name must look like, for the error message. */
  grammar: string;
  example: string;
}

/** DNS-1123 label: namespaces, container names. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** DNS-1123 subdomain: deployment names. */
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const NAME_RULES = {
  namespace: {
    pattern: DNS_LABEL,
    grammar: "a Kubernetes namespace (DNS-1123 label: lower-case letters, digits and '-', at most 63)",
    example: "co-intelligence",
  },
  deployment: {
    pattern: DNS_SUBDOMAIN,
    grammar: "a Kubernetes object name (DNS-1123 subdomain: lower-case letters, digits, '-' and '.')",
    example: "backend",
  },
  container: {
    pattern: DNS_LABEL,
    grammar: "a container name (DNS-1123 label)",
    example: "backend",
  },
  functionName: {
    // Lambda's own pattern for FunctionName: a name, or a function ARN (optionally qualified).
    pattern:
      /^(arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d:\d{12}:function:)?[a-zA-Z0-9_-]{1,64}(:(\$LATEST|[a-zA-Z0-9_-]{1,128}))?$/,
    grammar: "a Lambda function name (letters, digits, '-', '_', at most 64) or function ARN",
    example: "co-intelligence-code-executor",
  },
  repositoryName: {
    pattern: /^(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/,
    grammar: "an ECR repository name (lower-case letters, digits, '.', '_', '-' and '/')",
    example: "co-intelligence-backend",
  },
  invokeRoleName: {
    pattern: /^[\w+=,.@-]{1,64}$/,
    grammar: "an IAM role name (letters, digits and +=,.@_-, at most 64)",
    example: "co-intelligence-eks-node-role",
  },
  region: {
    pattern: /^[a-z]{2}(-[a-z]+)+-\d$/,
    grammar: "an AWS region",
    example: "us-east-1",
  },
  stack: {
    // Pulumi: a stack name, optionally qualified as org/stack or org/project/stack.
    pattern: /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){0,2}$/,
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
