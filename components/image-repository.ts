import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_NAMES } from "../contract/names";
import { BaseTags, componentTags } from "./tags";
import {
  ARG_NAME,
  rangeProblem,
  refuseProblems,
  type ArgProblem,
  type NameOf,
  type Unparsed,
} from "./validation";

/** The ECR repository the backend image is pushed to. */
export interface ImageRepositoryArgs {
  /** Project and stack tags; `component: image-repository` is added. Required. */
  tags: BaseTags;
  /** Repository name. Default: `co-intelligence-backend`. */
  name?: string;
  /** How many images the lifecycle policy keeps, newest first (5 to 200). Default: 20. */
  keepImages?: number;
  /** Days after which untagged images (failed pushes) are expired. Default: 7. */
  untaggedDays?: number;
  /**
   * Tags of images the lifecycle policy must never expire: the one the Deployment runs and
   * its undo target. Default: none.
   */
  protectedTags?: pulumi.Input<string[]>;
  /** KMS key ARN for encryption at rest. Default: unset, AES-256 with ECR's own key. */
  kmsKeyArn?: pulumi.Input<string>;
}

export const IMAGE_REPOSITORY_DEFAULTS = {
  name: DEFAULT_NAMES.repositoryName,
  keepImages: 20,
  untaggedDays: 7,
} as const;

/** Enough images to go back a few rollouts; more than 200 is storage nobody rolls back to. */
export const KEEP_IMAGES = { min: 5, max: 200 } as const;

/** The problems of ImageRepositoryArgs (a pure function: the stack config calls it too). */
export function validateImageRepositoryArgs(
  args: Unparsed<Pick<ImageRepositoryArgs, "keepImages">>,
  nameOf: NameOf = ARG_NAME,
): ArgProblem[] {
  return rangeProblem(
    nameOf,
    "keepImages",
    args.keepImages,
    KEEP_IMAGES,
    IMAGE_REPOSITORY_DEFAULTS.keepImages,
  );
}

/**
 * ECR repository with immutable tags (a tag always means the same image, so a rollout can
 * be undone by tag), scan on push, encryption at rest and a lifecycle policy.
 */
export class ImageRepository extends pulumi.ComponentResource {
  public readonly repositoryName: pulumi.Output<string>;
  public readonly repositoryUrl: pulumi.Output<string>;
  public readonly repositoryArn: pulumi.Output<string>;

  constructor(name: string, args: ImageRepositoryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("co-intelligence:components:ImageRepository", name, {}, opts);
    refuseProblems("ImageRepository", name, validateImageRepositoryArgs(args));
    const d = IMAGE_REPOSITORY_DEFAULTS;
    const repositoryName = args.name ?? d.name;
    const keepImages = args.keepImages ?? d.keepImages;
    const untaggedDays = args.untaggedDays ?? d.untaggedDays;
    const tags = componentTags(args.tags, "image-repository");

    const repository = new aws.ecr.Repository(
      `${name}-repository`,
      {
        name: repositoryName,
        imageTagMutability: "IMMUTABLE",
        imageScanningConfiguration: { scanOnPush: true },
        encryptionConfigurations: [
          args.kmsKeyArn === undefined
            ? { encryptionType: "AES256" }
            : { encryptionType: "KMS", kmsKey: args.kmsKeyArn },
        ],
        // Refuse to delete a repository that still holds images: `pulumi destroy` stops there.
        forceDelete: false,
        tags,
      },
      { parent: this },
    );

    new aws.ecr.LifecyclePolicy(
      `${name}-lifecycle`,
      {
        repository: repository.name,
        policy: pulumi
          .output(args.protectedTags ?? [])
          .apply((tags) => JSON.stringify(lifecyclePolicy(keepImages, untaggedDays, tags))),
      },
      { parent: this },
    );

    this.repositoryName = repository.name;
    this.repositoryUrl = repository.repositoryUrl;
    this.repositoryArn = repository.arn;
    this.registerOutputs({
      repositoryName: this.repositoryName,
      repositoryUrl: this.repositoryUrl,
      repositoryArn: this.repositoryArn,
    });
  }
}

/**
 * Never expire the protected images; expire untagged images after a few days; keep only the
 * newest `keepImages` images. The protection works by ECR's documented evaluation rules: "an
 * image that matches the tagging requirements of a rule cannot be expired by a rule with a
 * lower priority", and a rule with several tags selects only images carrying all of them. So
 * each protected tag gets a rule of its own (tags are immutable: it selects exactly that
 * image) that expires only beyond one image: never.
 */
export function lifecyclePolicy(
  keepImages: number,
  untaggedDays: number,
  protectedTags: string[] = [],
): object {
  const tags = [...new Set(protectedTags)];
  return {
    rules: [
      ...tags.map((tag, index) => ({
        rulePriority: index + 1,
        description: `Never expire ${tag} (${index === 0 ? "the running image" : "the undo target"})`,
        selection: {
          tagStatus: "tagged",
          tagPatternList: [tag],
          countType: "imageCountMoreThan",
          countNumber: 1,
        },
        action: { type: "expire" },
      })),
      {
        rulePriority: 10,
        description: `Expire untagged images after ${untaggedDays} days`,
        selection: {
          tagStatus: "untagged",
          countType: "sinceImagePushed",
          countUnit: "days",
          countNumber: untaggedDays,
        },
        action: { type: "expire" },
      },
      {
        rulePriority: 20,
        description: `Keep the last ${keepImages} images`,
        selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: keepImages },
        action: { type: "expire" },
      },
    ],
  };
}
