/** The log viewer's logic without the DOM: which rows to render and whether to follow. */

/** The rows to render for a scroll position, and the space above and below them. */
export interface RowWindow {
  /** First row rendered (inclusive). */
  start: number
  /** Row after the last one rendered (exclusive). */
  end: number
  /** Pixels standing in for the rows above `start`. */
  padTop: number
  /** Pixels standing in for the rows from `end` on. */
  padBottom: number
}

/**
 * Only the rows in view plus `overscan` on each side: with fixed-height rows a 100,000-line
 * log renders a few dozen elements.
 */
export function visibleWindow(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  total: number,
  overscan = 20,
): RowWindow {
  const top = Math.max(0, scrollTop)
  const start = Math.min(total, Math.max(0, Math.floor(top / rowHeight) - overscan))
  const end = Math.min(total, Math.ceil((top + viewportHeight) / rowHeight) + overscan)
  return { start, end: Math.max(start, end), padTop: start * rowHeight, padBottom: Math.max(0, total - end) * rowHeight }
}

/**
 * Auto-scroll that the reader can interrupt: scrolling up stops following, reaching the
 * bottom (or `resume`) starts again. A programmatic scroll to the bottom only ever moves down,
 * so it is never mistaken for the reader scrolling up, even when lines arrive in between.
 */
export class Follower {
  /** Whether new lines scroll the view to the bottom. */
  following = true
  private lastTop = 0

  constructor(private readonly slack = 4) {}

  /** Feeds a scroll event's geometry. */
  onScroll(scrollTop: number, scrollHeight: number, clientHeight: number): void {
    const atBottom = scrollHeight - clientHeight - scrollTop <= this.slack
    if (atBottom) this.following = true
    else if (scrollTop < this.lastTop - 1) this.following = false
    this.lastTop = scrollTop
  }

  /** The reader asked to follow again. */
  resume(): void {
    this.following = true
  }
}

/** Indexes of the lines containing `query` (case-insensitive); every line when it is empty. */
export function matchingLines(lines: readonly string[], query: string): number[] {
  const q = query.toLowerCase()
  const out: number[] = []
  for (let i = 0; i < lines.length; i++) if (!q || lines[i].toLowerCase().includes(q)) out.push(i)
  return out
}

/** A line cut into plain and matching parts, for highlighting. */
export function highlight(line: string, query: string): Array<{ text: string; match: boolean }> {
  if (!query) return [{ text: line, match: false }]
  const lower = line.toLowerCase()
  const q = query.toLowerCase()
  const out: Array<{ text: string; match: boolean }> = []
  let at = 0
  for (;;) {
    const i = lower.indexOf(q, at)
    if (i < 0) break
    if (i > at) out.push({ text: line.slice(at, i), match: false })
    out.push({ text: line.slice(i, i + q.length), match: true })
    at = i + q.length
  }
  if (at < line.length || out.length === 0) out.push({ text: line.slice(at), match: false })
  return out
}
