// The stack configuration: every `co-intelligence:*` key (and `aws:region`) parsed once, here,
// into the arguments of the components index.ts creates. This file only parses: each
// component owns its defaults and its rules (a pure validator), and this file calls them and
// adds to each problem the `pulumi config` command that fixes it. A missing or wrong value
// fails the whole program with one message listing every problem; nothing below index.ts
// re-reads config.
import * as pulumi from "@pulumi/pulumi";
import { NAME_PATTERNS } from "./contract/names";
import { configKey, IMAGE_CONFIG_KEYS, IMAGE_REFERENCE } from "./contract/stack";
import {
  BACKEND_SERVICE_DEFAULTS,
  INGRESS_SCHEMES,
  resolveModel,
  validateBackendServiceArgs,
  type BackendServiceArgs,
  type IngressArgs,
} from "./components/backend-service";
import type { ProviderId } from "./contract/models";
import {
  IMAGE_REPOSITORY_DEFAULTS,
  validateImageRepositoryArgs,
  type ImageRepositoryArgs,
} from "./components/image-repository";
import {
  INVOKE_ACCESS_DEFAULTS,
  validateInvokeAccessArgs,
  type InvokeAccessMode,
} from "./components/invoke-access";
import {
  resolveSandboxFunctionArgs,
  SANDBOX_FUNCTION_DEFAULTS,
  validateSandboxFunctionArgs,
  type ResolvedSandboxFunctionArgs,
} from "./components/sandbox-function";
import type { BaseTags } from "./components/tags";
import { numberOrUnset, type ArgProblem } from "./components/validation";

/** The backend's settings: its component's arguments, less what index.ts wires from other components. */
export type BackendSettings = Omit<
  BackendServiceArgs,
  "functionName" | "serviceAccountAnnotations" | "waitFor" | "sandboxAllowedModules" | "sandboxTimeoutMs"
> & {
  clusterName: string;
  namespace: string;
  serviceAccountName: string;
  accessMode: InvokeAccessMode;
  allowFromNamespaces: string[];
  allowFromCidrs: string[];
  codeExecutionEnabled: boolean;
};

/** The images `npm run rollout` records, by tag and digest. */
export interface Images {
  /** The image the backend runs. */
  image?: string;
  /** The image before the last rollout: the undo target (`npm run rollout -- --undo`). */
  previousImage?: string;
}

export interface StackConfig {
  project: string;
  stack: string;
  region: string;
  /** Tags every AWS resource carries (component is added per component). */
  tags: BaseTags;
  /** SandboxFunction's arguments, defaults applied. */
  sandbox: ResolvedSandboxFunctionArgs;
  /** InvokeAccess's own settings (index.ts adds the function and the backend's names). */
  access: { mode: InvokeAccessMode; nodeRoleName: string };
  /** ImageRepository's arguments: the running image and its undo target are protected. */
  repository: ImageRepositoryArgs & { name: string; keepImages: number };
  backend: BackendSettings;
  images: Images;
  /** The stack refuses to run without `apiToken` (prod). */
  requireApiToken: boolean;
}

/**
 * Keys that hold secrets: a value for one of them in a stack file in plain text (not
 * `secure:`) is refused, because the file is committed and the value would be in git.
 */
export const SECRET_KEYS = ["geminiApiKey", "openaiApiKey", "apiToken", "kubeconfig"] as const;

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

/** Parse every key and run every component's validator; throws one ConfigError listing every problem. */
export function loadConfig(source: ConfigSource = pulumiConfigSource()): StackConfig {
  const r = new Reader(source);
  const region = readRegion(r);
  const tags = { project: source.project, stack: source.stack };
  const images = readImages(r);
  const config: StackConfig = {
    project: source.project,
    stack: source.stack,
    region: region ?? "",
    tags,
    sandbox: readSandbox(r, tags),
    access: readAccess(r),
    repository: readRepository(r, tags, images),
    backend: readBackend(r, region, images),
    images,
    requireApiToken: readApiTokenRequirement(r),
  };
  readSecretsAreEncrypted(r);
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}

