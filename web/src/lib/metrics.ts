/** Time ranges of the metric charts, and how a host's series are grouped into panels. */

/** The ranges the picker offers. */
export const RANGES = ['15m', '1h', '6h', '24h', '7d', '30d'] as const
/** A range. */
export type RangeKey = (typeof RANGES)[number]
/** A storage tier the server answers from. */
export type Step = 'raw' | '1m' | '1h'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** Length of each range in milliseconds. */
export const RANGE_MS: Record<RangeKey, number> = {
  '15m': 15 * MINUTE,
  '1h': HOUR,
  '6h': 6 * HOUR,
  '24h': DAY,
  '7d': 7 * DAY,
  '30d': 30 * DAY,
}

/**
 * The step for a range of `ms`: raw samples (every 5 s) up to 6 h — 4,320 points a series —
 * 1-minute rollups up to 7 days (10,080), hourly beyond, so a chart never asks for more
 * points than the server answers with (20,000) or a screen can show.
 */
export function stepFor(ms: number): Step {
  if (ms <= 6 * HOUR) return 'raw'
  if (ms <= 7 * DAY) return '1m'
  return '1h'
}

/** The query for `range` ending at `now` (ms since the epoch). */
export function rangeQuery(range: RangeKey, now: number): { from: number; to: number; step: Step } {
  const ms = RANGE_MS[range]
  return { from: now - ms, to: now, step: stepFor(ms) }
}

/** A series as the series endpoint lists it. */
export interface SeriesInfo {
  name: string
  labels: Record<string, string>
}

/** A chart panel: a title and the metric names (with label filter) it draws. */
export interface Panel {
  key: string
  title: string
  metric: string
  /** Only series with these labels. */
  labels: Record<string, string>
  unit: 'pct' | 'bytes' | 'bytes/s' | 'load'
  /** The label that tells the panel's series apart (one line per interface), if several. */
  seriesLabel?: string
}

/**
 * Groups a host's series into panels: CPU, memory, load, one per disk mount, one per network
 * interface. Order: CPU, memory, load, disks by mount, networks by interface.
 */
export function panelsFor(series: SeriesInfo[]): Panel[] {
  const names = new Set(series.map((s) => s.name))
  const out: Panel[] = []
  if (names.has('cpu_used_pct')) out.push({ key: 'cpu', title: 'CPU used', metric: 'cpu_used_pct', labels: {}, unit: 'pct' })
  if (names.has('mem_used_pct')) out.push({ key: 'mem', title: 'Memory used', metric: 'mem_used_pct', labels: {}, unit: 'pct' })
  if (names.has('swap_used_pct')) out.push({ key: 'swap', title: 'Swap used', metric: 'swap_used_pct', labels: {}, unit: 'pct' })
  for (const l of ['load1', 'load5', 'load15']) {
    if (names.has(l)) {
      out.push({ key: l, title: `Load (${l.slice(4)} min)`, metric: l, labels: {}, unit: 'load' })
    }
  }
  const mounts = [...new Set(series.filter((s) => s.name === 'disk_used_pct' && s.labels.mount).map((s) => s.labels.mount))].sort()
  for (const mount of mounts) {
    out.push({ key: `disk:${mount}`, title: `Disk ${mount}`, metric: 'disk_used_pct', labels: { mount }, unit: 'pct' })
  }
  // One chart per direction with a line per interface: a chart per interface gave idle
  // virtual interfaces (ifb0, ifb1) most of the page.
  const net = (m: string) => series.some((s) => s.name === m && s.labels.interface)
  for (const [m, t, unit] of [
    ['net_util_pct', 'Network utilisation', 'pct'],
    ['net_rx_bytes_per_s', 'Network received', 'bytes/s'],
    ['net_tx_bytes_per_s', 'Network sent', 'bytes/s'],
  ] as const) {
    if (net(m)) out.push({ key: m, title: t, metric: m, labels: {}, unit, seriesLabel: 'interface' })
  }
  return out
}

