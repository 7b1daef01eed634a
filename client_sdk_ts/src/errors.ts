/**
 * The SDK's errors. A failed call never rejects with a bare ConnectError: it rejects with an
 * InfoGapError subclass chosen by the status code, so callers can catch `NotFoundError` rather
 * than compare codes, and read the field violations of a bad request without decoding details.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "./gen/google/rpc/error_details_pb.js";

/** One bad field of an INVALID_ARGUMENT error, e.g. `{ field: "events[3].type", ... }`. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** A call to the InfoGap server failed. */
export class InfoGapError extends Error {
  /** The status code (Connect's codes are gRPC's: `Code.InvalidArgument` is 3). */
  readonly code: Code;
  /** The code as gRPC spells it, e.g. `"INVALID_ARGUMENT"`, as the Python SDK shows it. */
  readonly codeName: string;
  /** The bad fields of an INVALID_ARGUMENT error (google.rpc.BadRequest), possibly none. */
  readonly fieldViolations: readonly FieldViolation[];

  /** `message` is the server's explanation, without the code in front. */
  constructor(
    code: Code,
    message: string,
    fieldViolations: readonly FieldViolation[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.codeName = codeName(code);
    this.fieldViolations = fieldViolations;
  }

  override toString(): string {
    return `${this.name}: ${this.codeName}: ${this.message}`;
  }
}

/** The request is malformed; `fieldViolations` or the message names the bad field. */
export class InvalidArgumentError extends InfoGapError {}
/** The user, item or model asked for does not exist. */
export class NotFoundError extends InfoGapError {}
/** Something of that name exists already, e.g. an experiment. */
export class AlreadyExistsError extends InfoGapError {}
/** The server is not in a state to do this yet, e.g. training a catalog without events. */
export class FailedPreconditionError extends InfoGapError {}
/** A quota, rate or size limit was hit. */
export class ResourceExhaustedError extends InfoGapError {}
/** The API key is missing or wrong. */
export class UnauthenticatedError extends InfoGapError {}
/** The API key is valid but not allowed to make this call. */
export class PermissionDeniedError extends InfoGapError {}
/** The server could not be reached, even after the automatic retries of idempotent calls. */
export class UnavailableError extends InfoGapError {}
/** The call did not finish within its deadline. */
export class DeadlineExceededError extends InfoGapError {}

type ErrorClass = new (
  code: Code,
  message: string,
  fieldViolations?: readonly FieldViolation[],
  options?: { cause?: unknown },
) => InfoGapError;

const ERROR_CLASSES: ReadonlyMap<Code, ErrorClass> = new Map<Code, ErrorClass>([
  [Code.InvalidArgument, InvalidArgumentError],
  [Code.NotFound, NotFoundError],
  [Code.AlreadyExists, AlreadyExistsError],
  [Code.FailedPrecondition, FailedPreconditionError],
  [Code.ResourceExhausted, ResourceExhaustedError],
  [Code.Unauthenticated, UnauthenticatedError],
  [Code.PermissionDenied, PermissionDeniedError],
  [Code.Unavailable, UnavailableError],
  [Code.DeadlineExceeded, DeadlineExceededError],
]);

/** `Code.InvalidArgument` -> `"INVALID_ARGUMENT"`. */
export function codeName(code: Code): string {
  const name = Code[code] as string | undefined;
  return name === undefined ? "UNKNOWN" : name.replace(/(?<!^)(?=[A-Z])/g, "_").toUpperCase();
}

/** The InfoGapError subclass matching a ConnectError, with its field violations read. */
export function fromConnectError(error: ConnectError): InfoGapError {
  const ErrorType = ERROR_CLASSES.get(error.code) ?? InfoGapError;
  return new ErrorType(error.code, error.rawMessage, fieldViolations(error), { cause: error });
}

function fieldViolations(error: ConnectError): FieldViolation[] {
  let badRequests;
  try {
    badRequests = error.findDetails(BadRequestSchema);
  } catch {
    // Malformed details must not hide the error they came with; the message names the field.
    return [];
  }
  return badRequests.flatMap((badRequest) =>
    badRequest.fieldViolations.map(({ field, description }) => ({ field, description })),
  );
}

/** Rethrows what a call rejected with as an InfoGapError when it is a ConnectError. */
export function rethrowAsInfoGapError(error: unknown): never {
  throw error instanceof ConnectError ? fromConnectError(error) : error;
}
