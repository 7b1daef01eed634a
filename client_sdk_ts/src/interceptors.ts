/** The interceptors every InfoGap client puts on its transport, outermost first. */
import { randomUUID } from "node:crypto";
import { isMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import {
  RecordEventsRequestSchema,
  StreamEventsRequestSchema,
  type StreamEventsRequest,
} from "./gen/infogap/v1/feedback_service_pb.js";
import type { Event } from "./gen/infogap/v1/entities_pb.js";
import { backoffMs, isIdempotent, type RetryPolicy } from "./policy.js";

/** Sends the API key as `authorization: Bearer <key>`, and the caller's own headers. */
export function headersInterceptor(
  apiKey: string | undefined,
  headers: Readonly<Record<string, string>>,
): Interceptor {
  return (next) => (req) => {
    for (const [name, value] of Object.entries(headers)) {
      req.header.set(name, value);
    }
    if (apiKey !== undefined) {
      req.header.set("authorization", `Bearer ${apiKey}`);
    }
    return next(req);
  };
}

/** A random event id, as the Python SDK makes them (32 hex digits). */
export function newEventId(): string {
  return randomUUID().replaceAll("-", "");
}

function fillEventIds(events: Event[]): void {
  for (const event of events) {
    if (event.eventId === "") {
      event.eventId = newEventId();
    }
  }
}

async function* withEventIds(requests: AsyncIterable<unknown>): AsyncIterable<StreamEventsRequest> {
  for await (const request of requests) {
    if (isMessage(request, StreamEventsRequestSchema)) {
      fillEventIds(request.events);
    }
    yield request as StreamEventsRequest;
  }
}

/**
 * Gives every recorded event without an id a random one before the first attempt, so that
 * a retried RecordEvents (or a redelivered batch) stores nothing twice.
 */
export const eventIdsInterceptor: Interceptor = (next) => (req) => {
  if (!req.stream && isMessage(req.message, RecordEventsRequestSchema)) {
    fillEventIds(req.message.events);
    return next(req);
  }
  if (req.stream && req.method.input.typeName === StreamEventsRequestSchema.typeName) {
    return next({ ...req, message: withEventIds(req.message) });
  }
  return next(req);
};

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

const TIMEOUT_HEADER = "connect-timeout-ms";

/**
 * Retries unary idempotent calls that fail with UNAVAILABLE, with exponential backoff, within
 * the call's deadline (the deadline covers every attempt, as in gRPC). Each retry tells the
 * server the time that is left rather than the whole deadline again.
 */
export function retryInterceptor(policy: RetryPolicy): Interceptor {
  return (next) => async (req) => {
    if (req.stream || !isIdempotent(req.method) || policy.maxAttempts <= 1) {
      return next(req);
    }
    const started = Date.now();
    const timeoutHeader = req.header.get(TIMEOUT_HEADER);
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(req);
      } catch (error) {
        const retryable = error instanceof ConnectError && error.code === Code.Unavailable;
        if (!retryable || attempt >= policy.maxAttempts || req.signal.aborted) {
          throw error;
        }
      }
      await sleep(backoffMs(policy, attempt), req.signal);
      if (timeoutHeader !== null) {
        const leftMs = Number(timeoutHeader) - (Date.now() - started);
        req.header.set(TIMEOUT_HEADER, String(Math.max(1, Math.round(leftMs))));
      }
    }
  };
}
