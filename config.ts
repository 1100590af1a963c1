// The stack configuration: every `co-intelligence:*` key (and `aws:region`) parsed once,
// here, into a typed object. A missing or wrong value fails the whole program with a message
// that names the key and the command that fixes it; nothing below index.ts re-reads config.
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_GEMINI_MODEL } from "./backend/config";
import { DEFAULT_ALLOWED_MODULES, unvettedModules, VETTED_MODULES } from "./contract/sandbox-modules";

export const ACCESS_MODES = ["pod-identity", "irsa", "node-role"] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];

export { DEFAULT_ALLOWED_MODULES };

/**
 * lambda/sandbox/config.py keeps this much of the function's memory for the Lambda runtime (the
 * handler's process) and the sandbox's zygote, next to user code.
 */
export const SANDBOX_PARENT_RESERVE_MB = 96;

/** Retention values CloudWatch Logs accepts. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

export interface StackConfig {
  project: string;
  stack: string;
  region: string;
  /** Tags every AWS resource carries (component is added per component). */
  tags: { project: string; stack: string };

  sandbox: {
    functionName: string;
    memoryMb: number;
    timeoutSeconds: number;
    allowedModules: string[];
    sandboxTimeoutMs: number;
    maxOutputBytes: number;
    sandboxMemoryMb: number;
    /** Undefined only when the stack says `none` explicitly. */
    reservedConcurrency?: number;
    logRetentionDays: number;
    /** Which VPC flow log records are kept: rejected packets, or every flow. */
    flowLogTraffic: "REJECT" | "ALL";
    /** Existing network instead of the isolated VPC. */
    subnetIds?: string[];
    securityGroupIds?: string[];
    vpcId?: string;
    vpcCidr: string;
    availabilityZoneCount: number;
  };

  access: {
    mode: AccessMode;
    nodeRoleName: string;
  };

  repository: {
    name: string;
    keepImages: number;
  };

  backend: {
    clusterName: string;
    kubeconfig?: pulumi.Output<string>;
    namespace: string;
    serviceAccountName: string;
    /** The running image, `<repository>:<tag>@sha256:<digest>`, recorded by `npm run rollout`. */
    image?: string;
    /** The image before the last rollout: the undo target (`npm run rollout -- --undo`). */
    previousImage?: string;
    geminiModel: string;
    geminiApiKey: pulumi.Output<string>;
    apiToken?: pulumi.Output<string>;
    /** The stack refuses to run without `apiToken` (prod). */
    requireApiToken: boolean;
    codeExecutionEnabled: boolean;
    minReplicas: number;
    maxReplicas: number;
    targetCpuPercent: number;
    /** The way in from outside the cluster, if any. */
    ingress?: IngressConfig;
    /** Namespaces whose pods may reach the backend's HTTP port (NetworkPolicy). */
    allowFromNamespaces: string[];
    /** Address blocks that may reach the backend's HTTP port (NetworkPolicy). */
    allowFromCidrs: string[];
  };
}

export const INGRESS_SCHEMES = ["internal", "internet-facing"] as const;

/** An Ingress for the AWS Load Balancer Controller (an ALB), TLS with an ACM certificate. */
export interface IngressConfig {
  scheme: (typeof INGRESS_SCHEMES)[number];
  host: string;
  certificateArn: string;
  /** Who may connect to the load balancer; empty means the controller's default (anyone). */
  inboundCidrs: string[];
}

/**
 * Keys that hold secrets: a value for one of them in a stack file in plain text (not
 * `secure:`) is refused, because the file is committed and the value would be in git.
 */
export const SECRET_KEYS = ["geminiApiKey", "apiToken", "kubeconfig"] as const;

/** Namespaces the backend must not share: they hold the cluster's own workloads and carry no pod-security labels. */
const SHARED_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

/** Reserved concurrency when the stack says nothing: a ceiling one client cannot lift. */
export const DEFAULT_RESERVED_CONCURRENCY = 20;

