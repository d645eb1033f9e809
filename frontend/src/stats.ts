// The last 15 minutes of fleet samples, kept for the whole session so the dashboard's charts
// are full when an operator comes back to it. Fed by the stream's `stats` event (one a second);
// when the stream is down, a poll of /pool/stats keeps the pool side of the charts moving.

import { api } from "./api";
import { deliverStats, onStats, streamFresh } from "./events";
import type { PoolStats, StatsEvent } from "./types";

export const WINDOW_SECONDS = 15 * 60;
const CAPACITY = WINDOW_SECONDS;

export interface Series {
  t: number[];
  active: number[];
  idle: number[];
  connecting: number[];
  error: number[];
  waitP50: number[];
  waitP95: number[];
  rps: number[];
  errorRate: number[];
  /** cumulative pool errors, to derive errors in the last minute */
  errorsTotal: number[];
}

export const series: Series = {
  t: [],
  active: [],
  idle: [],
  connecting: [],
  error: [],
  waitP50: [],
  waitP95: [],
  rps: [],
  errorRate: [],
  errorsTotal: [],
};

export let latest: StatsEvent | null = null;

function push(stats: StatsEvent): void {
  const pool = stats.pool;
  const s = series;
  const at = stats.at || Date.now() / 1000;
  const last = s.t[s.t.length - 1];
  if (last !== undefined && at <= last) return; // a duplicate after a reconnect
  s.t.push(at);
  s.active.push(pool.current_active_connections ?? 0);
  s.idle.push(pool.idle_connections ?? 0);
  s.connecting.push(pool.connecting ?? 0);
  s.errorsTotal.push(pool.errors ?? 0);
  s.error.push(errorsLastMinute());
  s.waitP50.push((pool.acquire_wait_seconds?.p50 ?? 0) * 1000);
  s.waitP95.push((pool.acquire_wait_seconds?.p95 ?? 0) * 1000);
  s.rps.push(stats.requests?.rps ?? 0);
  s.errorRate.push((stats.requests?.error_rate ?? 0) * 100);
  const cutoff = at - WINDOW_SECONDS;
  let drop = 0;
  while (drop < s.t.length && ((s.t[drop] ?? 0) < cutoff || s.t.length - drop > CAPACITY)) drop += 1;
  if (drop > 0) for (const arr of Object.values(s) as number[][]) arr.splice(0, drop);
  latest = stats;
}

/** Pool errors counted in the last 60 seconds of samples. */
export function errorsLastMinute(): number {
  const s = series;
  const n = s.t.length;
  if (n === 0) return 0;
  const now = s.t[n - 1] ?? 0;
  let i = n - 1;
  while (i > 0 && (s.t[i - 1] ?? 0) >= now - 60) i -= 1;
  return Math.max(0, (s.errorsTotal[n - 1] ?? 0) - (s.errorsTotal[i] ?? 0));
}

let pollTimer: number | undefined;

async function pollIfStale(): Promise<void> {
  if (streamFresh()) return;
  try {
    const pool = await api.get<PoolStats>("/api/v1/pool/stats");
    if (streamFresh()) return;
    deliverStats({ at: Date.now() / 1000, pool, requests: latest?.requests ?? null, floods_active: latest?.floods_active ?? 0 }, false);
  } catch {
    /* signed out or daemon gone: the header shows it */
  }
}

let unsubscribe: (() => void) | null = null;
export function startStats(): void {
  if (unsubscribe !== null) return;
  unsubscribe = onStats(push);
  pollTimer = window.setInterval(() => void pollIfStale(), 2000);
}

export function stopStats(): void {
  window.clearInterval(pollTimer);
  unsubscribe?.();
  unsubscribe = null;
}
