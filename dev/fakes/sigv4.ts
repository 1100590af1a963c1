/**
 * Checks an AWS Signature Version 4 `Authorization` header the way an AWS service does, written
 * from the signing documentation (not with the SDK's signer, which is what is being checked):
 * the credential scope names the expected region and service and today's date, the request
 * is recent, the access key is known, and the signature recomputed from the request as
 * received (method, double-encoded path, query, signed headers, body hash) matches.
 *
 * The answer is the AWS error a real service would give, or undefined when the request passes.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SigV4Expectation {
  region: string;
  service: string;
  /** Known keys; when empty, any key is accepted and only the scope and form are checked. */
  credentials: SigV4Credentials[];
  /** Allowed clock skew. Default 15 minutes (what AWS allows). */
  maxSkewMs?: number;
}

export interface SignedRequest {
  method: string;
  /** The request target as received: path and query, still percent-encoded. */
  target: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface SigV4Failure {
  status: number;
  /** The AWS error code (`x-amzn-ErrorType`). */
  code: string;
  message: string;
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;:_.-]+),\s*Signature=([0-9a-f]{64})$/;

/** RFC 3986 percent-encoding, as SigV4 wants it (everything but unreserved characters). */
function escape(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The canonical path: normalised segments, each encoded again (services other than S3 double-encode). */
function canonicalPath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  const normalised = `${path.startsWith("/") ? "/" : ""}${segments.join("/")}${segments.length > 0 && path.endsWith("/") ? "/" : ""}`;
  return escape(normalised).replace(/%2F/g, "/");
}

function canonicalQuery(query: string): string {
  if (query === "") return "";
  return query
    .split("&")
    .filter((pair) => pair !== "")
    .map((pair) => {
      const at = pair.indexOf("=");
      const key = decodeURIComponent(at < 0 ? pair : pair.slice(0, at));
      const value = at < 0 ? "" : decodeURIComponent(pair.slice(at + 1).replace(/\+/g, " "));
      return [escape(key), escape(value)] as const;
    })
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  // HTTP/2 carries the host as the :authority pseudo-header.
  const raw = headers[name] ?? (name === "host" ? headers[":authority"] : undefined);
  if (raw === undefined) return undefined;
  return (Array.isArray(raw) ? raw.join(",") : String(raw)).trim().replace(/\s+/g, " ");
}

const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data, "utf8").digest();
const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

/** `20240102T030405Z` -> epoch ms, else NaN. */
function parseAmzDate(value: string | undefined): number {
  const m = value ? /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value) : null;
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : NaN;
}

export function verifySigV4(request: SignedRequest, expect: SigV4Expectation): SigV4Failure | undefined {
  const deny = (code: string, message: string, status = 403): SigV4Failure => ({ status, code, message });
  const authorization = headerValue(request.headers, "authorization");
  if (!authorization) return deny("MissingAuthenticationTokenException", "Missing Authentication Token");
  const m = AUTHORIZATION.exec(authorization);
  if (!m)
    return deny(
      "IncompleteSignatureException",
      "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters with AWS4-HMAC-SHA256.",
      400,
    );
  const [, accessKeyId, scopeDate, region, service, signedHeaderList, signature] = m as unknown as string[];
  const amzDate = headerValue(request.headers, "x-amz-date");
  const signedAt = parseAmzDate(amzDate);
  if (Number.isNaN(signedAt) || !amzDate!.startsWith(scopeDate!))
    return deny(
      "IncompleteSignatureException",
      "The request must carry an X-Amz-Date matching the credential scope's date.",
      400,
    );
  if (Math.abs(Date.now() - signedAt) > (expect.maxSkewMs ?? 15 * 60_000))
    return deny(
      "InvalidSignatureException",
      `Signature expired: ${amzDate} is not within 15 minutes of the server's time.`,
    );
  if (region !== expect.region)
    return deny(
      "InvalidSignatureException",
      `Credential should be scoped to a valid region. (expected '${expect.region}', got '${region}')`,
    );
  if (service !== expect.service)
    return deny(
      "InvalidSignatureException",
      `Credential should be scoped to correct service: '${expect.service}'.`,
    );
  const signedHeaders = signedHeaderList!.split(";");
  // Over HTTP/2 the host travels as :authority, and the SDK signs it under that name.
  if (
    !(signedHeaders.includes("host") || signedHeaders.includes(":authority")) ||
    !signedHeaders.includes("x-amz-date")
  )
    return deny(
      "InvalidSignatureException",
      "The host (or :authority) and x-amz-date headers must be signed.",
    );
  const known = expect.credentials.find((c) => c.accessKeyId === accessKeyId);
  if (expect.credentials.length === 0) return undefined;
  if (!known)
    return deny("UnrecognizedClientException", "The security token included in the request is invalid.");
  if (
    known.sessionToken !== undefined &&
    headerValue(request.headers, "x-amz-security-token") !== known.sessionToken
  )
    return deny("UnrecognizedClientException", "The security token included in the request is invalid.");

  const questionMark = request.target.indexOf("?");
  const path = questionMark < 0 ? request.target : request.target.slice(0, questionMark);
  const query = questionMark < 0 ? "" : request.target.slice(questionMark + 1);
  const canonicalHeaders = signedHeaders
    .map((name) => `${name}:${headerValue(request.headers, name) ?? ""}\n`)
    .join("");
  const payloadHash = sha256(request.body);
  const declared = headerValue(request.headers, "x-amz-content-sha256");
  if (declared !== undefined && declared !== payloadHash)
    return deny(
      "InvalidSignatureException",
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
      400,
    );
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalPath(path),
    canonicalQuery(query),
    canonicalHeaders,
    signedHeaderList,
    payloadHash,
  ].join("\n");
  const scope = `${scopeDate}/${region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonicalRequest)].join("\n");
  const key = hmac(
    hmac(hmac(hmac(`AWS4${known.secretAccessKey}`, scopeDate!), region!), service!),
    "aws4_request",
  );
  const expected = createHmac("sha256", key).update(stringToSign, "utf8").digest();
  if (!timingSafeEqual(expected, Buffer.from(signature!, "hex")))
    return deny(
      "InvalidSignatureException",
      "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
    );
  return undefined;
}
