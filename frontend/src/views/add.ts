// The add-account wizard: phone -> code -> two-step password (when the account has one), bot
// by token, a session string, or another authorization of an account already in the fleet.
// Each error is shown next to the field it is about, in words, with Telegram's name beside.

import { api, enc, type ApiError } from "../api";
import { field, h } from "../dom";
import { clearError, showError } from "../errors";
import { accountHref } from "../router";
import type { Account, Login } from "../types";
import { accountName, allAccounts } from "./accounts_table";

type Choice = "phone" | "bot" | "session" | "authorization";

const CHOICES: [Choice, string][] = [
  ["phone", "Phone number"],
  ["bot", "Bot token"],
  ["session", "Session string"],
  ["authorization", "Another authorization"],
];

function addedStatus(target: HTMLElement, key: string, what = "Added"): void {
  target.replaceChildren(`${what} ${key}. `, h("a", { href: accountHref(key) }, `Open ${key}`));
}

function button(text: string, primary = true): HTMLButtonElement {
  return h("button", { type: "submit", class: primary ? "primary" : "" }, text);
}

/** Run one step: disable the button, clear old errors, show the new one next to its field. */
async function step(btn: HTMLButtonElement, errorBox: HTMLElement, clear: HTMLElement[], work: () => Promise<void>): Promise<void> {
  btn.disabled = true;
  for (const box of clear) clearError(box);
  try {
    await work();
  } catch (error) {
    showError(errorBox, error);
  } finally {
    btn.disabled = false;
  }
}

/** The code and password steps of a login flow, shared by "Phone number" and "Log in again". */
function loginSteps(host: HTMLElement, status: HTMLElement, restart: () => void) {
  const code = field("Code", h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 16 }), "sent by Telegram to the account's other sessions, or by SMS");
  const codeButton = button("Submit code");
  const codeForm = h("form", { class: "stack step" }, code.wrap, h("div", { class: "actions" }, codeButton));
  const password = field("Two-step password", h("input", { name: "password", type: "password", autocomplete: "off" }));
  const hint = h("p", { class: "muted" });
  const passwordButton = button("Submit password");
  const passwordForm = h("form", { class: "stack step" }, hint, password.wrap, h("div", { class: "actions" }, passwordButton));
  const again = h("button", { type: "button", class: "ghost", onclick: restart }, "Start again");
  let login: Login | null = null;

  const finish = (done: Login) => {
    codeForm.remove();
    passwordForm.remove();
    clearError(code.error);
    clearError(password.error);
    addedStatus(status, done.account);
    again.textContent = "Add another";
    host.append(again);
  };
  const terminal = (error: unknown) => {
    // after these the same login cannot go on: offer a new one
    const name = (error as ApiError).telegramError ?? "";
    if (/PHONE_CODE_EXPIRED|PHONE_NUMBER|FLOOD_WAIT|AUTH_RESTART|SRP_ID_INVALID/.test(name) || (error as ApiError).status === 404) {
      host.append(again);
    }
  };

  codeForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!login) return;
    void step(codeButton, code.error, [code.error], async () => {
      try {
        const next = await api.post<Login>(`/api/v1/logins/${enc(login!.id)}/code`, { code: code.input.value.trim() });
        login = next;
        if (next.step === "password_needed") {
          codeForm.remove();
          askPassword(next);
        } else if (next.step === "done") {
          finish(next);
        }
      } catch (error) {
        terminal(error);
        throw error;
      }
    });
  });
  passwordForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!login) return;
    void step(passwordButton, password.error, [password.error], async () => {
      try {
        const next = await api.post<Login>(`/api/v1/logins/${enc(login!.id)}/password`, { password: password.input.value });
        login = next;
        if (next.step === "done") finish(next);
      } catch (error) {
        terminal(error);
        throw error;
      }
    });
  });

  const askPassword = (next: Login) => {
    hint.textContent = next.password_hint ? `This account has two-step verification. Hint: ${next.password_hint}` : "This account has two-step verification.";
    host.append(passwordForm);
    password.input.focus();
  };

  return {
    begin(started: Login) {
      login = started;
      if (started.step === "password_needed") askPassword(started);
      else if (started.step === "done") finish(started);
      else {
        host.append(codeForm);
        code.input.focus();
      }
    },
  };
}