/** `aws:region`: required, and an AWS region. */
function readRegion(r: Reader): string | undefined {
  const region = r.raw("aws:region");
  const fix = "set it with: pulumi config set aws:region us-east-1";
  if (region === undefined) r.problems.push(`aws:region is required; ${fix}`);
  else if (!NAME_PATTERNS.region.test(region))
    r.problems.push(`aws:region must be an AWS region like us-east-1, got ${JSON.stringify(region)}; ${fix}`);
  return region;
}

/** The sandbox function: SandboxFunction's arguments. */
function readSandbox(r: Reader, tags: BaseTags): ResolvedSandboxFunctionArgs {
  const keys = {
    name: "functionName",
    memoryMb: "functionMemoryMb",
    timeoutSeconds: "functionTimeoutSeconds",
    allowedModules: "allowedModules",
    sandboxTimeoutMs: "sandboxTimeoutMs",
    maxOutputBytes: "sandboxMaxOutputBytes",
    sandboxMemoryMb: "sandboxMemoryMb",
    reservedConcurrency: "reservedConcurrency",
    logRetentionDays: "logRetentionDays",
    flowLogTraffic: "flowLogTraffic",
    subnetIds: "subnetIds",
    securityGroupIds: "securityGroupIds",
    vpcId: "vpcId",
    vpcCidr: "vpcCidr",
    availabilityZoneCount: "availabilityZoneCount",
  } as const;
  const reserved = r.string(keys.reservedConcurrency);
  const args = {
    tags,
    name: r.string(keys.name),
    memoryMb: r.integer(keys.memoryMb),
    timeoutSeconds: r.integer(keys.timeoutSeconds),
    allowedModules: r.list(keys.allowedModules, "comma"),
    sandboxTimeoutMs: r.integer(keys.sandboxTimeoutMs),
    maxOutputBytes: r.integer(keys.maxOutputBytes),
    sandboxMemoryMb: r.integer(keys.sandboxMemoryMb),
    // `none` is the explicit way out for accounts that cannot reserve any (new accounts with a
    // concurrency limit of 10).
    reservedConcurrency: reserved === "none" ? ("none" as const) : r.integer(keys.reservedConcurrency),
    logRetentionDays: r.integer(keys.logRetentionDays),
    flowLogTraffic: r.string(keys.flowLogTraffic) as
      ResolvedSandboxFunctionArgs["flowLogTraffic"] | undefined,
    subnetIds: r.list(keys.subnetIds),
    securityGroupIds: r.list(keys.securityGroupIds),
    vpcId: r.string(keys.vpcId),
    vpcCidr: r.string(keys.vpcCidr),
    availabilityZoneCount: r.integer(keys.availabilityZoneCount),
  };
  r.report(validateSandboxFunctionArgs(args, r.nameOf(keys)), keys);
  const d = SANDBOX_FUNCTION_DEFAULTS;
  return resolveSandboxFunctionArgs({
    ...args,
    memoryMb: numberOrUnset(args.memoryMb),
    timeoutSeconds: numberOrUnset(args.timeoutSeconds),
    sandboxTimeoutMs: numberOrUnset(args.sandboxTimeoutMs),
    maxOutputBytes: numberOrUnset(args.maxOutputBytes),
    sandboxMemoryMb: numberOrUnset(args.sandboxMemoryMb),
    reservedConcurrency:
      args.reservedConcurrency === "none" ? "none" : numberOrUnset(args.reservedConcurrency),
    logRetentionDays: numberOrUnset(args.logRetentionDays),
    vpcCidr: args.vpcCidr ?? d.vpcCidr,
    availabilityZoneCount: numberOrUnset(args.availabilityZoneCount) ?? d.availabilityZoneCount,
  });
}

