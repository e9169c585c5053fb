import { describe, expect, it } from 'vitest'
import { Follower, highlight, matchingLines, visibleWindow } from './logview'

describe('visibleWindow', () => {
  it('renders the rows in view plus the overscan, padding the rest', () => {
    // 20 px rows, a 400 px viewport scrolled to row 500 of 10,000.
    expect(visibleWindow(10_000, 400, 20, 10_000, 10)).toEqual({
      start: 490,
      end: 530,
      padTop: 9_800,
      padBottom: 9_470 * 20,
    })
  })

  it('clamps at the top and the bottom', () => {
    expect(visibleWindow(0, 400, 20, 10_000, 10)).toEqual({ start: 0, end: 30, padTop: 0, padBottom: 9_970 * 20 })
    expect(visibleWindow(199_600, 400, 20, 10_000, 10)).toEqual({ start: 9_970, end: 10_000, padTop: 199_400, padBottom: 0 })
  })

  it('renders everything for a short log and nothing for an empty one', () => {
    expect(visibleWindow(0, 400, 20, 5)).toEqual({ start: 0, end: 5, padTop: 0, padBottom: 0 })
    expect(visibleWindow(0, 400, 20, 0)).toEqual({ start: 0, end: 0, padTop: 0, padBottom: 0 })
  })

  it('keeps the rendered row count bounded for a huge log', () => {
    const w = visibleWindow(1_000_000, 600, 20, 100_000, 20)
    expect(w.end - w.start).toBe(70)
    expect(w.padTop + (w.end - w.start) * 20 + w.padBottom).toBe(2_000_000)
  })
})

describe('Follower', () => {
  it('pauses when the reader scrolls up and resumes at the bottom', () => {
    const f = new Follower()
    // Auto-scroll to the bottom of a 2,000 px log in a 400 px view.
    f.onScroll(1_600, 2_000, 400)
    expect(f.following).toBe(true)
    // The reader scrolls up.
    f.onScroll(1_200, 2_000, 400)
    expect(f.following).toBe(false)
    // Lines keep arriving: the height grows, the position stays; still paused.
    f.onScroll(1_200, 3_000, 400)
    expect(f.following).toBe(false)
    // The reader scrolls down but not to the end: still paused.
    f.onScroll(2_000, 3_000, 400)
    expect(f.following).toBe(false)
    // Back at the bottom: following again.
    f.onScroll(2_600, 3_000, 400)
    expect(f.following).toBe(true)
  })

  it('is not fooled by lines arriving between a programmatic scroll and its event', () => {
    const f = new Follower()
    f.onScroll(1_600, 2_000, 400)
    // Scrolled to 2,600 while the log grew to 3,200 before the event fired: not at the bottom,
    // but it moved down, so it was not the reader.
    f.onScroll(2_600, 3_200, 400)
    expect(f.following).toBe(true)
  })

  it('resumes on request', () => {
    const f = new Follower()
    f.onScroll(1_600, 2_000, 400)
    f.onScroll(100, 2_000, 400)
    expect(f.following).toBe(false)
    f.resume()
    expect(f.following).toBe(true)
  })
})

describe('search', () => {
  it('finds matching lines case-insensitively', () => {
    expect(matchingLines(['Starting', 'error: disk', 'ok', 'ERROR again'], 'error')).toEqual([1, 3])
    expect(matchingLines(['a', 'b'], '')).toEqual([0, 1])
  })

  it('cuts a line into highlighted parts', () => {
    expect(highlight('an Error and an error', 'error')).toEqual([
      { text: 'an ', match: false },
      { text: 'Error', match: true },
      { text: ' and an ', match: false },
      { text: 'error', match: true },
    ])
    expect(highlight('nothing', 'x')).toEqual([{ text: 'nothing', match: false }])
  })
})
