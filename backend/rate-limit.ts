/**
 * Requests per client: a token bucket per client address (`burst` requests at once, refilled
 * at `perMinute`). Memory is bounded: at most `maxClients` buckets, the least recently seen
 * dropped first, and an IPv6 client counts by its /64 (one machine usually owns a whole /64,
 * so rotating addresses inside it buys nothing).
 *
 * Per replica: with N replicas a client gets up to N times the rate. The client address is
 * the TCP peer unless TRUST_PROXY says which proxies' X-Forwarded-For to believe; behind an
 * ingress without it, every user shares the ingress's bucket.
 */
import { isIPv6 } from "node:net";

export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedMs: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    readonly perMinute: number,
    readonly burst: number,
    readonly maxClients = 10000,
  ) {
    this.perMs = perMinute / 60000;
  }

  take(client: string, nowMs = Date.now()): RateDecision {
    const key = clientKey(client);
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, updatedMs: nowMs };
    bucket.tokens = Math.min(this.burst, bucket.tokens + (nowMs - bucket.updatedMs) * this.perMs);
    bucket.updatedMs = nowMs;
    // Most recently seen last: the first entry is the one to drop when full.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxClients) this.buckets.delete(this.buckets.keys().next().value!);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000)) };
  }

  get clients(): number {
    return this.buckets.size;
  }
}

/** An IPv4 address as is; an IPv6 address by its first 64 bits. */
export function clientKey(address: string): string {
  const plain = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");
  if (!isIPv6(plain)) return plain;
  const [head = "", tail = ""] = plain.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = plain.includes("::")
    ? [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g || "0", 16).toString(16))
    .join(":")}::/64`;
}
