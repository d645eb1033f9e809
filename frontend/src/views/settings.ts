// Settings: the pool's effective configuration (read-only: it is set in config/tgfleet.toml or
// the environment) and API tokens for scripts, each shown once when made.

import { api, enc } from "../api";
import { field, h } from "../dom";
import { clearError, showError } from "../errors";
import { when } from "../format";
import type { ApiToken } from "../types";

function show(value: unknown): string {
  if (value === null || value === undefined) return "none";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

const HINTS: Record<string, string> = {
  max_connections_per_account: "at most this many clients per account (one per authorization)",
  max_total_connections: "fleet-wide limit; the least recently used idle client is evicted at it",
  max_idle_time: "seconds an idle client stays open",
  max_connection_age: "seconds before a client is retired (on return, with jitter)",
  acquire_timeout: "seconds a borrower waits for a connection",
  cleanup_interval: "seconds between sweeps",
};

export function renderSettings(main: HTMLElement): () => void {
  document.title = "Settings · tgfleet";
  const config = h("dl", { class: "config" });
  const configNote = h("p", { class: "muted" }, "Set in config/tgfleet.toml or TGFLEET_POOL__* variables; a restart applies changes.");
  void api
    .get<Record<string, unknown>>("/api/v1/pool/config")
    .then((values) => {
      config.replaceChildren(
        ...Object.entries(values).flatMap(([name, value]) => [
          h("dt", {}, name, HINTS[name] ? h("small", { class: "muted" }, ` — ${HINTS[name]}`) : ""),
          h("dd", {}, show(value)),
        ]),
      );
    })
    .catch((error) => {
      const box = h("div", { role: "alert", class: "alert" });
      showError(box, error);
      config.replaceWith(box);
    });

  // --- tokens --------------------------------------------------------------------------------
  const name = field("Token name", h("input", { name: "token_name", maxlength: 100, autocomplete: "off", placeholder: "deploy-script" }));
  const create = h("button", { type: "submit", class: "primary" }, "Create token");
  const created = h("div", { class: "new-token-box" });
  const tbody = h("tbody");
  const listAlert = h("div", { role: "alert", class: "alert" });
  listAlert.hidden = true;
  const load = async () => {
    try {
      const tokens = await api.get<ApiToken[]>("/api/v1/tokens");
      tbody.replaceChildren(
        ...tokens.map((t) => {
          const revoke = h("button", { type: "button", class: "danger" }, "Revoke");
          revoke.addEventListener("click", async () => {
            revoke.disabled = true;
            clearError(listAlert);
            try {
              await api.del(`/api/v1/tokens/${enc(String(t.id))}`);
              await load();
            } catch (error) {
              showError(listAlert, error);
              revoke.disabled = false;
            }
          });
          return h(
            "tr",
            { "data-token": String(t.id) },
            h("td", {}, t.name),
            h("td", {}, when(t.created_at)),
            h("td", {}, t.last_used_at ? when(t.last_used_at) : "never"),
            h("td", {}, revoke),
          );
        }),
      );
      if (!tokens.length) tbody.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No API tokens.")));
    } catch (error) {
      showError(listAlert, error);
    }
  };
  const form = h("form", { class: "stack" }, name.wrap, h("div", { class: "actions" }, create));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    create.disabled = true;
    clearError(name.error);
    created.replaceChildren();
    try {
      const made = await api.post<ApiToken & { token: string }>("/api/v1/tokens", { name: name.input.value.trim() });
      const copy = h("button", { type: "button" }, "Copy");
      copy.addEventListener("click", () => {
        void navigator.clipboard?.writeText(made.token).then(() => (copy.textContent = "Copied"));
      });
      created.replaceChildren(
        h(
          "div",
          { class: "card notice", role: "status" },
          h("p", {}, `Token "${made.name}" — copy it now, it is not shown again:`),
          h("code", { "data-testid": "new-token", class: "token" }, made.token),
          " ",
          copy,
          h("p", { class: "muted" }, "Use it as: Authorization: Bearer <token>"),
        ),
      );
      name.input.value = "";
      await load();
    } catch (error) {
      showError(name.error, error);
    } finally {
      create.disabled = false;
    }
  });
  void load();

  main.append(
    h("h1", {}, "Settings"),
    h("section", { class: "card", "aria-labelledby": "pool-config-title" }, h("h2", { id: "pool-config-title" }, "Pool configuration"), configNote, config),
    h(
      "section",
      { class: "card", "aria-labelledby": "tokens-title" },
      h("h2", { id: "tokens-title" }, "API tokens"),
      h("p", { class: "muted" }, "For scripts and the CLI. A token acts as the user who made it."),
      form,
      created,
      listAlert,
      h(
        "div",
        { class: "scroll" },
        h("table", { class: "grid", "data-testid": "tokens-table" }, h("thead", {}, h("tr", {}, ["Name", "Created", "Last used", ""].map((t) => h("th", { scope: "col" }, t)))), tbody),
      ),
    ),
  );
  return () => {
    created.replaceChildren(); // a token is shown once: leaving the page forgets it
  };
}
