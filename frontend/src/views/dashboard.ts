// The fleet at a glance: counters with their warning thresholds, live charts of the last
// 15 minutes, and the accounts table.

import { LiveChart } from "../charts";
import { h } from "../dom";
import { onStats } from "../events";
import { num } from "../format";
import { errorsLastMinute, latest } from "../stats";
import type { StatsEvent } from "../types";
import { AccountsTable } from "./accounts_table";

interface TileSpec {
  name: string;
  label: string;
  unit: string;
  hint: string;
  value: (s: StatsEvent) => number | null;
  digits: number;
  /** the operator's threshold: the value needs attention above (or below) it */
  above?: number;
  below?: number;
}

const TILES: TileSpec[] = [
  { name: "active", label: "Active", unit: "", hint: "connections lent out now", digits: 0, value: (s) => s.pool.current_active_connections },
  { name: "idle", label: "Idle", unit: "", hint: "connections ready in the pool", digits: 0, value: (s) => s.pool.idle_connections },
  { name: "connecting", label: "Connecting", unit: "", hint: "connections being opened", digits: 0, value: (s) => s.pool.connecting },
  { name: "error", label: "Errors", unit: "", hint: "connection errors in the last minute", digits: 0, value: () => errorsLastMinute() },
  { name: "waiting", label: "Waiting", unit: "", hint: "borrowers queued for a connection", digits: 0, value: (s) => s.pool.waiting },
  {
    name: "utilization",
    label: "Utilization",
    unit: "%",
    hint: "active of the fleet-wide limit; warn above 80 %",
    digits: 1,
    value: (s) => s.pool.utilization * 100,
    above: 80,
  },
  { name: "wait-p50", label: "Acquire wait p50", unit: "ms", hint: "median wait for a connection", digits: 1, value: (s) => (s.pool.acquire_wait_seconds?.p50 ?? 0) * 1000 },
  { name: "wait-p95", label: "Acquire wait p95", unit: "ms", hint: "95th percentile wait for a connection", digits: 1, value: (s) => (s.pool.acquire_wait_seconds?.p95 ?? 0) * 1000 },
  { name: "rps", label: "Requests/s", unit: "", hint: "Telegram calls per second, last minute", digits: 2, value: (s) => s.requests?.rps ?? 0 },
  {
    name: "error-rate",
    label: "Error rate",
    unit: "%",
    hint: "failed Telegram calls, last minute; warn above 5 %",
    digits: 1,
    // no call in the window: no error either, so 0 % (and 100 % success) rather than a blank
    value: (s) => (s.requests?.error_rate ?? 0) * 100,
    above: 5,
  },
  {
    name: "success-rate",
    label: "Success rate",
    unit: "%",
    hint: "calls that worked, last minute; warn below 95 %",
    digits: 1,
    value: (s) => (s.requests?.success_rate ?? 1 - (s.requests?.error_rate ?? 0)) * 100,
    below: 95,
  },
  {
    name: "p95-response",
    label: "p95 response",
    unit: "s",
    hint: "95th percentile Telegram call time; warn above 10 s",
    digits: 2,
    value: (s) => s.requests?.p95 ?? 0,
    above: 10,
  },
  { name: "floods", label: "Floods", unit: "", hint: "accounts waiting out a FLOOD_WAIT", digits: 0, value: (s) => s.floods_active ?? 0 },
];

function isWarn(spec: TileSpec, v: number): boolean {
  return (spec.above !== undefined && v > spec.above) || (spec.below !== undefined && v < spec.below);
}

/** The value as text; a warning never reads as the threshold itself (5.02 % is not "5.0"). */
function shown(spec: TileSpec, v: number, warn: boolean): string {
  if (Number.isInteger(v)) return num(v, 0);
  let digits = spec.digits;
  let text = num(v, digits);
  while (warn && digits < 6 && !isWarn(spec, Number(text))) {
    digits += 1;
    text = num(v, digits);
  }
  return text;
}

function buildTile(spec: TileSpec): { el: HTMLElement; value: HTMLElement } {
  const value = h("span", { class: "value", "data-testid": `tile-${spec.name}-value` }, "—");
  const el = h(
    "div",
    { class: "tile", "data-testid": `tile-${spec.name}`, "data-state": "ok", title: spec.hint },
    h("span", { class: "label" }, spec.label),
    h("span", { class: "reading" }, value, spec.unit ? h("span", { class: "unit" }, spec.unit) : null),
  );
  return { el, value };
}

export function renderDashboard(main: HTMLElement): () => void {
  document.title = "Dashboard · tgfleet";
  const tiles = TILES.map((spec) => ({ spec, ...buildTile(spec) }));
  const chartBox = (id: string, title: string) =>
    h("figure", { class: "chart card" }, h("figcaption", {}, title), h("div", { class: "plot", "data-testid": id, "data-points": "0" }));
  const connBox = chartBox("chart-connections", "Connections by state");
  const waitBox = chartBox("chart-waits", "Acquire wait (ms)");
  const reqBox = chartBox("chart-requests", "Requests/s and error rate (%)");
  const tableHost = h("section", { class: "card", "aria-labelledby": "accounts-title" }, h("h2", { id: "accounts-title" }, "Accounts"));
  main.append(
    h("h1", { class: "sr-only" }, "Dashboard"),
    h("section", { class: "tiles", "aria-label": "Fleet counters" }, tiles.map((t) => t.el)),
    h("section", { class: "charts", "aria-label": "Last 15 minutes" }, connBox, waitBox, reqBox),
    tableHost,
  );
  const plot = (box: HTMLElement) => box.querySelector<HTMLElement>(".plot") as HTMLElement;
  const charts = [
    new LiveChart(plot(connBox), {
      unit: "",
      lines: [
        { label: "active", color: "#2f81f7", pick: (s) => s.active },
        { label: "idle", color: "#3fb950", pick: (s) => s.idle },
        { label: "connecting", color: "#d29922", pick: (s) => s.connecting },
        { label: "error", color: "#f85149", pick: (s) => s.error },
      ],
    }),
    new LiveChart(plot(waitBox), {
      unit: "",
      lines: [
        { label: "p50", color: "#2f81f7", pick: (s) => s.waitP50 },
        { label: "p95", color: "#a371f7", pick: (s) => s.waitP95, dash: [6, 4] },
      ],
    }),
    new LiveChart(plot(reqBox), {
      unit: "",
      lines: [
        { label: "rps", color: "#2f81f7", pick: (s) => s.rps },
        { label: "error %", color: "#f85149", pick: (s) => s.errorRate },
      ],
    }),
  ];
  const table = new AccountsTable(tableHost);

  const update = (stats: StatsEvent) => {
    for (const { spec, el, value } of tiles) {
      const v = spec.value(stats);
      const warn = v !== null && isWarn(spec, v);
      value.textContent = v === null ? "—" : shown(spec, v, warn);
      el.dataset.state = warn ? "warn" : "ok";
    }
    for (const chart of charts) chart.update();
  };
  if (latest) update(latest);
  const stop = onStats(update);
  return () => {
    stop();
    for (const chart of charts) chart.destroy();
    table.destroy();
  };
}