function phoneFlow(pane: HTMLElement): void {
  const status = h("div", { role: "status", class: "ok-text" });
  const phone = field("Phone number", h("input", { name: "phone", type: "tel", autocomplete: "off", placeholder: "+15550000001" }), "international form, with the country code");
  const label = field("Label", h("input", { name: "label", maxlength: 200 }), "optional: what this account is for");
  const keep = field("Keep online", h("input", { type: "checkbox", name: "keep_online" }));
  const send = button("Send code");
  const start = h("form", { class: "stack step" }, phone.wrap, label.wrap, keep.wrap, h("div", { class: "actions" }, send));
  const steps = h("div", {});
  const restart = () => {
    pane.replaceChildren();
    phoneFlow(pane);
  };
  const flow = loginSteps(steps, status, restart);
  start.addEventListener("submit", (event) => {
    event.preventDefault();
    void step(send, phone.error, [phone.error], async () => {
      const started = await api.post<Login>("/api/v1/logins", {
        phone: phone.input.value.trim(),
        label: label.input.value.trim(),
        keep_online: (keep.input as HTMLInputElement).checked,
      });
      for (const f of [phone, label, keep]) (f.input as HTMLInputElement).disabled = true;
      send.remove();
      flow.begin(started);
    });
  });
  pane.append(start, steps, status);
  phone.input.focus();
}

function botFlow(pane: HTMLElement): void {
  const status = h("div", { role: "status", class: "ok-text" });
  const token = field("Bot token", h("input", { name: "token", type: "password", autocomplete: "off", placeholder: "123456:ABC-DEF…" }), "from @BotFather");
  const label = field("Label", h("input", { name: "label", maxlength: 200 }));
  const keep = field("Keep online", h("input", { type: "checkbox", name: "keep_online" }));
  const add = button("Add bot");
  const form = h("form", { class: "stack step" }, token.wrap, label.wrap, keep.wrap, h("div", { class: "actions" }, add));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void step(add, token.error, [token.error], async () => {
      status.textContent = "";
      const account = await api.post<Account>("/api/v1/accounts/bot", {
        token: token.input.value.trim(),
        label: label.input.value.trim(),
        keep_online: (keep.input as HTMLInputElement).checked,
      });
      token.input.value = "";
      addedStatus(status, account.key);
    });
  });
  pane.append(form, status);
  token.input.focus();
}

function sessionFlow(pane: HTMLElement): void {
  const status = h("div", { role: "status", class: "ok-text" });
  const session = field("Session string", h("textarea", { name: "session_string", rows: 4, autocomplete: "off", spellcheck: "false" }), "a Pyrogram or Telethon string session");
  const label = field("Label", h("input", { name: "label", maxlength: 200 }));
  const keep = field("Keep online", h("input", { type: "checkbox", name: "keep_online" }));
  const existing = field("Add to an existing account", h("input", { type: "checkbox", name: "add_to_existing" }));
  const go = button("Import");
  const form = h("form", { class: "stack step" }, session.wrap, label.wrap, keep.wrap, existing.wrap, h("div", { class: "actions" }, go));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void step(go, session.error, [session.error], async () => {
      status.textContent = "";
      const account = await api.post<Account>("/api/v1/accounts/import", {
        session_string: session.input.value.trim(),
        label: label.input.value.trim(),
        keep_online: (keep.input as HTMLInputElement).checked,
        add_to_existing: (existing.input as HTMLInputElement).checked,
      });
      session.input.value = "";
      addedStatus(status, account.key, "Imported: added");
    });
  });
  pane.append(form, status);
  session.input.focus();
}