/** A series of points as the metrics endpoint answers. */
export interface PointSeries {
  labels: Record<string, string>
  points: number[][]
}

/**
 * The series a chart of several draws, and the names of those left out because they were zero
 * (or empty) throughout: an idle interface is a flat line on 0 that crowds the legend. When
 * every series is idle they are all drawn, so the chart still says "0".
 */
export function withoutIdle<S extends PointSeries>(series: S[], nameOf: (s: S) => string): { shown: S[]; idle: string[] } {
  if (series.length < 2) return { shown: series, idle: [] }
  const busy = (s: S) => s.points.some((p) => p[1] !== 0 && Number.isFinite(p[1]))
  const shown = series.filter(busy)
  if (!shown.length) return { shown: series, idle: [] }
  return { shown, idle: series.filter((s) => !busy(s)).map(nameOf) }
}

/** Whether a series' labels include every label of `filter`. */
export function matchesLabels(labels: Record<string, string>, filter: Record<string, string>): boolean {
  return Object.entries(filter).every(([k, v]) => labels[k] === v)
}

/** A number for people: `42.1 %`, `1.5 GiB`, `3.2 MiB/s`, `0.42`. */
export function formatValue(v: number | null | undefined, unit: Panel['unit']): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '—'
  if (unit === 'pct') return `${v.toFixed(1)} %`
  if (unit === 'load') return v.toFixed(2)
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let n = v
  let i = 0
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024
    i++
  }
  return `${n.toFixed(n >= 100 || i === 0 ? 0 : 1)} ${units[i]}${unit === 'bytes/s' ? '/s' : ''}`
}

/** A value axis: its top, the step between ticks, and how a tick is written. */
export interface AxisScale {
  max: number
  interval: number
  label: (v: number) => string
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

/** The smallest of 1, 2, 2.5, 5 × 10ⁿ that is at least `x` (x > 0). */
function niceStep(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x - 1e-12 * p) return m * p
  return 10 * p
}

/** Decimals that write every multiple of `step` exactly: 0.25 needs 2, 0.5 needs 1, 5 none. */
function decimalsOf(step: number): number {
  for (let d = 0; d < 10; d++) if (Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) < 1e-9) return d
  return 10
}

/**
 * The y axis of a panel whose largest value is `max` (from 0; values are never negative): about
 * four ticks a whole step apart, each label different. Bytes are counted in the one binary
 * unit the top calls for (0, 1, 2, 3 KiB/s rather than 1000 B/s, 2.0 KiB/s, 2.9 KiB/s) and
 * never in fractions of a byte; percentages run 0 to 100.
 */
export function axisScale(max: number, unit: Panel['unit']): AxisScale {
  if (unit === 'pct') return { max: 100, interval: 20, label: (v) => `${v}%` }
  const top = Number.isFinite(max) && max > 0 ? max : 0
  let base = 1
  let name = ''
  if (unit !== 'load') {
    let i = 0
    while (top / base >= 1024 && i < BYTE_UNITS.length - 1) {
      base *= 1024
      i++
    }
    name = ` ${BYTE_UNITS[i]}${unit === 'bytes/s' ? '/s' : ''}`
  }
  const scaled = top / base
  let step = scaled > 0 ? niceStep(scaled / 4) : unit === 'load' ? 0.25 : 1
  if (unit !== 'load' && base === 1) step = Math.max(1, step)
  const ticks = Math.max(1, Math.ceil(scaled / step - 1e-9))
  const d = decimalsOf(step)
  return { max: ticks * step * base, interval: step * base, label: (v) => `${(v / base).toFixed(d)}${name}` }
}

/**
 * Where a chart's time axis starts: at the range's start, or at the first sample when the
 * samples begin later (a host that reports since a few minutes), so they fill the chart
 * instead of a sliver at its right edge. `first` is null without samples.
 */
export function axisStart(from: number, first: number | null): number {
  return first !== null && first > from ? first : from
}
