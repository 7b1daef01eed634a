/**
 * Retries and deadlines, through a tiny HTTP server in front of the real one that answers
 * 503 (as a load balancer does while no replica is ready) to the first requests it gets.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  AdminService,
  createInfoGapClient,
  DeadlineExceededError,
  DEFAULT_RETRY_POLICY,
  FeedbackService,
  IDEMPOTENT_METHODS,
  LONG_CALL_TIMEOUTS_MS,
  ProfileService,
  UnavailableError,
} from "../src/index.js";
import { RecommendService as Recommend } from "../src/gen/infogap/v1/recommend_service_pb.js";
import { backoffMs, isIdempotent, timeoutFor } from "../src/policy.js";
import { API_KEY, HTTP_URL, NO_SERVER, RUN } from "./support.js";

/**
 * Answers 503 to the next `failures` requests, then forwards them to `target` (if any). The
 * next `lostAnswers` forwarded requests reach the server, but their answer is replaced by 503,
 * as when a connection breaks after the server acted.
 */
class FlakyProxy {
  failures = 0;
  lostAnswers = 0;
  requests = 0;
  /** The `connect-timeout-ms` header of each request, as the server would see it. */
  timeouts: string[] = [];
  private readonly server: http.Server;

  constructor(private readonly target: string | undefined) {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests++;
    this.timeouts.push(String(req.headers["connect-timeout-ms"]));
    if (this.failures > 0 || this.target === undefined) {
      this.failures--;
      req.resume();
      res.writeHead(503, { "content-type": "text/plain" }).end("no replica is ready\n");
      return;
    }
    const forwarded = http.request(
      new URL(req.url ?? "/", this.target),
      { method: req.method, headers: req.headers },
      (answer) => {
        if (this.lostAnswers > 0) {
          this.lostAnswers--;
          answer.resume();
          answer.on("end", () => res.writeHead(503).end());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(forwarded);
  }
}

describe("retries on UNAVAILABLE", { skip: NO_SERVER }, () => {
  const proxy = new FlakyProxy(HTTP_URL);
  before(() => proxy.listen());
  after(() => proxy.close());
  const client = () => createInfoGapClient({ baseUrl: proxy.url, apiKey: API_KEY });

  test("an idempotent call succeeds after two 503s, in three attempts", async () => {
    proxy.failures = 2;
    proxy.requests = 0;
    proxy.timeouts = [];
    const response = await client().profiles.upsertUsers({ users: [{ userId: "retry-user" }] });
    assert.equal(response.upsertedCount, 1);
    assert.equal(proxy.requests, 3);
    // Each retry tells the server the time left, never more than the call's deadline.
    const left = proxy.timeouts.map(Number);
    assert.equal(left[0], 10_000);
    assert.ok(left[2]! <= left[1]! && left[1]! <= left[0]!, `timeouts sent: ${left}`);
  });

  test("RecordEvents is retried with the same event ids, so a lost answer stores nothing twice", async () => {
    proxy.lostAnswers = 1;
    proxy.requests = 0;
    const userId = `retry-user-${RUN}`;
    const events = [{ userId, itemId: "retry-item", type: "view" }]; // no eventId: the SDK's
    const response = await client().feedback.recordEvents({ events });
    assert.equal(proxy.requests, 2);
    // The first attempt stored the event; the retry found it there already.
    assert.deepEqual([response.storedCount, response.duplicateCount], [0, 1]);
    const { profile } = await createInfoGapClient({
      baseUrl: HTTP_URL ?? "",
      apiKey: API_KEY,
    }).profiles.getProfile({ userId });
    assert.equal(profile?.behaviour?.eventCount, 1n);
  });

  test("a call that is not idempotent (Train) is sent once", async () => {
    proxy.failures = 1;
    proxy.requests = 0;
    await assert.rejects(client().admin.train({ catalog: "retry" }), UnavailableError);
    assert.equal(proxy.requests, 1);
  });

  test("a server that stays unavailable is tried maxAttempts times", async () => {
    proxy.failures = 100;
    proxy.requests = 0;
    const started = Date.now();
    await assert.rejects(client().recommend.recommend({ userId: "retry-user" }), UnavailableError);
    assert.equal(proxy.requests, DEFAULT_RETRY_POLICY.maxAttempts);
    assert.ok(Date.now() - started < 3_000, "the backoffs add up to more than the policy allows");
    proxy.failures = 0;
  });

  test("retries stop at the call's deadline", async () => {
    proxy.failures = 100;
    proxy.requests = 0;
    const slow = createInfoGapClient({
      baseUrl: proxy.url,
      retry: { maxAttempts: 10, initialBackoffMs: 200, maxBackoffMs: 200, backoffMultiplier: 1 },
    });
    const started = Date.now();
    await assert.rejects(
      slow.recommend.recommend({ userId: "retry-user" }, { timeoutMs: 150 }),
      DeadlineExceededError,
    );
    assert.ok(Date.now() - started < 1_000);
    // Nine pauses of up to 200 ms each would all have to be short to fit in 150 ms.
    assert.ok(proxy.requests < 10, `${proxy.requests} attempts within 150 ms`);
    proxy.failures = 0;
  });
});

test("nothing listening gives UNAVAILABLE after the retries", async () => {
  const closed = new FlakyProxy(undefined);
  await closed.listen();
  const url = closed.url;
  await closed.close(); // the port is free now: connections are refused
  const client = createInfoGapClient({ baseUrl: url, retry: { initialBackoffMs: 20 } });
  await assert.rejects(
    client.profiles.getProfile({ userId: "anyone" }),
    (error: unknown) => error instanceof UnavailableError && error.codeName === "UNAVAILABLE",
  );
});

describe("the policy, as the Python SDK's", () => {
  const methods = [FeedbackService, ProfileService, Recommend, AdminService].flatMap(
    (service) => service.methods,
  );

  test("every idempotent entry names a real method or service", () => {
    const paths = new Set(methods.map((m) => `${m.parent.typeName}/${m.name}`));
    const services = new Set(methods.map((m) => `${m.parent.typeName}/*`));
    for (const entry of IDEMPOTENT_METHODS) {
      assert.ok(paths.has(entry) || services.has(entry), `${entry} is not in the protos`);
    }
  });

  test("long and costly calls, streams and changes are not retried", () => {
    const retried = new Set(methods.filter(isIdempotent).map((m) => m.name));
    for (const name of [
      "Train",
      "EvaluateModels",
      "StreamEvents",
      "PatchUsers",
      "DeleteUser",
      "CreateExperiment",
    ]) {
      assert.ok(!retried.has(name), `${name} is retried`);
    }
    for (const name of ["Recommend", "SimilarItems", "RankItems", "RecordEvents", "GetProfile"]) {
      assert.ok(retried.has(name), `${name} is not retried`);
    }
  });

  test("Train, EvaluateModels and StreamEvents get long deadlines; a call's own wins", () => {
    const train = AdminService.method.train;
    assert.equal(timeoutFor(train, 10_000), LONG_CALL_TIMEOUTS_MS["infogap.v1.AdminService/Train"]);
    assert.equal(timeoutFor(train, 10_000, 5), 5);
    assert.equal(timeoutFor(Recommend.method.recommend, 10_000), 10_000);
  });

  test("backoff grows exponentially up to its ceiling, with jitter below it", () => {
    const top = () => 1;
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((retry) => backoffMs(DEFAULT_RETRY_POLICY, retry, top)),
      [100, 200, 400, 800, 1600, 2000],
    );
    assert.equal(
      backoffMs(DEFAULT_RETRY_POLICY, 3, () => 0.5),
      200,
    );
  });
});
