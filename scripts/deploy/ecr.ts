/**
 * ECR through the AWS SDK (no `aws` CLI needed): where the repository lives and a
 * short-lived docker login for its registry.
 */
import { DescribeRepositoriesCommand, ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import { errorLine } from "../lib/cli";
import { awsErrorName, isAccessDenied, makeClient } from "../lib/aws";
import { StepFailure } from "./outcome";

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

/** The repository's URL from its name (DescribeRepositories). */
export async function repositoryUrlOf(client: ECRClient, name: string, region: string): Promise<string> {
  try {
    const out = await client.send(new DescribeRepositoriesCommand({ repositoryNames: [name] }));
    const uri = out.repositories?.[0]?.repositoryUri;
    if (!uri) throw new Error(`DescribeRepositories returned no URI for ${name}`);
    return uri;
  } catch (err) {
    if (awsErrorName(err) === "RepositoryNotFoundException") {
      throw new StepFailure(
        `ECR repository ${name} does not exist in ${region}`,
        "create it with the stack: npm run deploy -- --stack <stack>  (or name the right one: --repository NAME / --region R)",
      );
    }
    throw awsFailure(err, `describe ECR repository ${name}`);
  }
}

/**
 * A docker login for the registry: GetAuthorizationToken answers base64("AWS:<password>")
 * valid for 12 hours.
 */
export async function registryLogin(client: ECRClient, registry: string): Promise<RegistryLogin> {
  let token: string | undefined;
  try {
    const out = await client.send(new GetAuthorizationTokenCommand({}));
    token = out.authorizationData?.[0]?.authorizationToken;
  } catch (err) {
    throw awsFailure(err, "get an ECR authorization token");
  }
  if (!token) {
    throw new StepFailure(
      "ECR GetAuthorizationToken returned no token",
      "check the AWS credentials and region: aws sts get-caller-identity && npm run doctor",
    );
  }
  const decoded = Buffer.from(token, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) {
    throw new StepFailure(
      "ECR authorization token is not base64 of user:password",
      "check AWS_ENDPOINT_URL points at ECR (or an emulator of it)",
    );
  }
  return { registry, username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** An AWS error as a step failure whose fix depends on the kind of error. */
function awsFailure(err: unknown, what: string): StepFailure {
  if (isAccessDenied(err)) {
    return new StepFailure(
      `not allowed to ${what}: ${errorLine(err)}`,
      "use credentials allowed ecr:GetAuthorizationToken, ecr:DescribeRepositories and the ecr push actions (AWS_PROFILE=...)",
    );
  }
  if (/credential/i.test(errorLine(err))) {
    return new StepFailure(
      `could not ${what}: ${errorLine(err)}`,
      "configure AWS credentials (AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), then: aws sts get-caller-identity",
    );
  }
  return new StepFailure(
    `could not ${what}: ${errorLine(err)}`,
    "npm run doctor  (checks credentials, region and the repository)",
  );
}
