// The accounts table: store records joined with live pool counts, sortable, filterable, and
// refreshed from the event stream (throttled: a burst of pool events is one refresh).

import { api, enc } from "../api";
import { h } from "../dom";
import { explain } from "../errors";
import { onEvent } from "../events";
import { ago, span, until } from "../format";
import { accountName, learnBotNames } from "../names";
import { accountHref } from "../router";
import type { Account, AccountPage, Connection } from "../types";

interface Row {
  account: Account;
  poolSize: number;
  active: number;
  idle: number;
  /** seconds since a connection of this account was last used; 0 while one is lent */
  lastUsed: number | null;
}

type Column = { key: string; title: string; value: (r: Row) => string | number; cell: (r: Row) => Node | string };

const THROTTLE_MS = 700;

export async function allAccounts(): Promise<Account[]> {
  const items: Account[] = [];
  let after: number | null = null;
  for (;;) {
    const page: AccountPage = await api.get<AccountPage>(`/api/v1/accounts?limit=1000${after === null ? "" : `&after=${after}`}`);
    items.push(...page.items);
    if (page.next_cursor === null || page.items.length === 0) return items;
    after = page.next_cursor;
  }
}

export { accountName };

export function statusBadge(status: string, detail = ""): HTMLElement {
  return h("span", { class: `badge status-${status}`, title: detail || status }, status);
}

const COLUMNS: Column[] = [
  {
    key: "account",
    title: "Account",
    value: (r) => accountName(r.account),
    cell: (r) => h("a", { href: accountHref(r.account.key) }, accountName(r.account)),
  },
  { key: "label", title: "Label", value: (r) => r.account.label, cell: (r) => r.account.label },
  {
    key: "status",
    title: "Status",
    value: (r) => r.account.status,
    cell: (r) => statusBadge(r.account.enabled ? r.account.status : "disabled", r.account.status_detail),
  },
  { key: "pool", title: "Pool size", value: (r) => r.poolSize, cell: (r) => String(r.poolSize) },
  { key: "active", title: "Active", value: (r) => r.active, cell: (r) => String(r.active) },
  { key: "idle", title: "Idle", value: (r) => r.idle, cell: (r) => String(r.idle) },
  {
    key: "last",
    title: "Last used",
    value: (r) => (r.lastUsed === null ? Number.POSITIVE_INFINITY : r.lastUsed),
    cell: (r) => (r.lastUsed === null ? "—" : r.lastUsed === 0 ? "in use" : ago(r.lastUsed)),
  },
  {
    key: "flood",
    title: "Flood until",
    value: (r) => until(r.account.flood_until) ?? 0,
    cell: (r) => {
      const left = until(r.account.flood_until);
      return left === null ? "—" : h("span", { class: "badge status-flood", title: r.account.flood_until ?? "" }, `${span(left)} left`);
    },
  },
];

export class AccountsTable {
  private rows = new Map<string, Row>();
  private connections: Connection[] = [];
  private sortKey = "account";
  private sortDir: 1 | -1 = 1;
  private filter = "";
  private readonly tbody = h("tbody");
  private readonly headRow = h("tr");
  private readonly note = h("p", { class: "muted", role: "status" });
  private readonly unsubscribe: (() => void)[] = [];
  private pendingAccounts = new Set<string>();
  private pendingAll = false;
  private timer: number | undefined;
  private ticker: number;

  constructor(host: HTMLElement) {
    const input = h("input", { id: "filter-accounts", type: "search", placeholder: "phone, label, status…" });
    input.addEventListener("input", () => {
      this.filter = input.value.trim().toLowerCase();
      this.render();
    });
    const table = h(
      "table",
      { "data-testid": "accounts-table", class: "grid" },
      h("caption", { class: "sr-only" }, "Accounts in the fleet"),
      h("thead", {}, this.headRow),
      this.tbody,
    );
    host.append(
      h("div", { class: "toolbar" }, h("label", { for: input.id }, "Filter accounts"), input),
      h("div", { class: "scroll" }, table),
      this.note,
    );
    this.renderHead();
    this.unsubscribe.push(
      onEvent("pool.", (e) => this.schedule(e.account, false)),
      onEvent("account.", (e) => this.schedule(e.account, e.kind !== "account.status" && e.kind !== "account.flood")),
      onEvent("authorization.", (e) => this.schedule(e.account, true)),
      onEvent("login.done", () => this.schedule(null, true)),
      onEvent("stream.dropped", () => this.schedule(null, true)),
    );
    // "last used" and "flood until" age even when nothing happens
    this.ticker = window.setInterval(() => this.render(), 5000);
    void this.refresh(true, []);
  }

  destroy(): void {
    for (const stop of this.unsubscribe) stop();
    window.clearTimeout(this.timer);
    window.clearInterval(this.ticker);
  }

