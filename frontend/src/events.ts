// The daemon's event stream (Server-Sent Events) with reconnect. One EventSource for the whole
// panel; views subscribe to kinds by prefix and unsubscribe when they leave.

import { request } from "./api";
import type { FleetEvent, StatsEvent } from "./types";

const KINDS = [
  "pool.created",
  "pool.reused",
  "pool.returned",
  "pool.closed",
  "pool.error",
  "pool.timeout",
  "pool.evicted",
  "pool.leak_suspected",
  "account.status",
  "account.flood",
  "account.removed",
  "account.added",
  "account.created",
  "account.updated",
  "account.authorized",
  "message.incoming",
  "message.sent",
  "login.code_sent",
  "login.done",
  "login.failed",
  "login.password_needed",
  "authorization.added",
  "authorization.created",
  "authorization.revoked",
  "authorization.removed",
  "authorization.logged_out",
  "authorization.state",
  "pool.connecting",
  "pool.retired",
  "pool.drained",
];

export type LiveState = "connecting" | "live" | "offline";
type Listener = (event: FleetEvent) => void;
type StatsListener = (stats: StatsEvent) => void;

const listeners = new Set<{ prefix: string; account: string | null; fn: Listener }>();
const statsListeners = new Set<StatsListener>();
const stateListeners = new Set<(state: LiveState) => void>();

let source: EventSource | null = null;
let state: LiveState = "offline";
let retryMs = 1000;
let retryTimer: number | undefined;
let lastStatsAt = 0;

function setState(next: LiveState): void {
  state = next;
  for (const fn of stateListeners) fn(next);
}

function dispatch(raw: MessageEvent<string>, kind: string): void {
  let event: FleetEvent;
  try {
    event = JSON.parse(raw.data) as FleetEvent;
  } catch {
    return;
  }
  event.kind = event.kind || kind;
  event.account = event.account ?? null;
  for (const l of listeners) {
    if (!event.kind.startsWith(l.prefix)) continue;
    if (l.account !== null && event.account !== l.account) continue;
    l.fn(event);
  }
}

function open(): void {
  if (source !== null) return;
  setState("connecting");
  // the browser resends Last-Event-ID itself when it reconnects this same EventSource
  const es = new EventSource("/api/v1/events");
  source = es;
  es.onopen = () => {
    retryMs = 1000;
    setState("live");
  };
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      // the server refused (401, 404, 5xx): the browser gives up, so we retry with backoff
      es.close();
      source = null;
      setState("offline");
      scheduleRetry();
      probeSession();
    } else {
      setState("connecting");
    }
  };
  es.addEventListener("stats", (raw) => {
    try {
      deliverStats(JSON.parse((raw as MessageEvent<string>).data) as StatsEvent);
    } catch {
      /* a malformed sample is skipped; the next one comes in a second */
    }
  });
  // the session ended (signed out in another tab, expired, token revoked): the daemon closes
  // the stream; asking who we are answers 401, and the panel shows sign-in
  es.addEventListener("signed_out", () => {
    es.close();
    source = null;
    setState("offline");
    scheduleRetry();
    probeSession();
  });
  // the daemon dropped events this reader was too slow for: views refresh what they show
  es.addEventListener("dropped", (raw) => dispatch(raw as MessageEvent<string>, "stream.dropped"));
  for (const kind of KINDS) es.addEventListener(kind, (raw) => dispatch(raw as MessageEvent<string>, kind));
  es.onmessage = (raw) => dispatch(raw, "message");
}

/** A refused or ended stream may mean the session is gone: a 401 here signs the panel out
 * (api.ts), which stops the stream and its retries. */
function probeSession(): void {
  request("GET", "/api/v1/auth/me").catch(() => {
    /* 401 is handled by api.ts; anything else: the retry will tell */
  });
}

function scheduleRetry(): void {
  window.clearTimeout(retryTimer);
  retryTimer = window.setTimeout(open, retryMs);
  retryMs = Math.min(retryMs * 2, 15000);
}

export function deliverStats(stats: StatsEvent, fromStream = true): void {
  if (fromStream) lastStatsAt = Date.now();
  for (const fn of statsListeners) fn(stats);
}

/** True when the stream delivered a stats sample in the last few seconds. */
export function streamFresh(): boolean {
  return Date.now() - lastStatsAt < 3500;
}

export function startEvents(): void {
  open();
}

export function stopEvents(): void {
  window.clearTimeout(retryTimer);
  source?.close();
  source = null;
  setState("offline");
}

export function onEvent(prefix: string, fn: Listener, account: string | null = null): () => void {
  const entry = { prefix, account, fn };
  listeners.add(entry);
  return () => listeners.delete(entry);
}

export function onStats(fn: StatsListener): () => void {
  statsListeners.add(fn);
  return () => statsListeners.delete(fn);
}

export function onLiveState(fn: (state: LiveState) => void): () => void {
  stateListeners.add(fn);
  fn(state);
  return () => stateListeners.delete(fn);
}
