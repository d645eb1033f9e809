// Hash routing: #/dashboard, #/accounts/<key>, #/add, #/settings. A view is a function that
// renders into the main element and returns its cleanup (unsubscribe, stop timers).

export type Route =
  | { name: "dashboard" }
  | { name: "account"; key: string }
  | { name: "add" }
  | { name: "settings" };

export function parse(hash: string): Route {
  const path = hash.replace(/^#/, "").split("?")[0] ?? "";
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "accounts" && parts[1]) {
    let key = parts.slice(1).join("/");
    try {
      key = decodeURIComponent(key);
    } catch {
      /* keep it as written */
    }
    return { name: "account", key };
  }
  if (parts[0] === "add") return { name: "add" };
  if (parts[0] === "settings") return { name: "settings" };
  return { name: "dashboard" };
}

export function accountHref(key: string): string {
  return `#/accounts/${encodeURIComponent(key)}`;
}

export function go(hash: string): void {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

export function onRoute(fn: (route: Route) => void): () => void {
  const handler = () => fn(parse(location.hash));
  window.addEventListener("hashchange", handler);
  return () => window.removeEventListener("hashchange", handler);
}