/** Who may invoke the function: InvokeAccess's own settings. */
function readAccess(r: Reader): StackConfig["access"] {
  const keys = { mode: "accessMode", nodeRoleName: "nodeRoleName" } as const;
  const mode = r.string(keys.mode) ?? INVOKE_ACCESS_DEFAULTS.mode;
  r.report(validateInvokeAccessArgs({ mode: mode as InvokeAccessMode }, r.nameOf(keys)), keys);
  return {
    mode: mode as InvokeAccessMode,
    nodeRoleName: r.string(keys.nodeRoleName) ?? INVOKE_ACCESS_DEFAULTS.nodeRoleName,
  };
}

/** The image repository: ImageRepository's arguments; the running image and its undo target are never expired. */
function readRepository(r: Reader, tags: BaseTags, images: Images): StackConfig["repository"] {
  const keys = { name: "repositoryName", keepImages: "keepImages" } as const;
  const keepImages = r.integer(keys.keepImages);
  r.report(validateImageRepositoryArgs({ keepImages }, r.nameOf(keys)), keys);
  return {
    tags,
    name: r.string(keys.name) ?? IMAGE_REPOSITORY_DEFAULTS.name,
    keepImages: numberOrUnset(keepImages) ?? IMAGE_REPOSITORY_DEFAULTS.keepImages,
    protectedTags: [images.image, images.previousImage]
      .map((image) => (image === undefined ? undefined : IMAGE_REFERENCE.exec(image)?.groups?.tag))
      .filter((tag): tag is string => tag !== undefined),
  };
}

/** `image` and `previousImage`, as `npm run rollout` records them: by tag and digest. */
function readImages(r: Reader): Images {
  const images: Images = {};
  for (const [name, key] of Object.entries(IMAGE_CONFIG_KEYS) as [keyof Images, string][]) {
    const value = r.raw(key);
    if (value === undefined) continue;
    if (IMAGE_REFERENCE.test(value)) images[name] = value;
    else
      r.problems.push(
        `${key} must be an image by tag and digest, <repositoryUrl>:<tag>@sha256:<64 hex>, got ` +
          `${JSON.stringify(value)}; npm run rollout sets it, by hand: pulumi config set ${key} <repositoryUrl>:<tag>@sha256:<digest>`,
      );
  }
  return images;
}