/** `<registry>/<name>:<tag>@sha256:<digest>`: what `npm run rollout` records (and the lifecycle policy protects by tag). */
export const IMAGE_REFERENCE =
  /^(?<repository>[a-z0-9]+(?:[.-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)+):(?<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})@(?<digest>sha256:[0-9a-f]{64})$/;

/** Where values come from: Pulumi config in a program, a plain map in tests. */
export interface ConfigSource {
  project: string;
  stack: string;
  /** A plain value by full key (`co-intelligence:clusterName`, `aws:region`). */
  get(key: string): string | undefined;
  /** A secret value by full key. */
  getSecret(key: string): pulumi.Output<string> | undefined;
  /** Whether the stack holds the key encrypted (`secure:` in the stack file). */
  isSecret(key: string): boolean;
}

/**
 * A RunError, so that `pulumi preview`/`up` print the message alone (no program source, no
 * stack trace): the problems are the user's to fix, not a bug.
 */
export class ConfigError extends pulumi.RunError {
  constructor(public readonly problems: string[]) {
    super(`Stack configuration is not valid:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

const NS = "co-intelligence";

/** The source a Pulumi program uses: the current stack's config. */
export function pulumiConfigSource(): ConfigSource {
  const byNamespace = new Map<string, pulumi.Config>();
  const split = (key: string): [pulumi.Config, string] => {
    const at = key.indexOf(":");
    const ns = key.slice(0, at);
    if (!byNamespace.has(ns)) byNamespace.set(ns, new pulumi.Config(ns));
    return [byNamespace.get(ns)!, key.slice(at + 1)];
  };
  return {
    project: pulumi.getProject(),
    stack: pulumi.getStack(),
    get: (key) => {
      const [config, name] = split(key);
      return config.get(name);
    },
    getSecret: (key) => {
      const [config, name] = split(key);
      return config.getSecret(name);
    },
    // The engine hands the program the list of keys it decrypted (PULUMI_CONFIG_SECRET_KEYS).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    isSecret: (key) => (require("@pulumi/pulumi/runtime/config") as RuntimeConfig).isConfigSecret(key),
  };
}

interface RuntimeConfig {
  isConfigSecret(key: string): boolean;
}

/** Parse and validate every key; throws one ConfigError listing every problem found. */
export function loadConfig(source: ConfigSource = pulumiConfigSource()): StackConfig {
  const problems: string[] = [];
  const r = new Reader(source, problems);

  const region = r.raw("aws:region");
  if (region === undefined) {
    problems.push("aws:region is required; set it with: pulumi config set aws:region us-east-1");
  } else if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) {
    problems.push(
      `aws:region must be an AWS region like us-east-1, got ${JSON.stringify(region)}; ` +
        "set it with: pulumi config set aws:region us-east-1",
    );
  }

  // Limits are bounded by what the product needs, not by the platform's maximums: a chat tool
  // that runs for 15 minutes or prints 6 MB is a runaway, and the bounds keep one stack
  // setting from turning the sandbox into a general compute service.
  const memoryMb = r.integer("functionMemoryMb", 512, 512, 3008);
  const sandboxTimeoutMs = r.integer("sandboxTimeoutMs", 30000, 1000, 120_000);
  // The function must outlive the sandbox's own limit so a Timeout is answered, not killed.
  const minTimeoutSeconds = Math.ceil(sandboxTimeoutMs / 1000) + 1;
  const timeoutSeconds = r.integer(
    "functionTimeoutSeconds",
    Math.min(900, Math.ceil(sandboxTimeoutMs / 1000) + 5),
    1,
    Math.ceil(sandboxTimeoutMs / 1000) + 60,
  );
  if (timeoutSeconds < minTimeoutSeconds) {
    problems.push(
      `${NS}:functionTimeoutSeconds must be more than the sandbox limit (${sandboxTimeoutMs} ms), ` +
        `at least ${minTimeoutSeconds}; set it with: pulumi config set ${NS}:functionTimeoutSeconds ${minTimeoutSeconds + 4}`,
    );
  }
  const defaultSandboxMemory = Math.max(64, memoryMb - SANDBOX_PARENT_RESERVE_MB);
  const sandboxMemoryMb = r.integer("sandboxMemoryMb", defaultSandboxMemory, 64, 3008);
  if (sandboxMemoryMb >= memoryMb) {
    problems.push(
      `${NS}:sandboxMemoryMb must be below ${NS}:functionMemoryMb (${memoryMb}): the warm parent ` +
        `needs room too; set it with: pulumi config set ${NS}:sandboxMemoryMb ${defaultSandboxMemory}`,
    );
  }
  // A reservation is also a ceiling: without one, one busy client can take the account's whole
  // Lambda concurrency. `none` is the explicit way out for accounts that cannot reserve any
  // (new accounts with a concurrency limit of 10).
  let reservedConcurrency: number | undefined;
  if (r.raw(`${NS}:reservedConcurrency`) === "none") reservedConcurrency = undefined;
  else {
    reservedConcurrency = r.integer("reservedConcurrency", DEFAULT_RESERVED_CONCURRENCY, 0, 1000);
    if (reservedConcurrency === 0) {
      problems.push(
        `${NS}:reservedConcurrency 0 would disable the function (every invoke is throttled); ` +
          `set a positive number (pulumi config set ${NS}:reservedConcurrency ${DEFAULT_RESERVED_CONCURRENCY}), ` +
          `or none to reserve nothing`,
      );
    }
  }
  const flowLogTraffic = r.string("flowLogTraffic", "REJECT");
  if (flowLogTraffic !== "REJECT" && flowLogTraffic !== "ALL") {
    problems.push(
      `${NS}:flowLogTraffic must be REJECT or ALL, got ${JSON.stringify(flowLogTraffic)}; ` +
        `set it with: pulumi config set ${NS}:flowLogTraffic REJECT`,
    );
  }

  const subnetIds = r.list("subnetIds");
  const securityGroupIds = r.list("securityGroupIds");
  const vpcId = r.raw(`${NS}:vpcId`);
  if (subnetIds && subnetIds.length === 0) {
    problems.push(
      `${NS}:subnetIds is empty; remove it (pulumi config rm ${NS}:subnetIds) for the isolated VPC`,
    );
  }
  if (!subnetIds && (securityGroupIds || vpcId)) {
    problems.push(
      `${NS}:securityGroupIds and ${NS}:vpcId only apply with existing subnets; set them with: ` +
        `pulumi config set --path '${NS}:subnetIds[0]' subnet-...  (or remove them for the isolated VPC)`,
    );
  }
  if (subnetIds && subnetIds.length > 0 && !securityGroupIds && !vpcId) {
    problems.push(
      `${NS}:subnetIds needs ${NS}:vpcId (a closed security group is created there) or ${NS}:securityGroupIds; ` +
        `set it with: pulumi config set ${NS}:vpcId vpc-...`,
    );
  }

  const vpcCidr = r.string("vpcCidr", "10.42.0.0/16");
  if (!/^\d{1,3}\.\d{1,3}\.0\.0\/16$/.test(vpcCidr)) {
    problems.push(
      `${NS}:vpcCidr must be a /16 block like 10.42.0.0/16, got ${JSON.stringify(vpcCidr)}; ` +
        `set it with: pulumi config set ${NS}:vpcCidr 10.42.0.0/16`,
    );
  }

  const logRetentionDays = r.integer("logRetentionDays", 30, 1, 3653);
  if (!LOG_RETENTION_DAYS.includes(logRetentionDays)) {
    problems.push(
      `${NS}:logRetentionDays must be one of ${LOG_RETENTION_DAYS.join(", ")}; ` +
        `set it with: pulumi config set ${NS}:logRetentionDays 30`,
    );
  }

  const mode = r.string("accessMode", "pod-identity");
  if (!(ACCESS_MODES as readonly string[]).includes(mode)) {
    problems.push(
      `${NS}:accessMode must be one of ${ACCESS_MODES.join(", ")}, got ${JSON.stringify(mode)}; ` +
        `set it with: pulumi config set ${NS}:accessMode irsa`,
    );
  }

  const clusterName = r.raw(`${NS}:clusterName`);
  if (clusterName === undefined || clusterName.trim() === "") {
    problems.push(
      `${NS}:clusterName is required (the existing EKS cluster that runs the backend); ` +
        `set it with: pulumi config set ${NS}:clusterName <name>`,
    );
  }

  for (const key of SECRET_KEYS) {
    const fullKey = `${NS}:${key}`;
    if (source.get(fullKey) !== undefined && !source.isSecret(fullKey)) {
      problems.push(
        `${fullKey} is stored in plain text in the stack file (anyone with the repository can read it); ` +
          `remove it and set it encrypted: pulumi config rm ${fullKey} && pulumi config set --secret ${fullKey} <value>`,
      );
    }
  }

  const geminiApiKey = source.getSecret(`${NS}:geminiApiKey`);
  if (geminiApiKey === undefined) {
    problems.push(
      `${NS}:geminiApiKey is required (the backend's Gemini API key, stored encrypted); ` +
        `set it with: pulumi config set --secret ${NS}:geminiApiKey <key>`,
    );
  }

  const apiToken = source.getSecret(`${NS}:apiToken`);
  const requireApiToken = r.boolean("requireApiToken", false);
  if (requireApiToken && apiToken === undefined) {
    problems.push(
      `${NS}:apiToken is required on this stack (requireApiToken: /api/execute runs code for anyone who reaches ` +
        `the Service); set it with: pulumi config set --secret ${NS}:apiToken "$(openssl rand -hex 32)"`,
    );
  }

  const minReplicas = r.integer("minReplicas", 2, 2, 20);
  const maxReplicas = r.integer("maxReplicas", 4, 1, 50);
  if (maxReplicas < minReplicas) {
    problems.push(
      `${NS}:maxReplicas (${maxReplicas}) must be at least ${NS}:minReplicas (${minReplicas}); ` +
        `set it with: pulumi config set ${NS}:maxReplicas ${minReplicas}`,
    );
  }

  const namespace = r.string("namespace", "co-intelligence");
  const serviceAccountName = r.string("serviceAccountName", "backend");
  for (const [key, value] of [
    ["namespace", namespace],
    ["serviceAccountName", serviceAccountName],
  ] as const) {
    if (!DNS_LABEL.test(value)) {
      problems.push(
        `${NS}:${key} must be a Kubernetes name (lower-case letters, digits, '-'), got ${JSON.stringify(value)}; ` +
          `set it with: pulumi config set ${NS}:${key} ${key === "namespace" ? "co-intelligence" : "backend"}`,
      );
    }
  }
  if (SHARED_NAMESPACES.includes(namespace)) {
    problems.push(
      `${NS}:namespace ${namespace} is shared with other workloads and has no pod-security labels the program ` +
        `may set; use a namespace of its own (created with Pod Security "restricted" enforced): ` +
        `pulumi config set ${NS}:namespace co-intelligence`,
    );
  }

  const image = r.raw(`${NS}:image`);
  const previousImage = r.raw(`${NS}:previousImage`);
  for (const [key, value] of [
    ["image", image],
    ["previousImage", previousImage],
  ] as const) {
    if (value !== undefined && !IMAGE_REFERENCE.test(value)) {
      problems.push(
        `${NS}:${key} must be an image by tag and digest, <repositoryUrl>:<tag>@sha256:<64 hex>, got ` +
          `${JSON.stringify(value)}; npm run rollout sets it, by hand: pulumi config set ${NS}:${key} <repositoryUrl>:<tag>@sha256:<digest>`,
      );
    }
  }

  const ingress = readIngress(r, region, problems);
  const allowFromNamespaces = r.list("allowFromNamespaces") ?? [];
  for (const name of allowFromNamespaces) {
    if (!DNS_LABEL.test(name)) {
      problems.push(
        `${NS}:allowFromNamespaces must hold Kubernetes namespace names, got ${JSON.stringify(name)}; ` +
          `set it with: pulumi config set --path '${NS}:allowFromNamespaces[0]' ingress-nginx`,
      );
    }
  }
  const allowFromCidrs = r.list("allowFromCidrs") ?? [];
  for (const cidr of allowFromCidrs) {
    if (!isCidr(cidr)) {
      problems.push(
        `${NS}:allowFromCidrs must hold address blocks like 10.0.0.0/16, got ${JSON.stringify(cidr)}; ` +
          `set it with: pulumi config set --path '${NS}:allowFromCidrs[0]' 10.0.0.0/16`,
      );
    }
  }

  const config: StackConfig = {
    project: source.project,
    stack: source.stack,
    region: region ?? "",
    tags: { project: source.project, stack: source.stack },
    sandbox: {
      functionName: r.string("functionName", "co-intelligence-code-executor"),
      memoryMb,
      timeoutSeconds,
      allowedModules: r.allowedModules(),
      sandboxTimeoutMs,
      maxOutputBytes: r.integer("sandboxMaxOutputBytes", 65536, 1024, 1024 * 1024),
      sandboxMemoryMb,
      reservedConcurrency,
      logRetentionDays,
      flowLogTraffic: flowLogTraffic === "ALL" ? "ALL" : "REJECT",
      subnetIds,
      securityGroupIds,
      vpcId,
      vpcCidr,
      availabilityZoneCount: r.integer("availabilityZoneCount", 2, 2, 6),
    },
    access: {
      mode: mode as AccessMode,
      nodeRoleName: r.string("nodeRoleName", "co-intelligence-eks-node-role"),
    },
    repository: {
      name: r.string("repositoryName", "co-intelligence-backend"),
      keepImages: r.integer("keepImages", 20, 5, 200),
    },
    backend: {
      clusterName: clusterName ?? "",
      kubeconfig: source.getSecret(`${NS}:kubeconfig`),
      namespace,
      serviceAccountName,
      image,
      previousImage,
      geminiModel: r.string("geminiModel", DEFAULT_GEMINI_MODEL),
      geminiApiKey: geminiApiKey ?? pulumi.output(""),
      apiToken,
      requireApiToken,
      codeExecutionEnabled: r.boolean("codeExecutionEnabled", true),
      minReplicas,
      maxReplicas,
      targetCpuPercent: r.integer("targetCpuPercent", 70, 30, 90),
      ingress,
      allowFromNamespaces,
      allowFromCidrs,
    },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** A Kubernetes DNS-1123 label: namespaces, service accounts. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** An IPv4 block `a.b.c.d/n` with every part in range. */
function isCidr(text: string): boolean {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  return match !== null && match.slice(1, 5).every((part) => Number(part) <= 255) && Number(match[5]) <= 32;
}

/** `ingress` (none, internal, internet-facing) and what an ALB with TLS needs. */
function readIngress(r: Reader, region: string | undefined, problems: string[]): IngressConfig | undefined {
  const scheme = r.string("ingress", "none");
  const host = r.raw(`${NS}:ingressHost`);
  const certificateArn = r.raw(`${NS}:certificateArn`);
  const inboundCidrs = r.list("ingressInboundCidrs") ?? [];
  if (scheme === "none") return undefined;
  if (!(INGRESS_SCHEMES as readonly string[]).includes(scheme)) {
    problems.push(
      `${NS}:ingress must be none, internal or internet-facing, got ${JSON.stringify(scheme)}; ` +
        `set it with: pulumi config set ${NS}:ingress internal`,
    );
    return undefined;
  }
  if (host === undefined || !/^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(host)) {
    problems.push(
      `${NS}:ingressHost must be the chat's DNS name (the ACM certificate's), got ${JSON.stringify(host ?? "")}; ` +
        `set it with: pulumi config set ${NS}:ingressHost chat.example.com`,
    );
  }
  // The load balancer takes certificates from ACM in its own region only.
  const arn = /^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate\/[0-9a-f-]{36}$/.exec(
    certificateArn ?? "",
  );
  if (!arn) {
    problems.push(
      `${NS}:certificateArn must be an ACM certificate ARN for ${host ?? "the host"}, got ${JSON.stringify(certificateArn ?? "")}; ` +
        `set it with: pulumi config set ${NS}:certificateArn arn:aws:acm:<region>:<account>:certificate/<id>`,
    );
  } else if (region !== undefined && arn[1] !== region) {
    problems.push(
      `${NS}:certificateArn is in ${arn[1]}, but a load balancer in ${region} can only use certificates of ${region}; ` +
        `request or import one there, then: pulumi config set ${NS}:certificateArn <arn>`,
    );
  }
  for (const cidr of inboundCidrs) {
    if (!isCidr(cidr)) {
      problems.push(
        `${NS}:ingressInboundCidrs must hold address blocks like 203.0.113.0/24, got ${JSON.stringify(cidr)}; ` +
          `set it with: pulumi config set --path '${NS}:ingressInboundCidrs[0]' 203.0.113.0/24`,
      );
    }
  }
  return {
    scheme: scheme as IngressConfig["scheme"],
    host: host ?? "",
    certificateArn: certificateArn ?? "",
    inboundCidrs,
  };
}

/** Typed reads of `co-intelligence:*` keys; each bad value adds a problem naming its fix. */
class Reader {
  constructor(
    private readonly source: ConfigSource,
    private readonly problems: string[],
  ) {}

  raw(fullKey: string): string | undefined {
    const value = this.source.get(fullKey);
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  }

  string(key: string, fallback: string): string {
    return this.raw(`${NS}:${key}`) ?? fallback;
  }

  integer(key: string, fallback: number, min: number, max: number): number {
    const text = this.raw(`${NS}:${key}`);
    if (text === undefined) return fallback;
    const value = /^-?\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      this.problems.push(
        `${NS}:${key} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}; ` +
          `set it with: pulumi config set ${NS}:${key} ${fallback}`,
      );
      return fallback;
    }
    return value;
  }

  boolean(key: string, fallback: boolean): boolean {
    const text = this.raw(`${NS}:${key}`);
    if (text === undefined) return fallback;
    if (text === "true" || text === "false") return text === "true";
    this.problems.push(
      `${NS}:${key} must be true or false, got ${JSON.stringify(text)}; ` +
        `set it with: pulumi config set ${NS}:${key} ${fallback}`,
    );
    return fallback;
  }

  /** A YAML list (Pulumi hands it over as a JSON array) or a comma-separated string. */
  list(key: string): string[] | undefined {
    const text = this.raw(`${NS}:${key}`);
    if (text === undefined) return undefined;
    if (text.startsWith("[")) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (Array.isArray(parsed) && parsed.every((item) => typeof item === "string")) {
          return parsed.map((item) => item.trim()).filter((item) => item !== "");
        }
      } catch {
        // falls through to the problem below
      }
      this.problems.push(
        `${NS}:${key} must be a list of strings; set it with: pulumi config set --path '${NS}:${key}[0]' <value>`,
      );
      return undefined;
    }
    return text
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== "");
  }

  allowedModules(): string[] {
    const names = this.list("allowedModules");
    if (names === undefined) return [...DEFAULT_ALLOWED_MODULES];
    const fix = `set it with: pulumi config set ${NS}:allowedModules math,json,re`;
    if (names.length === 0) {
      this.problems.push(`${NS}:allowedModules is empty; ${fix}`);
    }
    const bad = names.filter((name) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name));
    if (bad.length > 0) {
      this.problems.push(
        `${NS}:allowedModules must hold top-level module names, got ${bad.map((b) => JSON.stringify(b)).join(", ")}; ${fix}`,
      );
    }
    const refused = unvettedModules(names);
    if (refused.length > 0) {
      this.problems.push(
        `${NS}:allowedModules may only name vetted modules (they compute without files, network, processes ` +
          `or interpreter internals), got ${refused.join(", ")}; vetted: ${Object.keys(VETTED_MODULES).join(", ")}; ${fix}`,
      );
    }
    return [...new Set(names)];
  }
}
