import { describe, expect, it } from 'vitest'
import { isMissingChunk, reloadOnce, type Reloader } from './newbuild'

function browser(start = 1_000_000) {
  const store = new Map<string, string>()
  const went: string[] = []
  let t = start
  const r: Reloader = {
    storage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => void store.set(k, v) },
    now: () => t,
    go: (p) => went.push(p),
  }
  return { r, went, later: (ms: number) => (t += ms) }
}

describe('reloadOnce', () => {
  it('reloads once, not again right after, and again much later', () => {
    const b = browser()
    expect(reloadOnce('/hosts', b.r)).toBe(true)
    b.later(2_000)
    expect(reloadOnce('/hosts', b.r)).toBe(false)
    b.later(60_000)
    expect(reloadOnce('/jobs', b.r)).toBe(true)
    expect(b.went).toEqual(['/hosts', '/jobs'])
  })
})

describe('isMissingChunk', () => {
  it('knows the browsers’ words for a chunk of another build', () => {
    expect(isMissingChunk(new Error('Unable to preload CSS for /assets/ErrorNote-Bx1.css'))).toBe(true)
    expect(isMissingChunk(new TypeError('Failed to fetch dynamically imported module: http://x/assets/HostPage-1.js'))).toBe(true)
    expect(isMissingChunk(new TypeError('error loading dynamically imported module'))).toBe(true)
    expect(isMissingChunk(new Error('The server cannot be reached'))).toBe(false)
  })
})
