/**
 * The default names of everything a stack creates and the operations commands act on
 * (CONTRACT sections 1-3): the Pulumi program names its resources so, and a command that is
 * given no name (flag, environment, stack output) uses these.
 */
export const DEFAULT_NAMES = {
  /** The sandbox Lambda. */
  functionName: "co-intelligence-code-executor",
  /** The backend image's ECR repository. */
  repositoryName: "co-intelligence-backend",
  /** The EKS nodes' IAM role: the invoke role of the original setup (`node-role` access). */
  nodeRoleName: "co-intelligence-eks-node-role",
  /** The backend's Kubernetes namespace (the original setup's was `default`). */
  namespace: "co-intelligence",
  /** The backend's Deployment, Service and their kin. */
  deploymentName: "backend",
  /** The backend's service account. */
  serviceAccountName: "backend",
  /** The Deployment's one container. */
  containerName: "backend",
  /** The AWS region when none is configured. */
  region: "us-east-1",
} as const;

/** `GEMINI_MODEL`'s default: a current Gemini Flash model (the name the installed @google/genai 3 docs use). */
export const DEFAULT_GEMINI_MODEL = "gemini-3.8-flash";

/**
 * The real grammar of each kind of name, as the service that owns it defines it: the stack
 * config refuses a name that does not fit, and the operations commands refuse one before any
 * tool sees it (a "name" like `--kubeconfig=/tmp/x` would otherwise reach kubectl as a flag).
 */
export const NAME_PATTERNS = {
  /** Kubernetes DNS-1123 label: namespaces, service accounts, container names. */
  dnsLabel: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
  /** Kubernetes DNS-1123 subdomain: deployment names. */
  dnsSubdomain: /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
  /** Lambda's FunctionName: a name, or a function ARN (optionally qualified). */
  functionName:
    /^(arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d:\d{12}:function:)?[a-zA-Z0-9_-]{1,64}(:(\$LATEST|[a-zA-Z0-9_-]{1,128}))?$/,
  /** An ECR repository name. */
  repositoryName: /^(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/,
  /** An IAM role name. */
  iamRoleName: /^[\w+=,.@-]{1,64}$/,
  /** An AWS region. */
  region: /^[a-z]{2}(-[a-z]+)+-\d$/,
  /** A Pulumi stack name, optionally qualified as org/stack or org/project/stack. */
  stack: /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){0,2}$/,
} as const;
