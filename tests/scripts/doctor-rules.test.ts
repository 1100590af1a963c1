// The rules behind doctor's verdicts, case by case, without AWS: the IAM policy evaluator
// (what moto cannot simulate), which routes leave the VPC, what a crash-looping pod looks
// like, and what the function's configuration must hold.
import { evaluate, parsePolicyDocument, wildcardMatch } from "../../scripts/doctor/iam-policy";
import { configProblems } from "../../scripts/doctor/function";
import { describeRule, leavingRoute } from "../../scripts/doctor/network";
import { imageInRepository } from "../../scripts/doctor/ecr";
import { labelSelector, podNotReady, podProblem } from "../../scripts/adapters/kubectl";

const FN = "arn:aws:lambda:us-east-1:123456789012:function:co-intelligence-code-executor";
const ACTION = "lambda:InvokeFunction";
const policy = (...Statement: object[]) => ({
  name: "inline:p",
  document: { Version: "2012-10-17", Statement },
});

describe("IAM policy evaluation (fallback of invoke-permission)", () => {
  it("allows an Allow of the action on the function's ARN", () => {
    expect(evaluate([policy({ Effect: "Allow", Action: ACTION, Resource: FN })], ACTION, FN).decision).toBe(
      "allowed",
    );
  });

  it("matches actions case-insensitively and with wildcards, in lists", () => {
    for (const Action of ["lambda:*", "LAMBDA:invokefunction", ["s3:GetObject", "lambda:Invoke*"], "*"]) {
      expect(evaluate([policy({ Effect: "Allow", Action, Resource: FN })], ACTION, FN).decision).toBe(
        "allowed",
      );
    }
    expect(
      evaluate([policy({ Effect: "Allow", Action: "lambda:Get*", Resource: FN })], ACTION, FN).decision,
    ).toBe("implicitDeny");
  });

  it("matches resources with * and ? but not a qualified-only pattern", () => {
    const allowed = (Resource: string | string[]) =>
      evaluate([policy({ Effect: "Allow", Action: ACTION, Resource })], ACTION, FN).decision;
    expect(allowed("arn:aws:lambda:*:123456789012:function:co-intelligence-*")).toBe("allowed");
    expect(allowed(["arn:aws:lambda:us-east-1:123456789012:function:other", FN])).toBe("allowed");
    expect(allowed("arn:aws:lambda:us-east-1:123456789012:function:co-intelligence-code-executo?")).toBe(
      "allowed",
    );
    expect(allowed(`${FN}:*`)).toBe("implicitDeny");
  });

  it("lets an explicit Deny win over any Allow, and names it", () => {
    const result = evaluate(
      [
        policy({ Effect: "Allow", Action: "lambda:*", Resource: "*" }),
        {
          name: "arn:aws:iam::123456789012:policy/guard",
          document: { Statement: { Sid: "NoInvoke", Effect: "Deny", Action: ACTION, Resource: "*" } },
        },
      ],
      ACTION,
      FN,
    );
    expect(result.decision).toBe("explicitDeny");
    expect(result.matched).toEqual([
      { policy: "arn:aws:iam::123456789012:policy/guard", sid: "NoInvoke", conditional: false },
    ]);
  });

  it("reads NotAction and NotResource", () => {
    expect(
      evaluate([policy({ Effect: "Allow", NotAction: "iam:*", Resource: FN })], ACTION, FN).decision,
    ).toBe("allowed");
    expect(
      evaluate([policy({ Effect: "Allow", NotAction: "lambda:*", Resource: FN })], ACTION, FN).decision,
    ).toBe("implicitDeny");
    expect(
      evaluate([policy({ Effect: "Allow", Action: ACTION, NotResource: FN })], ACTION, FN).decision,
    ).toBe("implicitDeny");
    expect(
      evaluate(
        [policy({ Effect: "Allow", Action: ACTION, NotResource: "arn:aws:lambda:*:*:function:admin-*" })],
        ACTION,
        FN,
      ).decision,
    ).toBe("allowed");
  });

  it("reports where the action is allowed instead, and conditions it did not evaluate", () => {
    const elsewhere = evaluate(
      [
        policy({
          Effect: "Allow",
          Action: ACTION,
          Resource: "arn:aws:lambda:us-east-1:123456789012:function:old-executor",
        }),
      ],
      ACTION,
      FN,
    );
    expect(elsewhere.allowedElsewhere).toEqual([
      { policy: "inline:p", resources: ["arn:aws:lambda:us-east-1:123456789012:function:old-executor"] },
    ]);
    const conditional = evaluate(
      [
        policy({
          Effect: "Allow",
          Action: ACTION,
          Resource: FN,
          Condition: { StringEquals: { "aws:PrincipalTag/team": "chat" } },
        }),
      ],
      ACTION,
      FN,
    );
    expect(conditional.matched[0]!.conditional).toBe(true);
  });

  it("reads URL-encoded documents as IAM returns them", () => {
    const doc = { Statement: [{ Effect: "Allow", Action: ACTION, Resource: FN }] };
    expect(parsePolicyDocument(encodeURIComponent(JSON.stringify(doc)))).toEqual(doc);
    expect(parsePolicyDocument(JSON.stringify(doc))).toEqual(doc);
    expect(wildcardMatch("a.b*", "a.bc")).toBe(true);
    expect(wildcardMatch("a.b*", "axbc")).toBe(false);
  });
});

