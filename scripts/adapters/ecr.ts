/**
 * ECR through the AWS SDK (no `aws` CLI needed): the one lookup of a repository and of an
 * image in it (push and rollout resolve with them, doctor checks with them), and a
 * short-lived docker login for the registry.
 */
import {
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  type ImageDetail,
  type ImageIdentifier,
  type Repository,
} from "@aws-sdk/client-ecr";
import { awsErrorName, makeClient } from "./aws";

/** What ECR answered: the object, or that it does not exist (and ECR's own words for it). */
export type Lookup<T> = { found: true; value: T } | { found: false; reason: string };

function notFound(err: unknown): { found: false; reason: string } {
  const name = awsErrorName(err);
  const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
  return { found: false, reason: `${name}: ${message}` };
}

export interface RegistryLogin {
  /** Registry host, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com */
  registry: string;
  username: string;
  password: string;
}

export function ecrClient(region: string): ECRClient {
  return makeClient(ECRClient, { region });
}

/** The host part of a repository URL (`<registry>/<name>`). */
export function registryOf(repositoryUrl: string): string {
  return repositoryUrl.replace(/^https?:\/\//, "").split("/")[0]!;
}

/** The repository by name, or that ECR says it does not exist; other errors are thrown. */
export async function describeRepository(client: ECRClient, name: string): Promise<Lookup<Repository>> {
  try {
    const repository = (await client.send(new DescribeRepositoriesCommand({ repositoryNames: [name] })))
      .repositories?.[0];
    return repository
      ? { found: true, value: repository }
      : { found: false, reason: "no repository returned" };
  } catch (err) {
    if (awsErrorName(err) === "RepositoryNotFoundException") return notFound(err);
    throw err;
  }
}

/**
 * One image of a repository, by tag or digest, or that ECR says it (or the repository) does
 * not exist; other errors are thrown.
 */
export async function describeImage(
  client: ECRClient,
  repositoryName: string,
  image: ImageIdentifier,
): Promise<Lookup<ImageDetail>> {
  try {
    const detail = (await client.send(new DescribeImagesCommand({ repositoryName, imageIds: [image] })))
      .imageDetails?.[0];
    return detail ? { found: true, value: detail } : { found: false, reason: "no image returned" };
  } catch (err) {
    if (["ImageNotFoundException", "RepositoryNotFoundException"].includes(awsErrorName(err)))
      return notFound(err);
    throw err;
  }
}

/**
 * A docker login for the registry: GetAuthorizationToken answers base64("AWS:<password>")
 * valid for 12 hours. Undefined when ECR answered no token, a CredentialsNotUsable error
 * when it answered one that is not `user:password`; AWS errors are thrown.
 */
export async function registryLogin(client: ECRClient, registry: string): Promise<RegistryLogin | undefined> {
  const out = await client.send(new GetAuthorizationTokenCommand({}));
  const token = out.authorizationData?.[0]?.authorizationToken;
  if (!token) return undefined;
  const decoded = Buffer.from(token, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) throw new MalformedToken();
  return { registry, username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** GetAuthorizationToken answered something that is not base64 of `user:password`. */
export class MalformedToken extends Error {
  constructor() {
    super("ECR authorization token is not base64 of user:password");
    this.name = "MalformedToken";
  }
}
