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

  it("refuses to keep zero images", async () => {
    await expect(imageRepository({ keepImages: 0 })).rejects.toThrow(
      /keepImages must be a positive whole number/,
    );
  });
});
