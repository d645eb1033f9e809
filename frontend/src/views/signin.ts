// Sign-in with the daemon's users: the session and CSRF cookies come back from the API.

import { api, rememberCsrf } from "../api";
import { h } from "../dom";
import { ApiError } from "../api";
import { explain } from "../errors";
import { toggleTheme } from "../theme";

interface SignedIn {
  csrf_token: string;
  user: { username: string };
}

export function renderSignIn(root: HTMLElement, onDone: (username: string) => void, ended = false): void {
  const username = h("input", { id: "signin-username", name: "username", autocomplete: "username", required: true });
  const password = h("input", { id: "signin-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const alert = h("div", { class: "alert", role: "alert" });
  alert.hidden = true;
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "tgfleet"),
    h("p", { class: "muted" }, ended ? "Your session ended; sign in again to go on." : "Sign in to operate the fleet."),
    h("div", { class: "field" }, h("label", { for: username.id }, "Username"), username),
    h("div", { class: "field" }, h("label", { for: password.id }, "Password"), password),
    alert,
    h("div", { class: "actions" }, button, h("button", { type: "button", class: "ghost", onclick: () => toggleTheme() }, "Theme")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    alert.hidden = true;
    try {
      const signed = await api.post<SignedIn>("/api/v1/auth/login", {
        username: username.value.trim(),
        password: password.value,
      });
      rememberCsrf(signed.csrf_token);
      onDone(signed.user.username);
    } catch (error) {
      // the daemon's own words here ("wrong username or password"), not "session ended"
      alert.textContent = error instanceof ApiError && error.detail ? error.detail : explain(error).text;
      alert.hidden = false;
      password.select();
    } finally {
      button.disabled = false;
    }
  });
  root.replaceChildren(h("main", { class: "center" }, form));
  username.focus();
}
