/** What the tests share: the servers they are pointed at, and a small planted data set. */
import type { EventInit } from "../src/index.js";

/** The server under test (`INFOGAP_HTTP_URL`) and its admin key, if it has keys on. */
export const HTTP_URL = process.env.INFOGAP_HTTP_URL;
export const API_KEY = process.env.INFOGAP_API_KEY || undefined;
/** A second server with API keys on, its admin key and a key with the read scope only. */
export const HTTP_URL_KEYS = process.env.INFOGAP_HTTP_URL_KEYS;
export const ADMIN_KEY_KEYS = process.env.INFOGAP_ADMIN_KEY_KEYS;
export const READ_KEY_KEYS = process.env.INFOGAP_READ_KEY_KEYS;

/** Set apart this run's users, items and catalogs, so the tests can run again on one server. */
export const RUN = `${Date.now().toString(36)}${process.pid.toString(36)}`;

/** Why a test that needs a server is skipped, or false when it can run. */
export const NO_SERVER = HTTP_URL === undefined ? "INFOGAP_HTTP_URL is not set" : false;
export const NO_KEYED_SERVER =
  HTTP_URL_KEYS === undefined || ADMIN_KEY_KEYS === undefined || READ_KEY_KEYS === undefined
    ? "INFOGAP_HTTP_URL_KEYS, INFOGAP_ADMIN_KEY_KEYS and INFOGAP_READ_KEY_KEYS are not all set"
    : false;

export interface TwoTastes {
  users: { userId: string; attributes: Record<string, string> }[];
  items: { itemId: string; catalog: string; tags: string[] }[];
  events: EventInit[];
}

/**
 * Two groups of users with opposite tastes, in a catalog of their own: "red" users buy red
 * items, "blue" users blue ones. Each user buys the same 5 of their colour's 10 items but one,
 * chosen by their number, so every user has unseen items of their own colour left.
 */
export function twoTastes(prefix: string, catalog: string): TwoTastes {
  const data: TwoTastes = { users: [], items: [], events: [] };
  for (const colour of ["red", "blue"]) {
    for (let i = 0; i < 10; i++) {
      data.items.push({ itemId: `${prefix}-${colour}-${i}`, catalog, tags: [colour] });
    }
    for (let u = 0; u < 12; u++) {
      const userId = `${prefix}-${colour}-user-${u}`;
      data.users.push({ userId, attributes: { segment: colour } });
      for (let n = 0; n < 5; n++) {
        data.events.push({
          eventId: `${userId}-${n}`,
          userId,
          itemId: `${prefix}-${colour}-${(u + n) % 10}`,
          catalog,
          type: "purchase",
          value: 10,
        });
      }
    }
  }
  return data;
}
