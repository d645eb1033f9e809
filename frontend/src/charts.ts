// Live time-series charts on uPlot: canvas drawing that stays cheap at 900 points x several
// series, redrawn once a second. Each container carries data-points = samples plotted.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { series, type Series, WINDOW_SECONDS } from "./stats";

export interface Line {
  label: string;
  color: string;
  pick: (s: Series) => number[];
  dash?: number[];
}

export interface ChartSpec {
  unit: string;
  lines: Line[];
}

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

export class LiveChart {
  private plot: uPlot | null = null;
  private readonly resize: ResizeObserver;
  private readonly onTheme = () => this.build();

  constructor(
    private readonly container: HTMLElement,
    private readonly spec: ChartSpec,
  ) {
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(container);
    window.addEventListener("themechange", this.onTheme);
    this.build();
  }

  private data(): uPlot.AlignedData {
    return [series.t, ...this.spec.lines.map((line) => line.pick(series))];
  }

  private size(): { width: number; height: number } {
    const width = Math.max(240, Math.floor(this.container.clientWidth || 320));
    return { width, height: width < 500 ? 160 : 200 };
  }

  private build(): void {
    this.plot?.destroy();
    const axis = cssVar("--muted", "#666");
    const grid = cssVar("--grid", "rgba(128,128,128,0.2)");
    const unit = this.spec.unit;
    const opts: uPlot.Options = {
      ...this.size(),
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: {
        x: {
          time: true,
          // the samples held (up to 15 minutes), at least a minute wide so few points read
          range: (_u, min, max) => {
            // before the first sample uPlot passes no bounds: show the last minute up to now
            if (!Number.isFinite(max) || !Number.isFinite(min)) {
              const now = Date.now() / 1000;
              return [now - 60, now];
            }
            return [Math.max(Math.min(min, max - 60), max - WINDOW_SECONDS), max];
          },
        },
        y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
      },
      axes: [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        {
          stroke: axis,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid },
          size: 50,
          values: (_u, splits) => splits.map((v) => `${+v.toFixed(2)}${unit}`),
        },
      ],
      series: [
        {},
        ...this.spec.lines.map((line) => ({
          label: line.label,
          stroke: line.color,
          width: 2,
          dash: line.dash,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null ? "—" : `${+v.toFixed(2)}${unit}`),
        })),
      ],
    };
    this.plot = new uPlot(opts, this.data(), this.container);
    this.container.dataset.points = String(series.t.length);
  }

  private fit(): void {
    if (this.plot === null) return;
    const { width, height } = this.size();
    if (width !== this.plot.width || height !== this.plot.height) this.plot.setSize({ width, height });
  }

  update(): void {
    this.plot?.setData(this.data());
    this.container.dataset.points = String(series.t.length);
  }

  destroy(): void {
    this.resize.disconnect();
    window.removeEventListener("themechange", this.onTheme);
    this.plot?.destroy();
    this.plot = null;
  }
}
