/** Failed calls reject with typed errors: code, message, field violations, deadlines, keys. */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Code,
  createInfoGapClient,
  DeadlineExceededError,
  InfoGapError,
  InvalidArgumentError,
  PermissionDeniedError,
  UnauthenticatedError,
} from "../src/index.js";
import {
  ADMIN_KEY_KEYS,
  API_KEY,
  HTTP_URL,
  HTTP_URL_KEYS,
  NO_KEYED_SERVER,
  NO_SERVER,
  READ_KEY_KEYS,
} from "./support.js";

const event = (n: number, type = "click") => ({
  eventId: `errors-${n}-${type}`,
  userId: "errors-user",
  itemId: "errors-item",
  type,
});

test(
  "a bad request gives INVALID_ARGUMENT with its field violation",
  { skip: NO_SERVER },
  async () => {
    const client = createInfoGapClient({ baseUrl: HTTP_URL ?? "", apiKey: API_KEY });
    const batch = [event(0), event(1), event(2, "teleport")];
    const error = await client.feedback.recordEvents({ events: batch }).then(
      () => assert.fail("the bad batch was accepted"),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof InvalidArgumentError, `got ${String(error)}`);
    assert.ok(error instanceof InfoGapError);
    assert.equal(error.code, Code.InvalidArgument);
    assert.equal(error.codeName, "INVALID_ARGUMENT");
    assert.match(error.message, /unknown event type 'teleport'/);
    assert.deepEqual(
      error.fieldViolations.map((violation) => violation.field),
      ["events[2].type"],
    );
    assert.match(error.fieldViolations[0]?.description ?? "", /unknown event type/);
  },
);

test("a 1 ms deadline gives DEADLINE_EXCEEDED", { skip: NO_SERVER }, async () => {
  const client = createInfoGapClient({ baseUrl: HTTP_URL ?? "", apiKey: API_KEY });
  await assert.rejects(
    client.recommend.recommend({ userId: "errors-user", count: 5 }, { timeoutMs: 1 }),
    (error: unknown) =>
      error instanceof DeadlineExceededError && error.code === Code.DeadlineExceeded,
  );
});

test(
  "with keys on, a call without a key or with a wrong one is UNAUTHENTICATED",
  { skip: NO_KEYED_SERVER },
  async () => {
    for (const apiKey of [undefined, "not-a-key-of-this-server"]) {
      const client = createInfoGapClient({ baseUrl: HTTP_URL_KEYS ?? "", apiKey });
      await assert.rejects(
        client.admin.listPlugins({}),
        (error: unknown) =>
          error instanceof UnauthenticatedError && error.codeName === "UNAUTHENTICATED",
      );
    }
    const admin = createInfoGapClient({ baseUrl: HTTP_URL_KEYS ?? "", apiKey: ADMIN_KEY_KEYS });
    const plugins = await admin.admin.listPlugins({});
    assert.ok(plugins.plugins.length > 0);
  },
);

test(
  "a key without the admin scope is PERMISSION_DENIED on an admin call",
  { skip: NO_KEYED_SERVER },
  async () => {
    const reader = createInfoGapClient({ baseUrl: HTTP_URL_KEYS ?? "", apiKey: READ_KEY_KEYS });
    await assert.rejects(reader.admin.listPlugins({}), PermissionDeniedError);
    await reader.profiles.listSegments({}); // the read scope is enough for this one
  },
);

test("an empty API key or deadline is refused when the client is made", () => {
  assert.throws(
    () => createInfoGapClient({ baseUrl: "http://127.0.0.1:1", apiKey: "" }),
    /apiKey is empty/,
  );
  assert.throws(
    () => createInfoGapClient({ baseUrl: "http://127.0.0.1:1", timeoutMs: 0 }),
    RangeError,
  );
  assert.throws(
    () => createInfoGapClient({ baseUrl: "http://127.0.0.1:1", retry: { maxAttempts: 0 } }),
    RangeError,
  );
});