function authorizationFlow(pane: HTMLElement, preselect: string | null): void {
  const status = h("div", { role: "status", class: "ok-text" });
  const select = h("select", { name: "account" });
  const account = field("Account", select, "a user account already in the fleet; bots have one authorization");
  const again = h("button", { type: "button", class: "primary" }, "Log in again");
  const qr = h("button", { type: "button" }, "QR handoff");
  const steps = h("div", {});
  const restart = () => {
    pane.replaceChildren();
    authorizationFlow(pane, select.value);
  };
  const flow = loginSteps(steps, status, restart);
  pane.append(
    h("p", { class: "muted" }, "Each authorization carries its own connection, so an account with more of them (up to 3) serves more requests at once. \"Log in again\" asks Telegram for a code; \"QR handoff\" lets an authorization the fleet already has approve a new one, with no code."),
    account.wrap,
    h("div", { class: "actions" }, again, qr),
    steps,
    status,
  );
  void allAccounts()
    .then((accounts) => {
      const users = accounts.filter((a) => a.kind === "user");
      select.replaceChildren(...users.map((a) => h("option", { value: a.key, selected: a.key === preselect }, `${accountName(a)}${a.label ? ` · ${a.label}` : ""}`)));
      if (!users.length) select.append(h("option", { value: "" }, "no user account yet"));
    })
    .catch((error) => showError(account.error, error));
  again.addEventListener("click", () => {
    if (!select.value) return;
    void step(again, account.error, [account.error], async () => {
      const started = await api.post<Login>("/api/v1/logins", { phone: select.value, add_to_existing: true });
      again.disabled = true;
      qr.disabled = true;
      select.disabled = true;
      flow.begin(started);
    });
  });
  qr.addEventListener("click", () => {
    if (!select.value) return;
    void step(qr, account.error, [account.error], async () => {
      status.textContent = "";
      const done = await api.post<Login>(`/api/v1/accounts/${enc(select.value)}/authorizations/qr`);
      again.disabled = true;
      qr.disabled = true;
      select.disabled = true;
      if (done.step === "done") {
        const id = done.authorization_id;
        addedStatus(status, done.account || select.value, `Added authorization${id ? ` ${id}` : ""} to`);
        // nothing is left under way: the operator may add another at once
        again.disabled = false;
        qr.disabled = false;
        select.disabled = false;
      } else {
        flow.begin(done); // the new key must pass the account's two-step password
      }
    });
  });
}

export function renderAdd(main: HTMLElement): () => void {
  document.title = "Add account · tgfleet";
  const query = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const preselect = query.get("account");
  // the panel is not labelled by its tab: "Phone number" would then name two controls
  const pane = h("div", { class: "pane", role: "tabpanel" });
  const tabs = CHOICES.map(([choice, text]) =>
    h("button", { type: "button", role: "tab", "aria-selected": "false", "data-choice": choice, id: `tab-${choice}` }, text),
  );
  const show = (choice: Choice) => {
    for (const tab of tabs) {
      const on = tab.dataset.choice === choice;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
    }
    pane.replaceChildren();
    if (choice === "phone") phoneFlow(pane);
    else if (choice === "bot") botFlow(pane);
    else if (choice === "session") sessionFlow(pane);
    else authorizationFlow(pane, preselect);
  };
  const tablist = h("div", { role: "tablist", "aria-label": "Method", class: "tabs" }, tabs);
  tablist.addEventListener("click", (event) => {
    const tab = (event.target as HTMLElement).closest<HTMLButtonElement>("[role=tab]");
    if (tab?.dataset.choice) show(tab.dataset.choice as Choice);
  });
  // arrow keys move between tabs, as in every tab list
  tablist.addEventListener("keydown", (event) => {
    const at = tabs.findIndex((t) => t === document.activeElement);
    if (at < 0 || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
    const next = tabs[(at + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    next?.focus();
    if (next?.dataset.choice) show(next.dataset.choice as Choice);
    event.preventDefault();
  });
  main.append(h("h1", {}, "Add account"), h("section", { class: "card" }, tablist, pane));
  show(preselect ? "authorization" : "phone");
  return () => {};
}
