// One account: its authorizations and connections, recent events, actions (send, dialogs and
// history, live feed) and its settings, with the destructive actions behind a confirmation.

import { api, enc } from "../api";
import { field, h } from "../dom";
import { clearError, explain, showError } from "../errors";
import { onEvent } from "../events";
import { clock, span, until, when } from "../format";
import { go } from "../router";
import type { AccountDetail, Connection, Dialog, FleetEvent, Message } from "../types";
import { accountName, statusBadge } from "./accounts_table";
import { proxyForm } from "./proxy_form";

const FEED_MAX = 200;
const EVENTS_MAX = 100;

function section(title: string, ...body: (Node | string | null)[]): HTMLElement {
  const id = `sec-${title.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...body);
}

/** Who wrote a message, in a chat's history: me, the other side of a private chat, or an id. */
function sender(m: Message, d: Dialog): string {
  if (m.outgoing) return "me";
  if (m.sender_id === d.chat_id) return d.title || String(d.chat_id);
  return m.sender_id === null ? "?" : String(m.sender_id);
}

// Pool events worth a line on the account page; borrowed/returned come by the hundred.
const QUIET = new Set(["pool.reused", "pool.returned"]);

function describeEvent(e: FleetEvent): string {
  const skip = new Set(["id", "kind", "at", "account"]);
  const parts = Object.entries(e)
    .filter(([k, v]) => !skip.has(k) && v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`);
  return parts.join(" ");
}

