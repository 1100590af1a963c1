import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_NAMES } from "../contract/names";
import { BaseTags, componentTags } from "./tags";
import { ARG_NAME, refuseProblems, type ArgProblem, type NameOf } from "./validation";

/** How the backend's pods may invoke the function, safest first. */
export const ACCESS_MODES = ["pod-identity", "irsa", "node-role"] as const;
export type InvokeAccessMode = (typeof ACCESS_MODES)[number];

/** Who may invoke the sandbox function: the backend's pods, one of three ways. */
export interface InvokeAccessArgs {
  /** Project and stack tags; `component: invoke-access` is added. Required. */
  tags: BaseTags;
  /** ARN of the function; the only resource the policy names. Required. */
  functionArn: pulumi.Input<string>;
  /**
   * How the backend's pods get the permission. Default: `pod-identity`.
   * - `pod-identity`: an IAM role for the service account, bound by an EKS Pod Identity
   *   association (needs the eks-pod-identity-agent add-on on the cluster).
   * - `irsa`: an IAM role trusting the cluster's OIDC provider for exactly this namespace and
   *   service account (IAM Roles for Service Accounts).
   * - `node-role`: the original setup, an inline policy `LambdaInvokePolicy` on the nodes'
   *   role. LEAST SAFE: every pod on every node of the cluster may then invoke the function.
   */
  mode?: InvokeAccessMode;
  /** Name of the EKS cluster (pod-identity). Required in that mode. */
  clusterName?: pulumi.Input<string>;
  /** ARN of that cluster, which the trust policy names (pod-identity). Default: looked up by name. */
  clusterArn?: pulumi.Input<string>;
  /** The cluster's OIDC issuer URL, `https://oidc.eks...` (irsa). Required in that mode. */
  oidcIssuerUrl?: pulumi.Input<string>;
  /** ARN of the IAM OIDC provider of that issuer (irsa). Default: derived from the account and issuer. */
  oidcProviderArn?: pulumi.Input<string>;
  /** The backend's namespace. Default: `co-intelligence`. */
  namespace?: string;
  /** The backend's service account. Default: `backend`. */
  serviceAccountName?: string;
  /** The nodes' IAM role (node-role). Default: `co-intelligence-eks-node-role`. */
  nodeRoleName?: string;
  /** Name of the inline policy. Default: `LambdaInvokePolicy` (the original setup's name). */
  policyName?: string;
}

export const INVOKE_ACCESS_DEFAULTS = {
  mode: "pod-identity",
  namespace: DEFAULT_NAMES.namespace,
  serviceAccountName: DEFAULT_NAMES.serviceAccountName,
  nodeRoleName: DEFAULT_NAMES.nodeRoleName,
  policyName: "LambdaInvokePolicy",
} as const satisfies Partial<InvokeAccessArgs>;

/** The problems of InvokeAccessArgs (a pure function: the stack config calls it too). */
export function validateInvokeAccessArgs(
  args: Pick<InvokeAccessArgs, "mode">,
  nameOf: NameOf = ARG_NAME,
): ArgProblem[] {
  if (args.mode === undefined || (ACCESS_MODES as readonly string[]).includes(args.mode)) return [];
  return [
    {
      arg: "mode",
      message: `${nameOf("mode")} must be one of ${ACCESS_MODES.join(", ")}, got ${JSON.stringify(args.mode)}`,
      suggestion: "irsa",
    },
  ];
}

/**
 * `lambda:InvokeFunction` on exactly one function ARN, nothing else, granted to the backend.
 * In the pod modes a dedicated role is created and its ARN is returned for the service
 * account; in node-role mode the policy is put on the existing node role.
 */
export class InvokeAccess extends pulumi.ComponentResource {
  /** The IAM role the backend acts as (created role, or the node role). */
  public readonly roleName: pulumi.Output<string>;
  /** ARN of the created role (pod modes); undefined in node-role mode. */
  public readonly roleArn: pulumi.Output<string | undefined>;
  /** Annotations the backend's service account needs (IRSA's role ARN), else empty. */
  public readonly serviceAccountAnnotations: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: InvokeAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("co-intelligence:components:InvokeAccess", name, {}, opts);
    refuseProblems("InvokeAccess", name, validateInvokeAccessArgs(args));
    const d = INVOKE_ACCESS_DEFAULTS;
    const mode = args.mode ?? d.mode;
    const namespace = args.namespace ?? d.namespace;
    const serviceAccountName = args.serviceAccountName ?? d.serviceAccountName;
    const nodeRoleName = args.nodeRoleName ?? d.nodeRoleName;
    const policyName = args.policyName ?? d.policyName;
    const tags = componentTags(args.tags, "invoke-access");
    const policy = pulumi.jsonStringify(invokePolicy(args.functionArn));

