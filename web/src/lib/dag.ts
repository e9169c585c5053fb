/** Lays out a job's stages as a DAG: one column per topological level. */

/** A stage as the layout needs it. */
export interface DagNode {
  idx: number
  depends_on: number[]
}

/** Where a stage is drawn. */
export interface Placed {
  idx: number
  level: number
  row: number
}

/**
 * The level of each stage is one more than the deepest stage it waits for (0 without
 * dependencies); stages of a level are stacked in plan order. Dependencies on unknown stages
 * are ignored, and a cycle (which the server refuses anyway) cannot loop: a stage's level is
 * capped at the number of stages.
 */
export function layoutDag(nodes: DagNode[]): Placed[] {
  const byIdx = new Map(nodes.map((n) => [n.idx, n]))
  const level = new Map<number, number>()
  const depth = (idx: number, seen: Set<number>): number => {
    const known = level.get(idx)
    if (known !== undefined) return known
    if (seen.has(idx) || seen.size > nodes.length) return 0
    seen.add(idx)
    const n = byIdx.get(idx)
    let l = 0
    for (const d of n?.depends_on ?? []) if (byIdx.has(d)) l = Math.max(l, depth(d, seen) + 1)
    seen.delete(idx)
    level.set(idx, l)
    return l
  }
  const rows = new Map<number, number>()
  return [...nodes]
    .sort((a, b) => a.idx - b.idx)
    .map((n) => {
      const l = depth(n.idx, new Set())
      const row = rows.get(l) ?? 0
      rows.set(l, row + 1)
      return { idx: n.idx, level: l, row }
    })
}
