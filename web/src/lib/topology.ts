/** The cluster topology as graph nodes and links: pure, so the colours and widths are tested. */
import type { ClusterView } from '@/api/types'

/** A node of the graph. */
export interface TopoNode {
  id: string
  name: string
  kind: 'cluster' | 'host' | 'component'
  state: string
  incident: boolean
}

/** A link of the graph. */
export interface TopoLink {
  source: string
  target: string
  /** 0–100 for cluster–host links when known. */
  util: number | null
}

/** Fill colour of a state: ONLINE/STARTED green, OFFLINE/STOPPED grey or red, UNKNOWN amber. */
export function stateColour(state: string): string {
  switch (state) {
    case 'ONLINE':
    case 'STARTED':
      return '#3fb950'
    case 'OFFLINE':
      return '#f85149'
    case 'STOPPED':
    case 'INSTALLED':
      return '#8c96a3'
    case 'UNKNOWN':
      return '#d29922'
    default:
      return '#4c8dff'
  }
}

/** Blue at 0 % utilisation to red at 100 %. */
export function utilColour(util: number | null): string {
  if (util === null) return '#5b6573'
  const t = Math.max(0, Math.min(1, util / 100))
  const from = [0x4c, 0x8d, 0xff]
  const to = [0xf8, 0x51, 0x49]
  const c = from.map((f, i) => Math.round(f + (to[i] - f) * t))
  return `#${c.map((x) => x.toString(16).padStart(2, '0')).join('')}`
}

/** Line width for a utilisation: 1.5 px idle to 8 px saturated. */
export function utilWidth(util: number | null): number {
  if (util === null) return 1.5
  return 1.5 + (Math.max(0, Math.min(100, util)) / 100) * 6.5
}

/** Nodes and links of `cluster`; `incidents` are hostnames with an open incident, `util` maps hostname → network utilisation. */
export function topology(cluster: ClusterView, incidents: Set<string>, util: Map<string, number>): { nodes: TopoNode[]; links: TopoLink[] } {
  const cid = `cluster:${cluster.name}`
  const nodes: TopoNode[] = [{ id: cid, name: cluster.name, kind: 'cluster', state: 'CLUSTER', incident: false }]
  const links: TopoLink[] = []
  for (const h of cluster.hosts) {
    const hid = `host:${h.hostname}`
    nodes.push({ id: hid, name: h.hostname, kind: 'host', state: h.state, incident: incidents.has(h.hostname) })
    links.push({ source: cid, target: hid, util: util.get(h.hostname) ?? null })
    for (const c of h.components) {
      const id = `component:${h.hostname}/${c.service}/${c.component}`
      nodes.push({ id, name: `${c.service}/${c.component}`, kind: 'component', state: c.state, incident: false })
      links.push({ source: hid, target: id, util: null })
    }
  }
  return { nodes, links }
}
