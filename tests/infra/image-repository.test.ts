// ImageRepository under Pulumi's mocks.
import { oneOf, runPulumi, TAGS } from "./pulumi-harness";

type RepoModule = typeof import("../../components/image-repository");

function imageRepository(
  args: Partial<import("../../components/image-repository").ImageRepositoryArgs> = {},
) {
  return runPulumi({
    program: () => {
      const { ImageRepository } = require("../../components/image-repository") as RepoModule; // eslint-disable-line @typescript-eslint/no-require-imports
      return new ImageRepository("backend-image", { tags: TAGS, ...args });
    },
  });
}

describe("ImageRepository", () => {
  it("creates co-intelligence-backend with immutable tags, scan on push and encryption at rest", async () => {
    const { resources } = await imageRepository();
    const repo = oneOf(resources, "aws:ecr/repository:Repository").inputs;
    expect(repo.name).toBe("co-intelligence-backend");
    expect(repo.imageTagMutability).toBe("IMMUTABLE");
    expect(repo.imageScanningConfiguration).toEqual({ scanOnPush: true });
    expect(repo.encryptionConfigurations).toEqual([{ encryptionType: "AES256" }]);
    expect(repo.forceDelete).toBe(false);
    expect(repo.tags).toEqual({ project: "co-intelligence", stack: "test", component: "image-repository" });
  });

  it("keeps only the last N images and expires untagged ones", async () => {
    const { resources } = await imageRepository({ keepImages: 7 });
    const lifecycle = oneOf(resources, "aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs;
    expect(lifecycle.repository).toBe("co-intelligence-backend");
    const rules = JSON.parse(lifecycle.policy).rules;
    expect(rules).toContainEqual(
      expect.objectContaining({
        selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 7 },
        action: { type: "expire" },
      }),
    );
    expect(rules).toContainEqual(
      expect.objectContaining({ selection: expect.objectContaining({ tagStatus: "untagged" }) }),
    );
    // ECR requires the "any" rule to have the highest priority number.
    const anyRule = rules.find((r: { selection: { tagStatus: string } }) => r.selection.tagStatus === "any");
    expect(anyRule.rulePriority).toBe(
      Math.max(...rules.map((r: { rulePriority: number }) => r.rulePriority)),
    );
  });

  it("encrypts with a customer KMS key when one is given", async () => {
    const { resources } = await imageRepository({ kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/abc" });
    expect(oneOf(resources, "aws:ecr/repository:Repository").inputs.encryptionConfigurations).toEqual([
      { encryptionType: "KMS", kmsKey: "arn:aws:kms:us-east-1:123456789012:key/abc" },
    ]);
  });

  it("exports the repository URL the push command uses", async () => {
    const run = await imageRepository();
    expect(await run.resolve(run.value.repositoryUrl)).toBe(
      "123456789012.dkr.ecr.us-east-1.amazonaws.com/co-intelligence-backend",
    );
  });

  it("refuses to keep fewer than 5 images (nothing to roll back to)", async () => {
    await expect(imageRepository({ keepImages: 0 })).rejects.toThrow(
      /keepImages must be a whole number from 5 to 200/,
    );
  });
});

describe("the lifecycle policy, evaluated as ECR evaluates it", () => {
  const { lifecyclePolicy } = jest.requireActual<typeof import("../../components/image-repository")>(
    "../../components/image-repository",
  );
  const { expiredBy } = jest.requireActual<typeof import("./ecr-lifecycle")>("./ecr-lifecycle");
  const now = new Date("2026-12-01T00:00:00Z");
  const day = 86_400_000;
  /** 60 tagged images pushed a day apart (newest first: c59 ... c00), and 3 untagged ones. */
  const images = [
    ...Array.from({ length: 60 }, (_, i) => ({
      digest: `sha256:${String(i).padStart(64, "0")}`,
      tags: [`c${String(i).padStart(2, "0")}`],
      pushedAt: new Date(now.getTime() - (60 - i) * day),
    })),
    ...[1, 2, 30].map((age) => ({
      digest: `sha256:untagged-${age}`,
      tags: [],
      pushedAt: new Date(now.getTime() - age * day),
    })),
  ];
  const digestOf = (tag: string) => images.find((i) => i.tags.includes(tag))!.digest;

  it("never expires the running image or its undo target, however old, while keeping the newest N", () => {
    // The running image is old (an undo went back to it) and its undo target older still.
    const policy = lifecyclePolicy(20, 7, ["c05", "c02"]) as never;
    const expired = expiredBy(policy, images, now);
    expect(expired.has(digestOf("c05"))).toBe(false);
    expect(expired.has(digestOf("c02"))).toBe(false);
    // The newest 20 images stay (the two newest untagged ones count among them: ECR counts
    // every image, so 18 tagged ones); everything older goes, the protected two aside.
    for (let i = 42; i < 60; i++)
      expect({ i, expired: expired.has(digestOf(`c${i}`)) }).toEqual({ i, expired: false });
    expect(expired.has(digestOf("c41"))).toBe(true);
    expect(expired.has(digestOf("c03"))).toBe(true);
    // Untagged images older than 7 days go.
    expect(expired.has("sha256:untagged-30")).toBe(true);
    expect(expired.has("sha256:untagged-1")).toBe(false);
  });

  it("would lose them under a single rule naming both tags (ECR selects images carrying all of them)", () => {
    const both = lifecyclePolicy(20, 7, []) as { rules: { rulePriority: number; selection: object }[] };
    both.rules.unshift({
      rulePriority: 1,
      selection: {
        tagStatus: "tagged",
        tagPatternList: ["c05", "c02"],
        countType: "imageCountMoreThan",
        countNumber: 2,
      },
    });
    const expired = expiredBy(both as never, images, now);
    expect(expired.has(digestOf("c05"))).toBe(true);
  });

  it("keeps the tag rules first and the any-rule last, as ECR requires", () => {
    const rules = (
      lifecyclePolicy(20, 7, ["a", "b", "a"]) as {
        rules: { rulePriority: number; selection: { tagStatus: string } }[];
      }
    ).rules;
    expect(rules.map((r) => r.selection.tagStatus)).toEqual(["tagged", "tagged", "untagged", "any"]);
    expect(new Set(rules.map((r) => r.rulePriority)).size).toBe(rules.length);
  });
});
