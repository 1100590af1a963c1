// The Kubernetes objects the program renders, read the way the API server reads them: the
// official OpenAPI schemas (kubernetes-models) with unknown fields refused (the official
// client's models, as strict field validation does), and the "restricted" Pod Security
// Standard the namespace enforces. The validators run in a child process (ES modules only).
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { RegisteredResource, runPulumi, stackConfigWithSecrets } from "./pulumi-harness";
import { restrictedViolations } from "./pod-security";

const ROOT = path.join(__dirname, "..", "..");
const IMAGE = `123456789012.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend:1a2b3c4d5e6f@sha256:${"ab".repeat(32)}`;
const INGRESS = {
  "co-intelligence:ingress": "internet-facing",
  "co-intelligence:ingressHost": "chat.example.com",
  "co-intelligence:certificateArn":
    "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100",
};

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Pulumi's wire form of a secret (`{<sig>: <secret sig>, value}`) back to the value the API server gets. */
function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value === null || typeof value !== "object") return value;
  const obj = value as Obj;
  if (obj["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270")
    return unwrapSecrets(obj.value);
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, unwrapSecrets(v)]));
}

/** Every Kubernetes object a run registered (not the provider), as the API server receives it. */
function kubernetesObjects(resources: RegisteredResource[]): Obj[] {
  return resources
    .filter(
      (r) =>
        r.type.startsWith("kubernetes:") &&
        !r.type.startsWith("kubernetes:index") &&
        !r.type.startsWith("pulumi:"),
    )
    .map((r) => unwrapSecrets(r.inputs) as Obj);
}

interface Finding {
  name: string;
  errors: string[];
  unknownFields: string[];
}

function validate(objects: Obj[]): Finding[] {
  const result = spawnSync(
    path.join(ROOT, "node_modules", ".bin", "node"),
    [path.join(__dirname, "k8s-validate.mjs")],
    { cwd: ROOT, input: JSON.stringify(objects), encoding: "utf8", timeout: 50000 },
  );
  if (result.status !== 0) throw new Error(`k8s-validate.mjs failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Finding[];
}

async function render(stack: string, overrides: Record<string, string> = {}): Promise<Obj[]> {
  const { config, secretKeys } = stackConfigWithSecrets(stack);
  const { resources } = await runPulumi({
    stack,
    config: { ...config, "co-intelligence:image": IMAGE, ...overrides },
    secretKeys,
    program: () => require("../../index"), // eslint-disable-line @typescript-eslint/no-require-imports
  });
  return kubernetesObjects(resources);
}

describe.each([
  ["dev", {}],
  ["prod", {}],
  ["prod with an Ingress", INGRESS],
  ["dev in node-role mode", { "co-intelligence:accessMode": "node-role" }],
])("the %s stack's Kubernetes objects", (label, overrides) => {
  let objects: Obj[];
  let findings: Finding[];
  beforeAll(async () => {
    objects = await render(label.split(" ")[0]!, overrides);
    findings = validate(objects);
  });

  it("are the backend's whole set", () => {
    const kinds = objects.map((o) => o.kind).sort();
    const expected = [
      "Deployment",
      "HorizontalPodAutoscaler",
      "Namespace",
      "NetworkPolicy",
      "PodDisruptionBudget",
      "Secret",
      "Service",
      "ServiceAccount",
      ...(label.includes("Ingress") ? ["Ingress"] : []),
    ].sort();
    expect(kinds).toEqual(expected);
  });

  it("match the official Kubernetes OpenAPI schemas, with no field the API server does not know", () => {
    expect(findings).toHaveLength(objects.length);
    for (const finding of findings)
      expect(finding).toEqual({ name: finding.name, errors: [], unknownFields: [] });
  });

  it("run pods the restricted Pod Security Standard admits, in a namespace that enforces it", () => {
    const deployment = objects.find((o) => o.kind === "Deployment")!;
    expect(restrictedViolations(deployment.spec.template.spec)).toEqual([]);
    const namespace = objects.find((o) => o.kind === "Namespace")!;
    expect(namespace.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    for (const o of objects.filter((x) => x.kind !== "Namespace"))
      expect({ kind: o.kind, namespace: o.metadata.namespace }).toEqual({
        kind: o.kind,
        namespace: namespace.metadata.name,
      });
  });
});

describe("the validators themselves (each must be able to fail)", () => {
  const deployment = (container: Obj): Obj => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "x" },
    spec: {
      selector: { matchLabels: { app: "x" } },
      template: {
        metadata: { labels: { app: "x" } },
        spec: { containers: [{ name: "c", image: "i", ...container }] },
      },
    },
  });

  it("the schemas refuse a wrong type, the client's models an unknown field", () => {
    const [wrongType, unknown] = validate([
      deployment({ ports: [{ containerPort: "8080" }] }),
      deployment({ securityContext: { runAsNonRot: true } }),
    ]);
    expect(wrongType!.errors.join(" ")).toContain("containerPort must be integer");
    expect(unknown!.unknownFields).toEqual([
      "Deployment.spec.template.spec.containers[0].securityContext.runAsNonRot",
    ]);
  });

  it("the restricted profile refuses a privileged, root, capable container with a hostPath", () => {
    const violations = restrictedViolations({
      containers: [
        {
          name: "c",
          securityContext: { privileged: true, runAsUser: 0, capabilities: { add: ["SYS_ADMIN"] } },
        },
      ],
      volumes: [{ name: "h", hostPath: { path: "/" } }],
    });
    for (const expected of [
      "container c: privileged",
      "container c: non-default capabilities SYS_ADMIN",
      "hostPath volume h",
      "container c: allowPrivilegeEscalation != false",
      "container c: runAsNonRoot != true",
      "container c: runAsUser=0",
      "container c: seccompProfile not RuntimeDefault/Localhost",
      "container c: capabilities.drop must include ALL",
    ])
      expect(violations).toContain(expected);
  });
});
