import { describe, expect, it } from 'vitest'
import { layoutDag } from './dag'

describe('layoutDag', () => {
  it('puts each stage one level after the deepest stage it waits for', () => {
    // 0 → 1, 0 → 2, (1, 2) → 3, and 4 alone.
    expect(
      layoutDag([
        { idx: 3, depends_on: [1, 2] },
        { idx: 0, depends_on: [] },
        { idx: 1, depends_on: [0] },
        { idx: 2, depends_on: [0] },
        { idx: 4, depends_on: [] },
      ]),
    ).toEqual([
      { idx: 0, level: 0, row: 0 },
      { idx: 1, level: 1, row: 0 },
      { idx: 2, level: 1, row: 1 },
      { idx: 3, level: 2, row: 0 },
      { idx: 4, level: 0, row: 1 },
    ])
  })

  it('survives a cycle and unknown dependencies', () => {
    const placed = layoutDag([
      { idx: 0, depends_on: [1, 9] },
      { idx: 1, depends_on: [0] },
    ])
    expect(placed).toHaveLength(2)
    expect(placed.every((p) => p.level <= 2)).toBe(true)
  })
})
