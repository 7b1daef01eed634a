/** The InfoGap client: one Connect transport, a typed client per service, SDK conveniences. */
import type { DescService, MessageInitShape } from "@bufbuild/protobuf";
import {
  createClient,
  type CallOptions,
  type Client,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type * as http from "node:http";
import type * as https from "node:https";
import { rethrowAsInfoGapError } from "./errors.js";
import type { EventSchema } from "./gen/infogap/v1/entities_pb.js";
import { AdminService } from "./gen/infogap/v1/admin_service_pb.js";
import { FeedbackService } from "./gen/infogap/v1/feedback_service_pb.js";
import { ProfileService } from "./gen/infogap/v1/profile_service_pb.js";
import { RecommendService } from "./gen/infogap/v1/recommend_service_pb.js";
import { eventIdsInterceptor, headersInterceptor, retryInterceptor } from "./interceptors.js";
import {
  checkRetryPolicy,
  DEFAULT_RETRY_POLICY,
  DEFAULT_TIMEOUT_MS,
  timeoutFor,
  type RetryPolicy,
} from "./policy.js";

export interface InfoGapClientOptions {
  /** The server's HTTP address, e.g. `"http://localhost:8080"` (`https://` with TLS). */
  baseUrl: string;
  /** Sent with every call as `authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** The default deadline of each call in ms (10 s); Train, EvaluateModels and StreamEvents
   * have long ones of their own. A call's `timeoutMs` option wins over both. */
  timeoutMs?: number;
  /** How idempotent calls are retried on UNAVAILABLE; `{ maxAttempts: 1 }` turns it off. */
  retry?: Partial<RetryPolicy>;
  /** Protobuf binary rather than JSON bodies (smaller and faster; JSON is easier to read). */
  useBinaryFormat?: boolean;
  /** Further headers sent with every call. */
  headers?: Readonly<Record<string, string>>;
  /** Interceptors of your own, run inside the SDK's (after the API key, around each attempt). */
  interceptors?: Interceptor[];
  /** Passed to Node's `http.request`/`https.request`: e.g. `ca`, `cert` and `key` for TLS. */
  nodeOptions?: Omit<http.RequestOptions, "signal"> | Omit<https.RequestOptions, "signal">;
}

/** An event to record, with the field names of `infogap.v1.Event` in camelCase. */
export type EventInit = MessageInitShape<typeof EventSchema>;

/** The most events the server takes in one RecordEvents call. */
export const MAX_BATCH_SIZE = 1_000;

/** A client of an InfoGap server, over the Connect protocol (HTTP/1.1, JSON or binary). */
export class InfoGapClient {
  /** RecordEvents and StreamEvents. Events without an `eventId` get a random one. */
  readonly feedback: Client<typeof FeedbackService>;
  /** Users, items, profiles and segments. */
  readonly profiles: Client<typeof ProfileService>;
  /** Recommend, SimilarItems and RankItems. */
  readonly recommend: Client<typeof RecommendService>;
  /** Training, model information, plugins, privacy budget, evaluation and experiments. */
  readonly admin: Client<typeof AdminService>;
  readonly baseUrl: string;

  constructor(options: InfoGapClientOptions) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(timeoutMs > 0)) {
      throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);
    }
    if (options.apiKey === "") {
      // Most likely an unset environment variable: say so rather than send "Bearer ".
      throw new Error("apiKey is empty; leave it undefined to send no API key");
    }
    const retry = checkRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...options.retry });
    this.baseUrl = options.baseUrl;
    const transport = createConnectTransport({
      baseUrl: options.baseUrl,
      httpVersion: "1.1",
      useBinaryFormat: options.useBinaryFormat ?? false,
      nodeOptions: options.nodeOptions,
      interceptors: [
        headersInterceptor(options.apiKey, options.headers ?? {}),
        eventIdsInterceptor,
        retryInterceptor(retry),
        ...(options.interceptors ?? []),
      ],
    });
    this.feedback = serviceClient(FeedbackService, transport, timeoutMs);
    this.profiles = serviceClient(ProfileService, transport, timeoutMs);
    this.recommend = serviceClient(RecommendService, transport, timeoutMs);
    this.admin = serviceClient(AdminService, transport, timeoutMs);
  }

  /**
   * Records events in batches of at most 1,000 calls. Events without an `eventId` get a random
   * one first, which makes the retries safe. If a later batch fails, the earlier ones stay
   * stored.
   *
   * @returns The stored and duplicate counts, summed over the batches.
   */
  async record(
    events: readonly EventInit[],
    options?: CallOptions,
  ): Promise<{ storedCount: number; duplicateCount: number }> {
    let storedCount = 0;
    let duplicateCount = 0;
    for (let start = 0; start < events.length; start += MAX_BATCH_SIZE) {
      const batch = events.slice(start, start + MAX_BATCH_SIZE);
      const response = await this.feedback.recordEvents({ events: batch }, options);
      storedCount += response.storedCount;
      duplicateCount += response.duplicateCount;
    }
    return { storedCount, duplicateCount };
  }
}

/** Shorthand for `new InfoGapClient(options)`, in the style of Connect's `createClient`. */
export function createInfoGapClient(options: InfoGapClientOptions): InfoGapClient {
  return new InfoGapClient(options);
}

type AnyCall = (request: unknown, options?: CallOptions) => Promise<unknown>;

/**
 * Connect's client for a service, each method with its default deadline and InfoGapErrors
 * instead of ConnectErrors. The type is Connect's own, so requests and responses stay typed.
 */
function serviceClient<S extends DescService>(
  service: S,
  transport: Transport,
  clientTimeoutMs: number,
): Client<S> {
  const connectClient = createClient(service, transport) as unknown as Record<string, AnyCall>;
  const methods: Record<string, AnyCall> = {};
  for (const method of service.methods) {
    const call = connectClient[method.localName];
    if (call === undefined) {
      continue;
    }
    methods[method.localName] = (request, options) =>
      call(request, {
        ...options,
        timeoutMs: timeoutFor(method, clientTimeoutMs, options?.timeoutMs),
      }).catch(rethrowAsInfoGapError);
  }
  return methods as unknown as Client<S>;
}
