/**
 * A small evaluator of IAM policies for one action on one resource, used when the IAM policy
 * simulator cannot be called (no iam:SimulatePrincipalPolicy, or an emulator), and by the
 * tests of the policies the stack writes. It follows IAM's order: an explicit Deny wins, else
 * any Allow, else implicitly denied. It reads Action/NotAction, Resource/NotResource and
 * Principal (strings or lists, `*` and `?` wildcards). Conditions are evaluated when the
 * caller gives the request's context keys (the common string, ARN, Null and Bool operators,
 * with IfExists); without a context they are reported, not evaluated, so a reader can judge.
 */

export interface PolicyStatement {
  Sid?: string;
  Effect?: string;
  Principal?: "*" | Record<string, string | string[]>;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, string | string[] | boolean>>;
}

export interface NamedPolicy {
  /** `inline:NAME` or the managed policy's ARN. */
  name: string;
  document: { Statement?: PolicyStatement | PolicyStatement[] };
}

/** What IAM knows about a request beyond its action and resource. */
export interface RequestContext {
  /** Condition keys present in the request (`aws:SourceAccount`, `lambda:SourceFunctionArn`...). */
  keys: Record<string, string | string[]>;
  /** Who is calling, for trust policies: `{ Service: "pods.eks.amazonaws.com" }`. */
  principal?: Record<string, string>;
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

/**
 * IAM wildcard match: `*` any run of characters, `?` one character. Iterative, with one
 * remembered star: time O(|pattern| x |value|) at worst, never exponential (a regular
 * expression built from the pattern backtracked for 27 s on a 15-character pattern).
 */
export function wildcardMatch(pattern: string, value: string, caseInsensitive = false): boolean {
  const p = caseInsensitive ? pattern.toLowerCase() : pattern;
  const v = caseInsensitive ? value.toLowerCase() : value;
  let pi = 0;
  let vi = 0;
  let star = -1;
  let resume = 0;
  while (vi < v.length) {
    if (pi < p.length && (p[pi] === "?" || p[pi] === v[vi])) {
      pi++;
      vi++;
    } else if (pi < p.length && p[pi] === "*") {
      star = pi++;
      resume = vi;
    } else if (star !== -1) {
      pi = star + 1;
      vi = ++resume;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === "*") pi++;
  return pi === p.length;
}

function matchesAction(s: PolicyStatement, action: string): boolean {
  if (s.Action !== undefined) return list(s.Action).some((p) => wildcardMatch(p, action, true));
  if (s.NotAction !== undefined) return !list(s.NotAction).some((p) => wildcardMatch(p, action, true));
  return false;
}

function matchesResource(s: PolicyStatement, resource: string): boolean {
  // Trust policies name no resource: the role itself is the resource.
  if (s.Resource === undefined && s.NotResource === undefined) return s.Principal !== undefined;
  if (s.Resource !== undefined) return list(s.Resource).some((p) => wildcardMatch(p, resource));
  return !list(s.NotResource).some((p) => wildcardMatch(p, resource));
}

function matchesPrincipal(s: PolicyStatement, context: RequestContext | undefined): boolean {
  if (s.Principal === undefined || context?.principal === undefined) return true;
  if (s.Principal === "*") return true;
  return Object.entries(context.principal).some(([kind, who]) =>
    list(s.Principal === "*" ? "*" : s.Principal?.[kind]).some((p) => wildcardMatch(p, who)),
  );
}

/** One operator on one key: true when the condition holds for the request. */
function conditionHolds(operator: string, key: string, expected: string[], context: RequestContext): boolean {
  const found = Object.entries(context.keys).find(([k]) => k.toLowerCase() === key.toLowerCase())?.[1];
  const actual = found === undefined ? undefined : list(found);
  const ifExists = operator.endsWith("IfExists");
  const base = ifExists ? operator.slice(0, -"IfExists".length) : operator;
  if (base === "Null") {
    const wantAbsent = expected.some((e) => e === "true");
    return wantAbsent ? actual === undefined : actual !== undefined;
  }
  const negated = /Not(Equals|Like)/.test(base);
  if (actual === undefined) return ifExists || negated;
  const compare: Record<string, (want: string, got: string) => boolean> = {
    StringEquals: (w, g) => w === g,
    StringNotEquals: (w, g) => w === g,
    StringEqualsIgnoreCase: (w, g) => w.toLowerCase() === g.toLowerCase(),
    StringLike: (w, g) => wildcardMatch(w, g),
    StringNotLike: (w, g) => wildcardMatch(w, g),
    ArnEquals: (w, g) => w === g,
    ArnNotEquals: (w, g) => w === g,
    ArnLike: (w, g) => wildcardMatch(w, g),
    ArnNotLike: (w, g) => wildcardMatch(w, g),
    Bool: (w, g) => w.toLowerCase() === g.toLowerCase(),
  };
  const fn = compare[base];
  if (fn === undefined) throw new Error(`condition operator ${operator} is not supported by this evaluator`);
  const any = actual.some((got) => expected.some((want) => fn(want, got)));
  return negated ? !any : any;
}

function conditionsHold(s: PolicyStatement, context: RequestContext): boolean {
  return Object.entries(s.Condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, values]) =>
      conditionHolds(operator, key, list(typeof values === "boolean" ? String(values) : values), context),
    ),
  );
}

/**
 * The decision for `action` on `resource`. With `context`, Condition blocks and Principal are
 * evaluated; without it, a statement with conditions counts as matching (and is marked).
 */
export function evaluate(
  policies: readonly NamedPolicy[],
  action: string,
  resource: string,
  context?: RequestContext,
): Evaluation {
  const allows: Evaluation["matched"] = [];
  const denies: Evaluation["matched"] = [];
  const allowedElsewhere: Evaluation["allowedElsewhere"] = [];
  for (const policy of policies) {
    const statements = policy.document.Statement;
    for (const s of statements === undefined ? [] : Array.isArray(statements) ? statements : [statements]) {
      if (!matchesAction(s, action) || !matchesPrincipal(s, context)) continue;
      if (context !== undefined && !conditionsHold(s, context)) continue;
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
