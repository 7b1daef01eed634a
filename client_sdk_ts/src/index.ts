/**
 * @infogap/client: a typed client of the InfoGap personalization server over the Connect
 * protocol. The messages and service descriptors are generated from the server's protos
 * (`./gen/`); `InfoGapClient` adds deadlines, retries of idempotent calls, the API key and
 * typed errors.
 */
export { createInfoGapClient, InfoGapClient, MAX_BATCH_SIZE } from "./client.js";
export type { EventInit, InfoGapClientOptions } from "./client.js";
export {
  AlreadyExistsError,
  codeName,
  DeadlineExceededError,
  FailedPreconditionError,
  InfoGapError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  UnauthenticatedError,
  UnavailableError,
} from "./errors.js";
export type { FieldViolation } from "./errors.js";
export {
  DEFAULT_RETRY_POLICY,
  DEFAULT_TIMEOUT_MS,
  IDEMPOTENT_METHODS,
  LONG_CALL_TIMEOUTS_MS,
} from "./policy.js";
export type { RetryPolicy } from "./policy.js";
export { Code } from "@connectrpc/connect";
export * from "./gen/infogap/v1/entities_pb.js";
export * from "./gen/infogap/v1/feedback_service_pb.js";
export * from "./gen/infogap/v1/profile_service_pb.js";
export * from "./gen/infogap/v1/recommend_service_pb.js";
export * from "./gen/infogap/v1/admin_service_pb.js";
