/** Times and durations for people. */

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago" (or "in …" for the future). */
export function relative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—'
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return '—'
  const s = Math.round((now - t) / 1000)
  const abs = Math.abs(s)
  let v: string
  if (abs < 5) return 'just now'
  if (abs < 60) v = `${abs} s`
  else if (abs < 3600) v = `${Math.floor(abs / 60)} min`
  else if (abs < 86_400) v = `${Math.floor(abs / 3600)} h`
  else v = `${Math.floor(abs / 86_400)} d`
  return s >= 0 ? `${v} ago` : `in ${v}`
}

/** A duration between two times: "850 ms", "42 s", "3 min 5 s", "2 h 10 min". */
export function duration(from: string | null | undefined, to: string | null | undefined, now = Date.now()): string {
  if (!from) return '—'
  const a = Date.parse(from)
  const b = to ? Date.parse(to) : now
  if (Number.isNaN(a) || Number.isNaN(b)) return '—'
  return durationMs(b - a)
}

/** Milliseconds for people. */
export function durationMs(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
}

/** A local date and time, "2026-01-15 12:00:03". */
export function datetime(iso: string | null | undefined): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return '—'
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

/** "1 host", "3 hosts": a count and its noun (`many` for irregular plurals, "1 match", "2 matches"). */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}
