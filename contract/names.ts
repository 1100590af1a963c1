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
