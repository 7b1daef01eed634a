/**
 * Which calls are retried and how long each may take: the same rules as the Python SDK
 * (client_sdk/src/infogap/client/_channel.py and _defaults.py), so both clients behave alike.
 */
import type { DescMethod } from "@bufbuild/protobuf";

/** The default deadline of a call, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Calls that take long by nature get a deadline of their own unless the caller sets one. */
export const LONG_CALL_TIMEOUTS_MS: Readonly<Record<string, number>> = {
  // Training reads every event of a catalog.
  "infogap.v1.AdminService/Train": 600_000,
  // Several candidates are trained and queried in turn.
  "infogap.v1.AdminService/EvaluateModels": 3_600_000,
  // A bulk load streams many batches over one call.
  "infogap.v1.FeedbackService/StreamEvents": 600_000,
};

/**
 * Methods safe to send twice. RecordEvents is, because every event carries an id the server
 * deduplicates on (the client fills in missing ones); Train, EvaluateModels and StreamEvents
 * are not, nor are PatchUsers, the segment and experiment changes, or DeleteUser: a repeat
 * could report NOT_FOUND or ALREADY_EXISTS for a call that succeeded.
 */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  "infogap.v1.FeedbackService/RecordEvents",
  "infogap.v1.ProfileService/UpsertUsers",
  "infogap.v1.ProfileService/UpsertItems",
  "infogap.v1.ProfileService/GetProfile",
  "infogap.v1.ProfileService/GetProfiles",
  "infogap.v1.ProfileService/ListSegments",
  "infogap.v1.ProfileService/GetSegmentMembers",
  "infogap.v1.RecommendService/*", // every method of the service
  "infogap.v1.AdminService/GetModelInfo",
  "infogap.v1.AdminService/GetPrivacyBudget",
  "infogap.v1.AdminService/ListPlugins",
  "infogap.v1.AdminService/ListExperiments",
  "infogap.v1.AdminService/GetExperimentReport",
]);

/** How UNAVAILABLE calls are retried: gRPC's retry policy, as the Python SDK configures it. */
export interface RetryPolicy {
  /** Attempts in all, the first included; 1 turns retries off. */
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly backoffMultiplier: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 4,
  initialBackoffMs: 100,
  maxBackoffMs: 2_000,
  backoffMultiplier: 2,
};

/** `"infogap.v1.AdminService/Train"`: the path of a method after the base URL. */
export function methodPath(method: DescMethod): string {
  return `${method.parent.typeName}/${method.name}`;
}

export function isIdempotent(method: DescMethod): boolean {
  return (
    IDEMPOTENT_METHODS.has(methodPath(method)) ||
    IDEMPOTENT_METHODS.has(`${method.parent.typeName}/*`)
  );
}

/** The caller's deadline if given, else the method's long one, else the client's. */
export function timeoutFor(
  method: DescMethod,
  clientTimeoutMs: number,
  callTimeoutMs?: number,
): number {
  return callTimeoutMs ?? LONG_CALL_TIMEOUTS_MS[methodPath(method)] ?? clientTimeoutMs;
}

/**
 * The pause before retry `retry` (1 for the first), with full jitter as gRPC does: a random
 * time up to the exponential backoff, so that clients failed together do not retry together.
 */
export function backoffMs(policy: RetryPolicy, retry: number, random = Math.random): number {
  const ceiling = Math.min(
    policy.initialBackoffMs * policy.backoffMultiplier ** (retry - 1),
    policy.maxBackoffMs,
  );
  return random() * ceiling;
}

/** Rejects a policy that would retry forever or never wait. */
export function checkRetryPolicy(policy: RetryPolicy): RetryPolicy {
  const { maxAttempts, initialBackoffMs, maxBackoffMs, backoffMultiplier } = policy;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 10) {
    throw new RangeError(`retry.maxAttempts must be an integer from 1 to 10, got ${maxAttempts}`);
  }
  if (!(initialBackoffMs > 0 && maxBackoffMs >= initialBackoffMs && backoffMultiplier >= 1)) {
    throw new RangeError(
      "retry needs initialBackoffMs > 0, maxBackoffMs >= initialBackoffMs and " +
        "backoffMultiplier >= 1",
    );
  }
  return policy;
}
