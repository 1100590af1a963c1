/**
 * A small evaluator of IAM identity policies for one action on one resource, used when the
 * IAM policy simulator cannot be called (no iam:SimulatePrincipalPolicy, or an emulator).
 * It follows IAM's order: an explicit Deny wins, else any Allow, else implicitly denied.
 * It reads Action/NotAction, Resource/NotResource (strings or lists, `*` and `?` wildcards);
 * Condition blocks are not evaluated: they are reported, so a reader can judge them.
 */

export interface PolicyStatement {
  Sid?: string;
  Effect?: string;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: unknown;
}

export interface NamedPolicy {
  /** `inline:NAME` or the managed policy's ARN. */
  name: string;
  document: { Statement?: PolicyStatement | PolicyStatement[] };
}

export interface Evaluation {
  decision: "allowed" | "explicitDeny" | "implicitDeny";
  /** Statements that decided (the Deny, or the Allows). */
  matched: { policy: string; sid?: string; conditional: boolean }[];
  /** Resources other statements allow the action on: what is there instead, for the report. */
  allowedElsewhere: { policy: string; resources: string[] }[];
}

const list = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** IAM wildcard match: `*` any run of characters, `?` one character. */
export function wildcardMatch(pattern: string, value: string, caseInsensitive = false): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${regex}$`, caseInsensitive ? "i" : "").test(value);
}

function matchesAction(s: PolicyStatement, action: string): boolean {
  if (s.Action !== undefined) return list(s.Action).some((p) => wildcardMatch(p, action, true));
  if (s.NotAction !== undefined) return !list(s.NotAction).some((p) => wildcardMatch(p, action, true));
  return false;
}

function matchesResource(s: PolicyStatement, resource: string): boolean {
  if (s.Resource !== undefined) return list(s.Resource).some((p) => wildcardMatch(p, resource));
  if (s.NotResource !== undefined) return !list(s.NotResource).some((p) => wildcardMatch(p, resource));
  return false;
}

export function evaluate(policies: readonly NamedPolicy[], action: string, resource: string): Evaluation {
  const allows: Evaluation["matched"] = [];
  const denies: Evaluation["matched"] = [];
  const allowedElsewhere: Evaluation["allowedElsewhere"] = [];
  for (const policy of policies) {
    const statements = policy.document.Statement;
    for (const s of statements === undefined ? [] : Array.isArray(statements) ? statements : [statements]) {
      if (!matchesAction(s, action)) continue;
      const hit = {
        policy: policy.name,
        ...(s.Sid ? { sid: s.Sid } : {}),
        conditional: s.Condition !== undefined,
      };
      if (matchesResource(s, resource)) {
        (s.Effect === "Deny" ? denies : s.Effect === "Allow" ? allows : []).push(hit);
      } else if (s.Effect === "Allow") {
        const resources =
          s.Resource !== undefined ? list(s.Resource) : list(s.NotResource).map((r) => `not ${r}`);
        allowedElsewhere.push({ policy: policy.name, resources });
      }
    }
  }
  if (denies.length > 0) return { decision: "explicitDeny", matched: denies, allowedElsewhere };
  if (allows.length > 0) return { decision: "allowed", matched: allows, allowedElsewhere };
  return { decision: "implicitDeny", matched: [], allowedElsewhere };
}

/** A policy document as IAM returns it (URL-encoded JSON) or already decoded. */
export function parsePolicyDocument(text: string): NamedPolicy["document"] {
  try {
    return JSON.parse(text) as NamedPolicy["document"];
  } catch {
    return JSON.parse(decodeURIComponent(text)) as NamedPolicy["document"];
  }
}