export function renderAccount(main: HTMLElement, key: string): () => void {
  document.title = `${key} · tgfleet`;
  const stops: (() => void)[] = [];
  const timers: number[] = [];
  const heading = h("h1", {}, key);
  const summary = h("p", { class: "summary" });
  const loadAlert = h("div", { class: "alert", role: "alert" });
  loadAlert.hidden = true;
  main.append(heading, summary, loadAlert);

  void (async () => {
    let account: AccountDetail;
    try {
      account = await api.get<AccountDetail>(`/api/v1/accounts/${enc(key)}`);
    } catch (error) {
      showError(loadAlert, error);
      return;
    }
    const k = account.key;
    heading.replaceChildren(`${k}`, account.label ? h("span", { class: "muted" }, ` · ${account.label}`) : "");
    const renderSummary = (a: AccountDetail) => {
      const flood = until(a.flood_until);
      summary.replaceChildren(
        statusBadge(a.enabled ? a.status : "disabled", a.status_detail),
        ` ${a.kind === "bot" ? "bot" : "user"} ${accountName(a)}`,
        a.keep_online ? " · keep online" : " · on demand",
        a.status_detail ? h("span", { class: "muted" }, ` · ${a.status_detail}`) : "",
        flood !== null ? h("span", { class: "badge status-flood" }, ` flood wait ${span(flood)} left`) : "",
      );
    };
    renderSummary(account);

    // --- authorizations ------------------------------------------------------------------
    const authBody = h("tbody");
    const authAlert = h("div", { role: "alert", class: "alert" });
    authAlert.hidden = true;
    const authStatus = h("div", { role: "status", class: "ok-text" });
    // the live client of each authorization, from the pool (GET .../authorizations has it)
    let live = new Map<number, string>();
    const logOutButton = (id: number) => {
      // two presses: the first asks, the second acts (a logged-out key cannot come back)
      const b = h("button", { type: "button", class: "danger small" }, "Log out");
      let armed: number | undefined;
      b.addEventListener("click", async () => {
        if (armed === undefined) {
          b.textContent = "Confirm log out";
          armed = window.setTimeout(() => {
            armed = undefined;
            b.textContent = "Log out";
          }, 5000);
          return;
        }
        window.clearTimeout(armed);
        b.disabled = true;
        clearError(authAlert);
        try {
          await api.del(`/api/v1/accounts/${enc(k)}/authorizations/${id}`);
          authStatus.textContent = `Logged out authorization ${id}.`;
          await reloadAuth();
        } catch (error) {
          showError(authAlert, error);
          b.disabled = false;
        }
      });
      return b;
    };
    const renderAuth = (a: AccountDetail) =>
      authBody.replaceChildren(
        ...a.authorizations.map((z) =>
          h(
            "tr",
            { "data-authorization": String(z.id) },
            h("td", {}, String(z.id)),
            h("td", {}, statusBadge(z.state, z.state_detail)),
            h("td", {}, live.has(z.id) ? statusBadge(live.get(z.id) ?? "") : "—"),
            h("td", {}, `DC ${z.dc_id}${z.test_mode ? " (test)" : ""}`),
            h("td", {}, String(z.api_id)),
            h("td", {}, when(z.created_at)),
            h("td", {}, when(z.last_used_at)),
            h("td", {}, logOutButton(z.id)),
          ),
        ),
      );
    const reloadAuth = async () => {
      try {
        const [fresh, listed] = await Promise.all([
          api.get<AccountDetail>(`/api/v1/accounts/${enc(k)}`),
          api.get<{ id: number; connection: string | null }[]>(`/api/v1/accounts/${enc(k)}/authorizations`).catch(() => []),
        ]);
        live = new Map(listed.filter((z) => z.connection).map((z) => [z.id, z.connection ?? ""]));
        account = fresh;
        renderSummary(fresh);
        renderAuth(fresh);
      } catch {
        /* removed meanwhile: the summary says so when its event comes */
      }
    };
    renderAuth(account);
    void reloadAuth();
    const authSection = section(
      "Authorizations",
      h(
        "div",
        { class: "scroll" },
        h(
          "table",
          { class: "grid", "data-testid": "authorizations-table" },
          h("thead", {}, h("tr", {}, ["Id", "State", "Client", "Data centre", "api_id", "Created", "Last used", ""].map((t) => h("th", { scope: "col" }, t)))),
          authBody,
        ),
      ),
      authStatus,
      authAlert,
      account.kind === "user" ? h("p", {}, h("a", { href: `#/add?account=${enc(k)}` }, "Add another authorization")) : null,
    );

    // --- connections ---------------------------------------------------------------------
    const connBody = h("tbody");
    const connNote = h("p", { class: "muted" });
    const loadConnections = async () => {
      try {
        const list = await api.get<Connection[]>(`/api/v1/pool/connections?phone=${enc(k)}`);
        const clients = new Map(list.map((c) => [Number(c.authorization_id), c.state]));
        const changed = clients.size !== live.size || [...clients].some(([id, state]) => live.get(id) !== state);
        if (changed) {
          // re-rendered only on a change: a half-confirmed "Log out" press survives the refresh
          live = clients;
          renderAuth(account);
        }
        connBody.replaceChildren(
          ...list.map((c) =>
            h(
              "tr",
              { "data-connection": String(c.connection_id), "data-state": c.state },
              h("td", {}, String(c.connection_id)),
              h("td", {}, c.authorization_id),
              h("td", {}, statusBadge(c.state)),
              h("td", {}, span(c.age)),
              h("td", {}, c.state === "active" ? "in use" : span(c.idle_for)),
              h("td", {}, String(c.use_count)),
              h("td", {}, String(c.error_count)),
              h("td", { class: "wrap" }, c.last_error ?? "—"),
            ),
          ),
        );
        // the account's pool: how full it is and who waits (the table shows each connection)
        const pool = await api.get<{ pool_size: number; waiting: number; authorizations: number }>(`/api/v1/pool/stats/${enc(k)}`).catch(() => null);
        const parts = [list.length ? "" : "No open connection: one opens on the next request."];
        if (pool) {
          parts.push(`Pool ${pool.pool_size} of ${pool.authorizations} authorization${pool.authorizations === 1 ? "" : "s"}, ${pool.waiting} waiting.`);
        }
        connNote.textContent = parts.filter(Boolean).join(" ");
      } catch (error) {
        connNote.textContent = explain(error).text;
      }
    };
    const connSection = section(
      "Connections",
      h(
        "div",
        { class: "scroll" },
        h(
          "table",
          { class: "grid", "data-testid": "connections-table" },
          h("thead", {}, h("tr", {}, ["Id", "Authorization", "State", "Age", "Idle", "Uses", "Errors", "Last error"].map((t) => h("th", { scope: "col" }, t)))),
          connBody,
        ),
      ),
      connNote,
    );
    void loadConnections();
    let connTimer: number | undefined;
    const soonConnections = () => {
      if (connTimer !== undefined) return;
      connTimer = window.setTimeout(() => {
        connTimer = undefined;
        void loadConnections();
      }, 500);
    };
    timers.push(window.setInterval(() => void loadConnections(), 5000));

    // --- live feed -----------------------------------------------------------------------
    const feed = h("ul", { class: "feed", "data-testid": "live-feed", "aria-live": "polite" });
    const feedNote = h("p", { class: "muted" });
    const renderFeedNote = (a: AccountDetail) => {
      feedNote.textContent = a.keep_online
        ? "Incoming messages appear here as they arrive (this account keeps a connection online)."
        : "This account is not kept online, so Telegram delivers its incoming messages nowhere: turn on Keep online in Settings to see them here.";
    };
    renderFeedNote(account);
    const feedSection = section("Live feed", feedNote, feed);
    const inFeed = new Set<string>();
    const addToFeed = (e: FleetEvent, atTop: boolean) => {
      const id = `${String(e.chat_id ?? "")}:${String(e.message_id ?? "")}`;
      if (inFeed.has(id)) return; // a replay after a reconnect, or the history and the stream
      inFeed.add(id);
      const from = typeof e.sender === "string" ? e.sender : (e.sender_id ?? e.from ?? "?");
      const li = h("li", { "data-message": String(e.message_id ?? "") }, h("time", {}, clock(e.at)), " ", h("strong", {}, `${String(from)}: `), String(e.text ?? ""));
      if (atTop) feed.prepend(li);
      else feed.append(li);
      while (feed.children.length > FEED_MAX) feed.lastElementChild?.remove();
    };

    // --- recent events -------------------------------------------------------------------
    const eventList = h("ol", { class: "events", "data-testid": "recent-events", reversed: true });
    const addEvent = (e: FleetEvent, atTop: boolean) => {
      const li = h("li", { "data-kind": e.kind, "data-id": String(e.id) }, h("time", {}, clock(e.at)), " ", h("strong", {}, e.kind), " ", h("span", { class: "muted" }, describeEvent(e)));
      if (atTop) eventList.prepend(li);
      else eventList.append(li);
      while (eventList.children.length > EVENTS_MAX) eventList.lastElementChild?.remove();
    };
    void (async () => {
      try {
        // the history is oldest first; read to the end and keep the newest
        let after = 0;
        let recent: FleetEvent[] = [];
        for (let page = 0; page < 20; page += 1) {
          const got = await api.get<{ items: FleetEvent[]; next_after: number }>(`/api/v1/events/history?account=${enc(k)}&limit=1000&after=${after}`);
          recent = recent.concat(got.items.filter((e) => !QUIET.has(e.kind))).slice(-EVENTS_MAX);
          if (got.items.length < 1000) break;
          after = got.next_after;
        }
        const shown = new Set([...eventList.querySelectorAll("li")].map((li) => li.dataset.id));
        for (const e of recent.reverse()) {
          if (shown.has(String(e.id)) || QUIET.has(e.kind)) continue;
          addEvent(e, false);
          if (e.kind === "message.incoming") addToFeed(e, false);
        }
      } catch (error) {
        eventList.append(h("li", { class: "muted" }, `History unavailable: ${explain(error).text}`));
      }
    })();
    const eventsSection = section("Recent events", eventList);

    // --- send a message ------------------------------------------------------------------
    const to = field("To", h("input", { name: "peer", required: true, autocomplete: "off", placeholder: "@username, +phone or chat id" }));
    const text = field("Message", h("textarea", { name: "text", required: true, rows: 3, maxlength: 4096 }));
    const sendStatus = h("div", { role: "status", class: "ok-text" });
    const sendAlert = h("div", { role: "alert", class: "alert" });
    sendAlert.hidden = true;
    const sendButton = h("button", { type: "submit", class: "primary" }, "Send");
    const sendForm = h("form", { class: "stack" }, to.wrap, text.wrap, h("div", { class: "actions" }, sendButton), sendStatus, sendAlert);
    sendForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      sendButton.disabled = true;
      sendStatus.textContent = "";
      clearError(sendAlert);
      try {
        const sent = await api.post<{ chat_id: number; message_id: number }>(`/api/v1/accounts/${enc(k)}/messages`, {
          peer: to.input.value.trim(),
          text: text.input.value,
        });
        sendStatus.textContent = `Sent (message ${sent.message_id} in chat ${sent.chat_id}).`;
        text.input.value = "";
      } catch (error) {
        showError(sendAlert, error);
      } finally {
        sendButton.disabled = false;
      }
    });
    const sendSection = section("Send a message", sendForm);

    // --- dialogs and history -------------------------------------------------------------
    const dialogList = h("ul", { class: "dialogs", "data-testid": "dialogs" });
    const historyBox = h("div", { class: "history", "aria-live": "polite" });
    const dialogAlert = h("div", { role: "alert", class: "alert" });
    dialogAlert.hidden = true;
    const showHistory = async (d: Dialog) => {
      historyBox.replaceChildren(h("p", { class: "muted" }, `Loading ${d.title}…`));
      try {
        const messages = await api.get<Message[]>(`/api/v1/accounts/${enc(k)}/history?peer=${enc(String(d.chat_id))}&limit=50`);
        historyBox.replaceChildren(
          h("h3", {}, `History with ${d.title}`),
          messages.length
            ? h("ol", { class: "messages", "data-testid": "history" }, messages.map((m) =>
                h("li", { class: m.outgoing ? "out" : "in" }, h("span", { class: "muted" }, `${sender(m, d)}: `), m.text || "(no text)"),
              ))
            : h("p", { class: "muted" }, "No messages."),
        );
      } catch (error) {
        historyBox.replaceChildren();
        showError(dialogAlert, error);
      }
    };
    const loadDialogs = h("button", { type: "button" }, "Load dialogs");
    loadDialogs.addEventListener("click", async () => {
      loadDialogs.disabled = true;
      clearError(dialogAlert);
      try {
        const dialogs = await api.get<Dialog[]>(`/api/v1/accounts/${enc(k)}/dialogs?limit=50`);
        dialogList.replaceChildren(
          ...dialogs.map((d) =>
            h("li", {}, h("button", { type: "button", class: "link", "data-chat": String(d.chat_id), onclick: () => void showHistory(d) }, d.title || String(d.chat_id), d.unread ? h("span", { class: "badge" }, ` ${d.unread} unread`) : "")),
          ),
        );
        if (!dialogs.length) dialogList.append(h("li", { class: "muted" }, "No dialogs."));
      } catch (error) {
        showError(dialogAlert, error);
      } finally {
        loadDialogs.disabled = false;
      }
    });
    const dialogSection = section("Dialogs", h("div", { class: "actions" }, loadDialogs), dialogAlert, h("div", { class: "split" }, dialogList, historyBox));

    // --- settings ------------------------------------------------------------------------
    const settings = settingsForm(account, (updated) => {
      account = { ...account, ...updated };
      renderSummary(account);
      renderFeedNote(account);
    });
    const settingsSection = section("Settings", settings);

    for (const wide of [authSection, connSection, dialogSection]) wide.classList.add("wide");
    main.append(h("div", { class: "account-grid" }, authSection, connSection, sendSection, feedSection, dialogSection, eventsSection, settingsSection));

    // --- live updates --------------------------------------------------------------------
    stops.push(
      onEvent(
        "",
        (e) => {
          if (e.kind.startsWith("pool.")) soonConnections();
          if (QUIET.has(e.kind)) return; // the connections table shows them
          addEvent(e, true);
          if (e.kind === "message.incoming") addToFeed(e, true);
          if (e.kind === "account.removed") {
            summary.replaceChildren(h("strong", {}, "This account was removed from the fleet."));
          } else if (e.kind.startsWith("account.") || e.kind.startsWith("authorization.")) {
            void reloadAuth();
          }
        },
        k,
      ),
    );
    timers.push(window.setInterval(() => renderSummary(account), 5000));
  })();

  return () => {
    for (const stop of stops) stop();
    for (const t of timers) window.clearInterval(t);
  };
}

