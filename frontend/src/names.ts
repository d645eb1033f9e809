// Bots are keyed "bot:<id>" in the fleet, but operators know them as @name: ask Telegram once
// (get_me through the pool) and remember the answer in this browser.

import { api, enc } from "./api";
import type { Account } from "./types";

const KEY = "tgfleet.botnames";
const known = new Map<string, string>(Object.entries(load()));
const asking = new Set<string>();

function load(): Record<string, string> {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? "{}") as Record<string, string>;
  } catch {
    return {};
  }
}

export function accountName(a: Account): string {
  if (a.kind !== "bot") return a.phone ?? a.key;
  const name = known.get(a.key);
  return name ? `@${name}` : a.key;
}

/** Learn the @names of these bots; ``then`` runs when one was learnt. */
export function learnBotNames(accounts: Account[], then: () => void): void {
  for (const a of accounts) {
    if (a.kind !== "bot" || !a.enabled || known.has(a.key) || asking.has(a.key)) continue;
    asking.add(a.key);
    void api
      .get<{ username: string | null }>(`/api/v1/accounts/${enc(a.key)}/me`)
      .then((me) => {
        if (!me.username) return;
        known.set(a.key, me.username);
        localStorage.setItem(KEY, JSON.stringify(Object.fromEntries(known)));
        then();
      })
      .catch(() => {
        /* the key stays shown; a later visit asks again */
      })
      .finally(() => asking.delete(a.key));
  }
}
