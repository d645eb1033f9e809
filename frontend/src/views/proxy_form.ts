// The proxy part of an account's settings: fields rather than a URL to paste, a "Test proxy"
// button, and the stored password never shown (the API gives the proxy masked).

import { api } from "../api";
import { field, h } from "../dom";
import { explain } from "../errors";

interface Parsed {
  scheme: string;
  host: string;
  port: string;
  username: string;
  hasPassword: boolean;
}

function parseDisplay(display: string | null): Parsed {
  const empty = { scheme: "none", host: "", port: "", username: "", hasPassword: false };
  if (!display) return empty;
  try {
    if (display.startsWith("tg://")) {
      const url = new URL(display.replace("tg://", "http://x/"));
      return { scheme: "mtproxy", host: url.searchParams.get("server") ?? "", port: url.searchParams.get("port") ?? "", username: "", hasPassword: true };
    }
    const url = new URL(display);
    return {
      scheme: url.protocol.replace(":", ""),
      host: url.hostname,
      port: url.port,
      username: decodeURIComponent(url.username),
      hasPassword: url.password !== "",
    };
  } catch {
    return empty;
  }
}

interface ProxyTest {
  ok: boolean;
  latency_ms?: number | null;
  error?: string | null;
}

export function proxyForm(display: string | null) {
  const scheme = h(
    "select",
    { name: "proxy_scheme" },
    h("option", { value: "none" }, "No proxy"),
    h("option", { value: "socks5" }, "SOCKS5"),
    h("option", { value: "socks4" }, "SOCKS4"),
    h("option", { value: "http" }, "HTTP"),
    h("option", { value: "mtproxy" }, "MTProxy"),
  );
  const host = field("Proxy host", h("input", { name: "proxy_host", autocomplete: "off" }));
  const port = field("Proxy port", h("input", { name: "proxy_port", type: "number", min: 1, max: 65535, inputmode: "numeric" }));
  const username = field("Proxy username", h("input", { name: "proxy_username", autocomplete: "off" }));
  const password = field("Proxy password", h("input", { name: "proxy_password", type: "password", autocomplete: "new-password" }), "for MTProxy: the secret");
  const schemeField = field("Proxy scheme", scheme);
  const status = h("div", { role: "status", class: "ok-text" });
  const testButton = h("button", { type: "button" }, "Test proxy");
  let dirty = false;

  const reset = (shown: string | null) => {
    const p = parseDisplay(shown);
    scheme.value = p.scheme;
    host.input.value = p.host;
    port.input.value = p.port;
    username.input.value = p.username;
    password.input.value = "";
    password.input.placeholder = p.hasPassword ? "stored (type again to change the proxy)" : "";
    dirty = false;
  };
  reset(display);

  const fieldset = h(
    "fieldset",
    { class: "proxy" },
    h("legend", {}, "Proxy"),
    schemeField.wrap,
    host.wrap,
    port.wrap,
    username.wrap,
    password.wrap,
    h("div", { class: "actions" }, testButton),
    status,
  );
  fieldset.addEventListener("input", () => {
    dirty = true;
  });

  const parts = () => {
    const portNumber = Number(port.input.value);
    if (!host.input.value.trim()) throw new Error("Proxy host: enter the proxy's host name or address.");
    if (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) throw new Error("Proxy port: a number from 1 to 65535.");
    return {
      scheme: scheme.value,
      host: host.input.value.trim(),
      port: portNumber,
      username: username.input.value.trim() || null,
      password: password.input.value || null,
    };
  };

  const url = (): string | null => {
    if (scheme.value === "none") return null;
    const p = parts();
    if (p.scheme === "mtproxy") {
      return `tg://proxy?server=${encodeURIComponent(p.host)}&port=${p.port}&secret=${encodeURIComponent(p.password ?? "")}`;
    }
    const auth = p.username ? `${encodeURIComponent(p.username)}${p.password ? `:${encodeURIComponent(p.password)}` : ""}@` : "";
    const hostPart = p.host.includes(":") ? `[${p.host}]` : p.host;
    return `${p.scheme}://${auth}${hostPart}:${p.port}`;
  };

  testButton.addEventListener("click", async () => {
    status.textContent = "";
    status.className = "ok-text";
    if (scheme.value === "none") {
      status.textContent = "No proxy to test: choose a scheme and fill the fields.";
      return;
    }
    testButton.disabled = true;
    try {
      const result = await api.post<ProxyTest>("/api/v1/proxies/test", { proxy: parts() });
      status.textContent = result.ok
        ? `Proxy works: reached Telegram in ${Math.round(result.latency_ms ?? 0)} ms.`
        : `Proxy failed: ${result.error ?? "no answer"}.`;
      if (!result.ok) status.className = "bad-text";
    } catch (error) {
      status.textContent = `Proxy test failed: ${explain(error).text}`;
      status.className = "bad-text";
    } finally {
      testButton.disabled = false;
    }
  });

  return { fieldset, url, reset, dirty: () => dirty };
}