describe("routes that leave the VPC (function-network)", () => {
  it("flags internet, NAT and egress-only gateways, and any default route through a gateway", () => {
    expect(leavingRoute({ DestinationCidrBlock: "0.0.0.0/0", GatewayId: "igw-1" })).toBe(
      "0.0.0.0/0 -> internet gateway igw-1",
    );
    expect(leavingRoute({ DestinationCidrBlock: "10.1.0.0/16", GatewayId: "igw-1" })).toContain(
      "internet gateway",
    );
    expect(leavingRoute({ DestinationCidrBlock: "0.0.0.0/0", NatGatewayId: "nat-1" })).toContain(
      "NAT gateway nat-1",
    );
    expect(
      leavingRoute({ DestinationIpv6CidrBlock: "::/0", EgressOnlyInternetGatewayId: "eigw-1" }),
    ).toContain("egress-only");
    expect(leavingRoute({ DestinationCidrBlock: "0.0.0.0/0", TransitGatewayId: "tgw-1" })).toBe(
      "0.0.0.0/0 -> tgw-1",
    );
  });

  it("accepts the local route and gateway endpoints for AWS services", () => {
    expect(leavingRoute({ DestinationCidrBlock: "10.20.0.0/16", GatewayId: "local" })).toBeUndefined();
    expect(leavingRoute({ DestinationPrefixListId: "pl-63a5400a", GatewayId: "vpce-1" })).toBeUndefined();
  });

  it("describes egress rules readably", () => {
    expect(describeRule({ IpProtocol: "-1", IpRanges: [{ CidrIp: "0.0.0.0/0" }] })).toBe(
      "all traffic to 0.0.0.0/0",
    );
    expect(
      describeRule({
        IpProtocol: "tcp",
        FromPort: 443,
        ToPort: 443,
        UserIdGroupPairs: [{ GroupId: "sg-9" }],
      }),
    ).toBe("tcp 443 to sg-9");
  });
});

describe("the one rule of an unwell pod (doctor's deployment-ready, rollout's diagnosis)", () => {
  const pod = (status: object) => ({
    metadata: { name: "backend-1" },
    status: { containerStatuses: [{ name: "backend", ...status }] },
  });

  it("flags CrashLoopBackOff and image pull failures with the last exit", () => {
    expect(
      podProblem(
        pod({
          restartCount: 5,
          state: { waiting: { reason: "CrashLoopBackOff" } },
          lastState: { terminated: { reason: "Error", exitCode: 1 } },
        }),
      ),
    ).toBe("pod backend-1 container backend: CrashLoopBackOff (5 restarts, last exit: Error code 1)");
    expect(podProblem(pod({ state: { waiting: { reason: "ImagePullBackOff" } } }))).toContain(
      "ImagePullBackOff",
    );
  });

  it("flags a not-ready container with many restarts, but not a ready one that restarted once", () => {
    expect(podProblem(pod({ ready: false, restartCount: 4, state: { running: {} } }))).toContain(
      "not ready after 4 restarts",
    );
    expect(podProblem(pod({ ready: true, restartCount: 1, state: { running: {} } }))).toBeUndefined();
    expect(
      podProblem(pod({ ready: false, restartCount: 0, state: { waiting: { reason: "ContainerCreating" } } })),
    ).toBeUndefined();
  });

  it("counts restarts as a loop from the third on a container that is not ready: two are not a loop", () => {
    expect(podProblem(pod({ ready: false, restartCount: 2, state: { running: {} } }))).toBeUndefined();
    expect(podProblem(pod({ ready: false, restartCount: 3, state: { running: {} } }))).toContain(
      "not ready after 3 restarts",
    );
  });

  it("tells a pod that is not serving yet (unscheduled, not ready) apart from an unwell one", () => {
    const pending = { metadata: { name: "backend-2" }, status: { phase: "Pending" } };
    expect(podProblem(pending)).toBeUndefined();
    expect(podNotReady(pending)).toBe("pod backend-2: Pending");
    expect(podNotReady(pod({ ready: false, restartCount: 0, state: { running: {} } }))).toBe(
      "pod backend-1 container backend: not ready",
    );
    expect(podNotReady(pod({ ready: true, restartCount: 1, state: { running: {} } }))).toBeUndefined();
  });

  it("selects pods by the deployment's matchLabels", () => {
    expect(labelSelector({ spec: { selector: { matchLabels: { app: "backend", tier: "web" } } } })).toBe(
      "app=backend,tier=web",
    );
  });
});