/** The backend on the cluster: BackendService's arguments. */
function readBackend(r: Reader, region: string | undefined, images: Images): BackendSettings {
  const keys = {
    namespace: "namespace",
    serviceAccountName: "serviceAccountName",
    minReplicas: "minReplicas",
    maxReplicas: "maxReplicas",
    targetCpuPercent: "targetCpuPercent",
    allowFromNamespaces: "allowFromNamespaces",
    allowFromCidrs: "allowFromCidrs",
    modelProvider: "modelProvider",
    modelId: "modelId",
    geminiModel: "geminiModel",
    openaiBaseUrl: "openaiBaseUrl",
    openaiApiKey: "openaiApiKey",
    codeExecutionEnabled: "codeExecutionEnabled",
    "ingress.scheme": "ingress",
    "ingress.host": "ingressHost",
    "ingress.certificateArn": "certificateArn",
    "ingress.inboundCidrs": "ingressInboundCidrs",
  } as const;
  const d = BACKEND_SERVICE_DEFAULTS;
  const clusterName = r.raw(configKey("clusterName"));
  if (clusterName === undefined)
    r.problems.push(
      `${configKey("clusterName")} is required (the existing EKS cluster that runs the backend); ` +
        `set it with: pulumi config set ${configKey("clusterName")} <name>`,
    );
  const modelProvider = (r.string(keys.modelProvider)?.toLowerCase() ?? d.modelProvider) as ProviderId;
  // Only the chosen provider's key is needed (and stored): Bedrock uses the pods' own role.
  const geminiApiKey = r.source.getSecret(configKey("geminiApiKey"));
  if (modelProvider === "gemini" && geminiApiKey === undefined)
    r.problems.push(
      `${configKey("geminiApiKey")} is required (the backend's Gemini API key, stored encrypted); ` +
        `set it with: pulumi config set --secret ${configKey("geminiApiKey")} <key>   ` +
        `(or choose another provider: pulumi config set ${configKey("modelProvider")} bedrock)`,
    );
  const openaiBaseUrl = r.string(keys.openaiBaseUrl);
  const openaiApiKey = r.source.getSecret(configKey("openaiApiKey"));
  if (
    modelProvider === "openai" &&
    openaiApiKey === undefined &&
    new URL(d.openaiBaseUrl).host === hostOf(openaiBaseUrl ?? d.openaiBaseUrl)
  )
    r.problems.push(
      `${configKey("openaiApiKey")} is required for OpenAI's own API (stored encrypted); set it with: ` +
        `pulumi config set --secret ${configKey("openaiApiKey")} <key>   (or point ${configKey("openaiBaseUrl")} at a server that needs none)`,
    );
  const replicas = {
    minReplicas: r.integer(keys.minReplicas),
    maxReplicas: r.integer(keys.maxReplicas),
    targetCpuPercent: r.integer(keys.targetCpuPercent),
  };
  const settings: BackendSettings = {
    clusterName: clusterName ?? "",
    region: region ?? "",
    kubeconfig: r.source.getSecret(configKey("kubeconfig")),
    namespace: r.string(keys.namespace) ?? d.namespace,
    serviceAccountName: r.string(keys.serviceAccountName) ?? d.serviceAccountName,
    accessMode: (r.string("accessMode") ?? INVOKE_ACCESS_DEFAULTS.mode) as InvokeAccessMode,
    image: images.image,
    modelProvider,
    modelId: r.string(keys.modelId),
    geminiModel: r.string(keys.geminiModel),
    ...(modelProvider === "gemini" ? { geminiApiKey: geminiApiKey ?? pulumi.output("") } : {}),
    ...(modelProvider === "openai"
      ? { ...(openaiBaseUrl ? { openaiBaseUrl } : {}), ...(openaiApiKey ? { openaiApiKey } : {}) }
      : {}),
    apiToken: r.source.getSecret(configKey("apiToken")),
    codeExecutionEnabled: r.boolean(keys.codeExecutionEnabled, d.codeExecutionEnabled),
    minReplicas: numberOrUnset(replicas.minReplicas) ?? d.minReplicas,
    maxReplicas: numberOrUnset(replicas.maxReplicas) ?? d.maxReplicas,
    targetCpuPercent: numberOrUnset(replicas.targetCpuPercent) ?? d.targetCpuPercent,
    ingress: readIngress(r),
    allowFromNamespaces: r.list(keys.allowFromNamespaces) ?? [],
    allowFromCidrs: r.list(keys.allowFromCidrs) ?? [],
  };
  r.report(validateBackendServiceArgs({ ...settings, ...replicas, region }, r.nameOf(keys)), keys);
  // The model, defaults applied, is written into the backend's environment and (Bedrock) its
  // role's permission, so both name the same model whatever the backend's own default becomes.
  const model = resolveModel({ ...settings, region: region ?? "" });
  return { ...settings, ...(model.modelId ? { modelId: model.modelId } : {}) };
}

/** The host of a URL, or "" when it is not one (its validator reports that). */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "";
  }
}

/** `requireApiToken`: the stack refuses to run without `apiToken` (prod: /api/execute runs code for anyone who reaches it). */
function readApiTokenRequirement(r: Reader): boolean {
  const required = r.boolean("requireApiToken", false);
  if (required && r.source.getSecret(configKey("apiToken")) === undefined)
    r.problems.push(
      `${configKey("apiToken")} is required on this stack (requireApiToken: /api/execute runs code for anyone who reaches ` +
        `the Service); set it with: pulumi config set --secret ${configKey("apiToken")} "$(openssl rand -hex 32)"`,
    );
  return required;
}

