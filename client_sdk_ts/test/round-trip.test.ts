/** Real round trips against a running InfoGap server, in both of Connect's formats. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createInfoGapClient } from "../src/index.js";
import { API_KEY, HTTP_URL, NO_SERVER, RUN, twoTastes } from "./support.js";

for (const useBinaryFormat of [false, true]) {
  const format = useBinaryFormat ? "binary" : "json";
  describe(`round trip (${format})`, { skip: NO_SERVER }, () => {
    const client = createInfoGapClient({
      baseUrl: HTTP_URL ?? "",
      apiKey: API_KEY,
      useBinaryFormat,
    });
    const prefix = `rt-${format}-${RUN}`;
    const catalog = prefix;
    const data = twoTastes(prefix, catalog);
    const redUser = `${prefix}-red-user-0`;

    test("upserts users and items, records events once", async () => {
      const users = await client.profiles.upsertUsers({ users: data.users });
      const items = await client.profiles.upsertItems({ items: data.items });
      assert.equal(users.upsertedCount, data.users.length);
      assert.equal(items.upsertedCount, data.items.length);
      const first = await client.record(data.events);
      assert.deepEqual(first, { storedCount: data.events.length, duplicateCount: 0 });
      const again = await client.record(data.events.slice(0, 3));
      assert.deepEqual(again, { storedCount: 0, duplicateCount: 3 });
    });

    test("events without an id get one, so each is stored", async () => {
      const event = {
        userId: `${prefix}-anonymous`,
        itemId: `${prefix}-red-0`,
        catalog,
        type: "view",
      };
      const response = await client.feedback.recordEvents({ events: [event, event] });
      assert.equal(response.storedCount, 2);
    });

    test("trains the catalog and recommends within the user's taste", async () => {
      const trained = await client.admin.train({ catalog });
      assert.ok(trained.models.length > 0, "Train reported no model");
      const response = await client.recommend.recommend({ userId: redUser, catalog, count: 4 });
      assert.notEqual(response.recommendationId, "");
      assert.notEqual(response.strategy, "");
      assert.equal(response.items.length, 4);
      const bought = new Set(data.events.filter((e) => e.userId === redUser).map((e) => e.itemId));
      for (const item of response.items) {
        assert.ok(!bought.has(item.itemId), `${item.itemId} was bought already`);
      }
      const filtered = await client.recommend.recommend({
        userId: redUser,
        catalog,
        count: 20,
        filter: { excludeTags: ["red"] },
      });
      assert.ok(filtered.items.length > 0);
      assert.ok(
        filtered.items.every((item) => item.itemId.includes("-blue-")),
        "a red item came through",
      );
    });

    test("bulk-loads over one client stream, ids filled in as it goes", async () => {
      async function* batches() {
        for (let batch = 0; batch < 3; batch++) {
          const userId = `${prefix}-streamed`;
          yield {
            events: [0, 1].map((n) => ({
              userId,
              itemId: `${prefix}-blue-${n}`,
              catalog,
              type: "view",
            })),
          };
        }
      }
      const response = await client.feedback.streamEvents(batches());
      assert.deepEqual(
        [response.storedCount, response.duplicateCount, response.batchCount],
        [6n, 0n, 3n],
      );
    });

    test("gets the profile with the events recorded", async () => {
      const { profile } = await client.profiles.getProfile({ userId: redUser });
      assert.ok(profile !== undefined);
      assert.equal(profile.userId, redUser);
      assert.equal(profile.attributes.segment, "red");
      assert.equal(profile.behaviour?.eventCount, 5n);
    });
  });
}