    if (mode === "node-role") {
      const rolePolicy = new aws.iam.RolePolicy(
        `${name}-node-role-policy`,
        { name: policyName, role: nodeRoleName, policy },
        { parent: this },
      );
      this.roleName = rolePolicy.role.apply(String);
      this.roleArn = pulumi.output(undefined);
      this.serviceAccountAnnotations = pulumi.output<Record<string, string>>({});
    } else {
      let trust: pulumi.Output<aws.iam.PolicyDocument>;
      if (mode === "pod-identity") {
        if (args.clusterName === undefined)
          throw new Error(`InvokeAccess ${name}: pod-identity needs clusterName`);
        const clusterArn =
          args.clusterArn ??
          pulumi
            .output(args.clusterName)
            .apply((clusterName) =>
              aws.eks.getClusterOutput({ name: clusterName }, { parent: this }).apply((c) => c.arn),
            );
        trust = pulumi
          .output(clusterArn)
          .apply((arn) => podIdentityTrustPolicy(arn, namespace, serviceAccountName));
      } else {
        // irsa (validateInvokeAccessArgs refused any other mode)
        if (args.oidcIssuerUrl === undefined)
          throw new Error(`InvokeAccess ${name}: irsa needs oidcIssuerUrl`);
        const providerArn =
          args.oidcProviderArn ??
          pulumi
            .all([aws.getCallerIdentityOutput({}, { parent: this }).accountId, args.oidcIssuerUrl])
            .apply(([account, issuer]) => `arn:aws:iam::${account}:oidc-provider/${stripScheme(issuer)}`);
        trust = pulumi
          .all([providerArn, args.oidcIssuerUrl])
          .apply(([arn, issuer]) => irsaTrustPolicy(arn, issuer, namespace, serviceAccountName));
      }

      const role = new aws.iam.Role(
        `${name}-role`,
        {
          description: `Lets ${namespace}/${serviceAccountName} invoke the sandbox function (${mode})`,
          assumeRolePolicy: pulumi.jsonStringify(trust),
          tags,
        },
        { parent: this },
      );
      new aws.iam.RolePolicy(
        `${name}-role-policy`,
        { name: policyName, role: role.id, policy },
        { parent: this },
      );

      if (mode === "pod-identity") {
        new aws.eks.PodIdentityAssociation(
          `${name}-pod-identity`,
          {
            clusterName: args.clusterName!,
            namespace,
            serviceAccount: serviceAccountName,
            roleArn: role.arn,
            // The trust policy reads the session tags; without them nobody could assume the role.
            disableSessionTags: false,
            tags,
          },
          { parent: this },
        );
        this.serviceAccountAnnotations = pulumi.output<Record<string, string>>({});
      } else {
        this.serviceAccountAnnotations = role.arn.apply((arn): Record<string, string> => ({
          "eks.amazonaws.com/role-arn": arn,
        }));
      }
      this.roleName = role.name;
      this.roleArn = role.arn;
    }

    this.registerOutputs({
      roleName: this.roleName,
      roleArn: this.roleArn,
      serviceAccountAnnotations: this.serviceAccountAnnotations,
    });
  }
}

/** Allow `lambda:InvokeFunction` on this one function and nothing else. */
export function invokePolicy(functionArn: pulumi.Input<string>): pulumi.Input<aws.iam.PolicyDocument> {
  return {
    Version: "2012-10-17",
    Statement: [
      { Sid: "InvokeSandbox", Effect: "Allow", Action: "lambda:InvokeFunction", Resource: functionArn },
    ],
  };
}

/**
 * The session tags EKS Pod Identity puts on every role session it starts (EKS user guide,
 * "Create IAM role with trust policy required by EKS Pod Identity" and its list of session
 * tags): the trust policy names them as `aws:RequestTag/<tag>`.
 */
export const POD_IDENTITY_SESSION_TAGS = {
  clusterArn: "eks-cluster-arn",
  namespace: "kubernetes-namespace",
  serviceAccount: "kubernetes-service-account",
} as const;

/**
 * EKS Pod Identity: the service assumes the role (and tags the session) on the pod's behalf,
 * and only for this cluster (its ARN carries the account and region), this namespace and this
 * service account: another association in the account that points at this role is refused.
 */
export function podIdentityTrustPolicy(
  clusterArn: string,
  namespace: string,
  serviceAccountName: string,
): aws.iam.PolicyDocument {
  const tag = (name: string) => `aws:RequestTag/${name}`;
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "EksPodIdentityForTheBackendOnly",
        Effect: "Allow",
        Principal: { Service: "pods.eks.amazonaws.com" },
        Action: ["sts:AssumeRole", "sts:TagSession"],
        Condition: {
          StringEquals: {
            [tag(POD_IDENTITY_SESSION_TAGS.clusterArn)]: clusterArn,
            [tag(POD_IDENTITY_SESSION_TAGS.namespace)]: namespace,
            [tag(POD_IDENTITY_SESSION_TAGS.serviceAccount)]: serviceAccountName,
          },
        },
      },
    ],
  };
}

/** IRSA: only tokens of this namespace's service account, issued for STS, may assume the role. */
export function irsaTrustPolicy(
  providerArn: string,
  issuerUrl: string,
  namespace: string,
  serviceAccountName: string,
): aws.iam.PolicyDocument {
  const issuer = stripScheme(issuerUrl);
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: providerArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${issuer}:sub`]: `system:serviceaccount:${namespace}:${serviceAccountName}`,
            [`${issuer}:aud`]: "sts.amazonaws.com",
          },
        },
      },
    ],
  };
}

function stripScheme(url: string): string {
  return url.replace(/^https:\/\//, "");
}