/** `ingress`: none (the default: reach the chat with kubectl port-forward), or an ALB's scheme. */
function readIngress(r: Reader): IngressArgs | undefined {
  const scheme = r.string("ingress") ?? "none";
  const ingress = {
    scheme: scheme as IngressArgs["scheme"],
    host: r.string("ingressHost") ?? "",
    certificateArn: r.string("certificateArn") ?? "",
    inboundCidrs: r.list("ingressInboundCidrs") ?? [],
  };
  if (scheme === "none") return undefined;
  if (!(INGRESS_SCHEMES as readonly string[]).includes(scheme)) {
    r.problems.push(
      `${configKey("ingress")} must be none, ${INGRESS_SCHEMES.join(" or ")}, got ${JSON.stringify(scheme)}; ` +
        `set it with: pulumi config set ${configKey("ingress")} internal`,
    );
    return undefined;
  }
  return ingress;
}

/** A secret in plain text in a committed stack file is refused. */
function readSecretsAreEncrypted(r: Reader): void {
  for (const name of SECRET_KEYS) {
    const key = configKey(name);
    if (r.source.get(key) !== undefined && !r.source.isSecret(key))
      r.problems.push(
        `${key} is stored in plain text in the stack file (anyone with the repository can read it); ` +
          `remove it and set it encrypted: pulumi config rm ${key} && pulumi config set --secret ${key} <value>`,
      );
  }
}

/**
 * Typed reads of `co-intelligence:*` keys: each value that does not parse adds a problem
 * naming its fix and reads as unset; the components' validators judge the rest.
 */
class Reader {
  readonly problems: string[] = [];
  /** Keys read as lists, and how their fix command sets them. */
  private readonly lists = new Map<string, "path" | "comma">();

  constructor(readonly source: ConfigSource) {}

  raw(fullKey: string): string | undefined {
    const value = this.source.get(fullKey);
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  }

  string(key: string): string | undefined {
    return this.raw(configKey(key));
  }

  /**
   * A whole number, or the text as given when it is not one: the component's validator, which
   * knows the range, reports it (and its default applies).
   */
  integer(key: string): number | string | undefined {
    const text = this.string(key);
    if (text === undefined) return undefined;
    return /^-?\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : text;
  }

  boolean(key: string, fallback: boolean): boolean {
    const text = this.string(key);
    if (text === undefined) return fallback;
    if (text === "true" || text === "false") return text === "true";
    this.problems.push(
      `${configKey(key)} must be true or false, got ${JSON.stringify(text)}; ` +
        `set it with: pulumi config set ${configKey(key)} ${fallback}`,
    );
    return fallback;
  }

  /** A YAML list (Pulumi hands it over as a JSON array) or a comma-separated string. */
  list(key: string, fix: "path" | "comma" = "path"): string[] | undefined {
    this.lists.set(key, fix);
    const text = this.string(key);
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
        `${configKey(key)} must be a list of strings; set it with: pulumi config set --path '${configKey(key)}[0]' <value>`,
      );
      return undefined;
    }
    return text
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== "");
  }

  /** How a component's argument reads in a message: its stack key. */
  nameOf(keys: Readonly<Record<string, string>>): (arg: string) => string {
    return (arg) => configKey(keys[arg] ?? arg);
  }

  /** A component's problems, each with the `pulumi config` command that fixes it. */
  report(problems: ArgProblem[], keys: Readonly<Record<string, string>>): void {
    for (const problem of problems) {
      const name = keys[problem.arg] ?? problem.arg;
      const key = configKey(name);
      const asPath = this.lists.get(name) === "path";
      const fix = problem.remove
        ? `pulumi config rm ${key}`
        : asPath
          ? `pulumi config set --path '${key}[0]' ${problem.suggestion ?? "<value>"}`
          : `pulumi config set ${key} ${problem.suggestion ?? "<value>"}`;
      this.problems.push(
        `${problem.message}; ${problem.remove ? `remove it: ${fix}` : `set it with: ${fix}`}`,
      );
    }
  }
}
