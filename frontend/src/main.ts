// The panel's entry: sign-in when signed out, else the header and the routed view.

import "./styles.css";
import { api, whenSignedOut } from "./api";
import { h } from "./dom";
import { onLiveState, startEvents, stopEvents } from "./events";
import { onRoute, parse, type Route } from "./router";
import { startStats, stopStats } from "./stats";
import { applyTheme, toggleTheme } from "./theme";
import { renderAccount } from "./views/account";
import { renderAdd } from "./views/add";
import { renderDashboard } from "./views/dashboard";
import { renderSettings } from "./views/settings";
import { renderSignIn } from "./views/signin";

export type Cleanup = () => void;

const root = document.getElementById("app") as HTMLElement;
let leaveView: Cleanup | null = null;
let stopRouting: Cleanup | null = null;
let stopLive: Cleanup | null = null;

function signedOut(ended = false): void {
  leaveView?.();
  leaveView = null;
  stopRouting?.();
  stopRouting = null;
  stopLive?.();
  stopLive = null;
  stopEvents();
  stopStats();
  document.title = "Sign in · tgfleet";
  renderSignIn(root, signedIn, ended);
}

function navLink(href: string, text: string): HTMLAnchorElement {
  return h("a", { href, "data-nav": href }, text);
}

function signedIn(username: string): void {
  const live = h("span", { class: "live", "data-testid": "live-status", "data-state": "offline" }, "offline");
  const header = h(
    "header",
    { class: "top" },
    h("a", { class: "skip", href: "#main", onclick: (e: Event) => skipToMain(e) }, "Skip to content"),
    h("a", { class: "brand", href: "#/dashboard", "aria-label": "tgfleet home" }, "tgfleet"),
    h("nav", { "aria-label": "Main" }, navLink("#/dashboard", "Dashboard"), navLink("#/add", "Add account"), navLink("#/settings", "Settings")),
    h(
      "div",
      { class: "who" },
      live,
      h("span", { class: "user", title: "signed in as" }, username),
      h("button", { type: "button", class: "ghost", onclick: () => toggleTheme() }, "Theme"),
      h("button", { type: "button", onclick: () => void signOut() }, "Sign out"),
    ),
  );
  const main = h("main", { id: "main", tabindex: "-1" });
  root.replaceChildren(header, main);
  stopLive = onLiveState((state) => {
    live.textContent = state;
    live.dataset.state = state;
  });
  startEvents();
  startStats();
  const show = (route: Route) => {
    leaveView?.();
    leaveView = null;
    for (const a of header.querySelectorAll<HTMLAnchorElement>("nav a")) {
      const current = a.dataset.nav === `#/${route.name}`;
      if (current) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    main.replaceChildren();
    switch (route.name) {
      case "account":
        leaveView = renderAccount(main, route.key);
        break;
      case "add":
        leaveView = renderAdd(main);
        break;
      case "settings":
        leaveView = renderSettings(main);
        break;
      default:
        leaveView = renderDashboard(main);
    }
  };
  stopRouting = onRoute(show);
  if (!location.hash || location.hash === "#" || location.hash === "#/") history.replaceState(null, "", "#/dashboard");
  show(parse(location.hash));
}

function skipToMain(event: Event): void {
  // the hash is the router's: move the focus without changing it
  event.preventDefault();
  document.getElementById("main")?.focus();
}

async function signOut(): Promise<void> {
  try {
    await api.post("/api/v1/auth/logout");
  } catch {
    /* signed out either way: the cookie is gone or was already */
  }
  signedOut(false);
}

async function boot(): Promise<void> {
  applyTheme();
  whenSignedOut(() => {
    if (stopRouting !== null) signedOut(true);
  });
  try {
    const me = await api.get<{ username: string }>("/api/v1/auth/me");
    signedIn(me.username);
  } catch {
    signedOut(false);
  }
}

void boot();