function settingsForm(account: AccountDetail, onSaved: (a: AccountDetail) => void): HTMLElement {
  const k = account.key;
  const label = field("Label", h("input", { name: "label", value: account.label, maxlength: 200 }));
  const keep = field("Keep online", h("input", { type: "checkbox", name: "keep_online", checked: account.keep_online }));
  const enabled = field("Enabled", h("input", { type: "checkbox", name: "enabled", checked: account.enabled }));
  const proxy = proxyForm(account.proxy);
  const d = account.device;
  const device = {
    device_model: field("Device model", h("input", { value: d.device_model })),
    system_version: field("System version", h("input", { value: d.system_version })),
    app_version: field("App version", h("input", { value: d.app_version })),
    lang_code: field("Language (lang_code)", h("input", { value: d.lang_code, maxlength: 10 })),
    system_lang_code: field("System language (system_lang_code)", h("input", { value: d.system_lang_code, maxlength: 10 })),
  };
  const status = h("div", { role: "status", class: "ok-text" });
  const alert = h("div", { role: "alert", class: "alert" });
  alert.hidden = true;
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const form = h(
    "form",
    { class: "stack settings" },
    label.wrap,
    keep.wrap,
    enabled.wrap,
    proxy.fieldset,
    h("fieldset", {}, h("legend", {}, "Device (pinned: Telegram sees these on every connection)"), Object.values(device).map((f) => f.wrap)),
    h("div", { class: "actions" }, save),
    status,
    alert,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    clearError(alert);
    const body: Record<string, unknown> = {
      label: label.input.value,
      keep_online: (keep.input as HTMLInputElement).checked,
      enabled: (enabled.input as HTMLInputElement).checked,
    };
    const changedDevice: Record<string, string> = {};
    for (const [name, f] of Object.entries(device)) {
      const value = f.input.value.trim();
      if (value !== account.device[name as keyof typeof account.device]) changedDevice[name] = value;
    }
    if (Object.keys(changedDevice).length) body.device = changedDevice;
    // the proxy is sent only when edited: the form never holds the stored password
    if (proxy.dirty()) {
      try {
        body.proxy = proxy.url();
      } catch (error) {
        showError(alert, error);
        return;
      }
    }
    save.disabled = true;
    try {
      const updated = await api.patch<AccountDetail>(`/api/v1/accounts/${enc(k)}`, body);
      account = { ...account, ...updated };
      proxy.reset(updated.proxy);
      onSaved(account);
      status.textContent = "Saved.";
    } catch (error) {
      showError(alert, error);
    } finally {
      save.disabled = false;
    }
  });

  const dangerStatus = h("div", { role: "status", class: "ok-text" });
  const dangerAlert = h("div", { role: "alert", class: "alert" });
  dangerAlert.hidden = true;
  const closeButton = h("button", { type: "button" }, "Close connections");
  closeButton.addEventListener("click", async () => {
    clearError(dangerAlert);
    try {
      const closed = await api.post<{ closed: number }>(`/api/v1/accounts/${enc(k)}/close-connections`);
      dangerStatus.textContent = `Closed ${closed.closed} connection${closed.closed === 1 ? "" : "s"} (borrowed ones close when returned).`;
    } catch (error) {
      showError(dangerAlert, error);
    }
  });
  const confirm = removeDialog(k, dangerAlert);
  const removeButton = h("button", { type: "button", class: "danger", onclick: () => confirm.showModal() }, "Log out and remove");
  return h(
    "div",
    {},
    form,
    h("div", { class: "danger-zone" }, h("h3", {}, "Connections and removal"), h("div", { class: "actions" }, closeButton, removeButton), dangerStatus, dangerAlert, confirm),
  );
}

function removeDialog(key: string, alert: HTMLElement): HTMLDialogElement {
  const remove = h("button", { type: "button", class: "danger" }, "Remove");
  const cancel = h("button", { type: "button", class: "ghost" }, "Cancel");
  const dialog = h(
    "dialog",
    { "aria-labelledby": "remove-title" },
    h("h2", { id: "remove-title" }, `Remove ${key}?`),
    h("p", {}, "Every authorization of this account is logged out on Telegram and the account leaves the fleet. Adding it back needs a new login."),
    h("div", { class: "actions" }, cancel, remove),
  );
  cancel.addEventListener("click", () => dialog.close());
  remove.addEventListener("click", async () => {
    remove.disabled = true;
    try {
      await api.del(`/api/v1/accounts/${enc(key)}`);
      dialog.close();
      go("#/dashboard");
    } catch (error) {
      dialog.close();
      showError(alert, error);
    } finally {
      remove.disabled = false;
    }
  });
  return dialog;
}