  private schedule(account: string | null, listChanged: boolean): void {
    if (listChanged || (account !== null && !this.rows.has(account))) this.pendingAll = true;
    else if (account !== null) this.pendingAccounts.add(account);
    if (this.timer !== undefined) return;
    this.timer = window.setTimeout(() => {
      this.timer = undefined;
      const all = this.pendingAll;
      const keys = [...this.pendingAccounts];
      this.pendingAll = false;
      this.pendingAccounts.clear();
      void this.refresh(all, keys);
    }, THROTTLE_MS);
  }

  private async refresh(all: boolean, keys: string[]): Promise<void> {
    try {
      const connections = api.get<Connection[]>("/api/v1/pool/connections");
      if (all) {
        const accounts = await allAccounts();
        const seen = new Set(accounts.map((a) => a.key));
        for (const key of [...this.rows.keys()]) if (!seen.has(key)) this.rows.delete(key);
        for (const account of accounts) this.rows.set(account.key, this.blank(account));
        learnBotNames(accounts, () => this.render());
      } else {
        await Promise.all(
          keys.map(async (key) => {
            try {
              const account = await api.get<Account>(`/api/v1/accounts/${enc(key)}`);
              this.rows.set(key, this.blank(account));
            } catch {
              this.rows.delete(key); // removed meanwhile
            }
          }),
        );
      }
      this.connections = await connections;
      this.note.textContent = "";
    } catch (error) {
      this.note.textContent = `Could not refresh the accounts: ${explain(error).text}`;
    }
    this.render();
  }

  private blank(account: Account): Row {
    return { account, poolSize: 0, active: 0, idle: 0, lastUsed: null };
  }

  private joinConnections(): void {
    for (const row of this.rows.values()) {
      row.poolSize = 0;
      row.active = 0;
      row.idle = 0;
      row.lastUsed = null;
    }
    for (const c of this.connections) {
      const row = this.rows.get(c.phone);
      if (!row) continue;
      row.poolSize += 1;
      if (c.state === "active") row.active += 1;
      if (c.state === "idle") row.idle += 1;
      const used = c.state === "active" ? 0 : c.use_count > 0 ? c.idle_for : null;
      if (used !== null && (row.lastUsed === null || used < row.lastUsed)) row.lastUsed = used;
    }
  }

  private renderHead(): void {
    this.headRow.replaceChildren(
      ...COLUMNS.map((col) => {
        const sorted = col.key === this.sortKey;
        const button = h(
          "button",
          { type: "button", class: "sort", onclick: () => this.sortBy(col.key) },
          col.title,
          h("span", { "aria-hidden": "true" }, sorted ? (this.sortDir === 1 ? " ▲" : " ▼") : ""),
        );
        return h("th", { scope: "col", "aria-sort": sorted ? (this.sortDir === 1 ? "ascending" : "descending") : "none" }, button);
      }),
    );
  }

  private sortBy(key: string): void {
    if (this.sortKey === key) this.sortDir = this.sortDir === 1 ? -1 : 1;
    else {
      this.sortKey = key;
      this.sortDir = 1;
    }
    this.renderHead();
    this.render();
  }

  private render(): void {
    // rows are rebuilt; a keyboard user's place (a link in a row) survives the rebuild
    const focused = document.activeElement?.closest<HTMLTableRowElement>("tr[data-account]");
    const focusedKey = focused && this.tbody.contains(focused) ? focused.dataset.account : undefined;
    this.joinConnections();
    const col = COLUMNS.find((c) => c.key === this.sortKey) ?? COLUMNS[0];
    const rows = [...this.rows.values()].filter((r) => {
      if (!this.filter) return true;
      const a = r.account;
      return [accountName(a), a.key, a.label, a.status, a.kind, a.status_detail].some((v) => v.toLowerCase().includes(this.filter));
    });
    if (col) {
      rows.sort((x, y) => {
        const a = col.value(x);
        const b = col.value(y);
        const order = typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
        return order * this.sortDir;
      });
    }
    this.tbody.replaceChildren(
      ...rows.map((r) =>
        h(
          "tr",
          { "data-account": r.account.key, "data-status": r.account.status },
          COLUMNS.map((c) => h("td", { "data-col": c.key }, c.cell(r))),
        ),
      ),
    );
    if (focusedKey !== undefined) {
      const row = [...this.tbody.querySelectorAll<HTMLTableRowElement>("tr[data-account]")].find((r) => r.dataset.account === focusedKey);
      row?.querySelector<HTMLAnchorElement>("a")?.focus();
    }
    if (rows.length === 0) {
      this.tbody.append(
        h("tr", { class: "empty" }, h("td", { colspan: COLUMNS.length }, this.rows.size ? "No account matches the filter." : "No accounts yet: add one.")),
      );
    }
  }
}