describe("images of the repository (ecr-image, deployment-image)", () => {
  const URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend";
  it("reads a digest or a tag, and refuses another repository with the same prefix", () => {
    expect(imageInRepository(`${URI}@sha256:abc`, URI)).toEqual({ imageDigest: "sha256:abc" });
    expect(imageInRepository(`${URI}:3f2c1ab`, URI)).toEqual({ imageTag: "3f2c1ab" });
    // What rollout records: tag and digest; the digest is what runs.
    expect(imageInRepository(`${URI}:3f2c1ab@sha256:abc`, URI)).toEqual({ imageDigest: "sha256:abc" });
    expect(imageInRepository(`${URI}-old:3f2c1ab`, URI)).toBeUndefined();
    expect(imageInRepository("docker.io/library/backend:latest", URI)).toBeUndefined();
  });
});

describe("function configuration (function-config)", () => {
  const healthy = {
    Runtime: "python3.13",
    Timeout: 35,
    MemorySize: 512,
    Environment: {
      Variables: {
        SANDBOX_ALLOWED_MODULES: "math,json",
        SANDBOX_TIMEOUT_MS: "30000",
        SANDBOX_MAX_OUTPUT_BYTES: "65536",
      },
    },
  };
  const vars = healthy.Environment.Variables;

  it("accepts the stack's configuration", () => {
    expect(configProblems(healthy)).toEqual([]);
  });

  it("takes an unset SANDBOX_* variable as its default, which is healthy (CONTRACT section 1)", () => {
    expect(configProblems({ ...healthy, Environment: { Variables: {} } })).toEqual([]);
    expect(configProblems({ ...healthy, Environment: undefined })).toEqual([]);
    const { SANDBOX_MAX_OUTPUT_BYTES: _dropped, ...withoutCap } = vars;
    expect(configProblems({ ...healthy, Environment: { Variables: withoutCap } })).toEqual([]);
  });

  it("says what was expected and what was found for each problem", () => {
    expect(configProblems({ ...healthy, Runtime: "python3.10" })).toEqual([
      "runtime must be python3.11 or later, found python3.10",
    ]);
    expect(configProblems({ ...healthy, MemorySize: 256 })).toEqual([
      "memory must be at least 512 MB, found 256 MB",
    ]);
    expect(
      configProblems({
        ...healthy,
        Timeout: 20,
        Environment: { Variables: { ...vars, SANDBOX_TIMEOUT_MS: "25000" } },
      }),
    ).toEqual([
      "timeout must be at least the sandbox limit 25 s (SANDBOX_TIMEOUT_MS=25000) so a Timeout is answered, found 20 s",
    ]);
    expect(
      configProblems({
        ...healthy,
        Environment: { Variables: { ...vars, SANDBOX_ALLOWED_MODULES: "math,os" } },
      }),
    ).toEqual([
      "SANDBOX_ALLOWED_MODULES may only list vetted modules, found os (the sandbox refuses to start)",
    ]);
    expect(configProblems({ ...healthy, Environment: { Variables: { SANDBOX_TIMEOUT_MS: "30s" } } })).toEqual(
      ['SANDBOX_TIMEOUT_MS must be a whole number from 1 to 900000, found "30s"'],
    );
    expect(
      configProblems({ ...healthy, Environment: { Variables: { ...vars, SANDBOX_MAX_OUTPUT_BYTES: "0" } } }),
    ).toEqual(['SANDBOX_MAX_OUTPUT_BYTES must be a whole number from 1 to 6291456, found "0"']);
    expect(
      configProblems({ ...healthy, Environment: { Variables: { ...vars, SANDBOX_ALLOWED_MODULES: "" } } }),
    ).toEqual(['SANDBOX_ALLOWED_MODULES must be comma-separated module names, found ""']);
    expect(configProblems({ ...healthy, reservedConcurrency: 0 })).toEqual([
      "reserved concurrency must not be 0, found 0 (every invoke is throttled)",
    ]);
  });
});
