/**
 * AWS SDK clients for the ops commands. The SDK itself honours the standard settings
 * (AWS_PROFILE, credentials, AWS_ENDPOINT_URL and the per-service AWS_ENDPOINT_URL_<SERVICE>,
 * e.g. AWS_ENDPOINT_URL_LAMBDA); this factory adds the region of the command's targets, a
 * short retry budget (on-call is waiting) and one extra override of our own:
 *
 *   AWS_ENDPOINT_URL_LAMBDA_INVOKE  endpoint for Lambda Invoke only (GetFunction and friends
 *                                   keep the usual endpoint). Lets doctor read an emulator's
 *                                   function configuration and invoke a local sandbox
 *                                   (`npm run sandbox`), which is how the tests run it.
 */
import { LambdaClient } from "@aws-sdk/client-lambda";

export interface ClientOptions {
  region: string;
  /** Explicit endpoint; otherwise the SDK's own env/profile resolution applies. */
  endpoint?: string;
  maxAttempts?: number;
}

type ClientConstructor<C> = new (config: { region: string; endpoint?: string; maxAttempts?: number }) => C;

/** Any v3 client (`makeClient(STSClient, {region})`) configured for the ops commands. */
export function makeClient<C>(Client: ClientConstructor<C>, opts: ClientOptions): C {
  return new Client({
    region: opts.region,
    maxAttempts: opts.maxAttempts ?? 2,
    ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
  });
}

export const INVOKE_ENDPOINT_ENV = "AWS_ENDPOINT_URL_LAMBDA_INVOKE";

/** The Lambda client used for Invoke: AWS_ENDPOINT_URL_LAMBDA_INVOKE when set, else the usual one. */
export function lambdaInvokeClient(region: string, env: NodeJS.ProcessEnv = process.env): LambdaClient {
  const endpoint = env[INVOKE_ENDPOINT_ENV];
  return makeClient(LambdaClient, { region, ...(endpoint ? { endpoint } : {}) });
}

/** The AWS error's code name (`ResourceNotFoundException`, ...), whatever the client. */
export function awsErrorName(err: unknown): string {
  if (err && typeof err === "object") {
    const e = err as { name?: unknown; Code?: unknown; code?: unknown };
    for (const value of [e.name, e.Code, e.code])
      if (typeof value === "string" && value !== "Error") return value;
  }
  return "";
}

/** True for errors that mean "you may not", which checks report as skip, not fail. */
export function isAccessDenied(err: unknown): boolean {
  return /AccessDenied|UnauthorizedOperation|NotAuthorized|AuthorizationError/i.test(awsErrorName(err));
}

/** True when the service (or emulator) does not implement the call. */
export function isNotImplemented(err: unknown): boolean {
  const name = awsErrorName(err);
  const message = err instanceof Error ? err.message : "";
  return (
    /NotImplemented|InvalidAction|UnknownOperation/i.test(name) || /not (yet )?implemented/i.test(message)
  );
}

/** The account and partition of an ARN (`arn:aws:iam::123456789012:role/x`). */
export function parseArn(
  arn: string,
): { partition: string; service: string; region: string; account: string; resource: string } | undefined {
  const parts = arn.split(":");
  if (parts.length < 6 || parts[0] !== "arn") return undefined;
  return {
    partition: parts[1]!,
    service: parts[2]!,
    region: parts[3]!,
    account: parts[4]!,
    resource: parts.slice(5).join(":"),
  };
}
