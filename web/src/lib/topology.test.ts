import { describe, expect, it } from 'vitest'
import type { ClusterView } from '@/api/types'
import { stateColour, topology, utilColour, utilWidth } from './topology'

const cluster: ClusterView = {
  id: 1,
  name: 'prod',
  stack: 'essentials',
  stack_version: '1.0',
  config: {},
  hosts: [
    { id: 1, hostname: 'a', state: 'ONLINE', labels: {}, facts: {}, components: [{ service: 'redis', component: 'server', state: 'STARTED' }] },
    { id: 2, hostname: 'b', state: 'OFFLINE', labels: {}, facts: {}, components: [] },
  ],
}

describe('topology', () => {
  it('links the cluster to its hosts and each host to its components', () => {
    const t = topology(cluster, new Set(['b']), new Map([['a', 40]]))
    expect(t.nodes.map((n) => [n.id, n.kind, n.state, n.incident])).toEqual([
      ['cluster:prod', 'cluster', 'CLUSTER', false],
      ['host:a', 'host', 'ONLINE', false],
      ['component:a/redis/server', 'component', 'STARTED', false],
      ['host:b', 'host', 'OFFLINE', true],
    ])
    expect(t.links).toEqual([
      { source: 'cluster:prod', target: 'host:a', util: 40 },
      { source: 'host:a', target: 'component:a/redis/server', util: null },
      { source: 'cluster:prod', target: 'host:b', util: null },
    ])
  })

  it('colours states and utilisation', () => {
    expect(stateColour('ONLINE')).toBe('#3fb950')
    expect(stateColour('STARTED')).toBe('#3fb950')
    expect(stateColour('OFFLINE')).toBe('#f85149')
    expect(stateColour('STOPPED')).toBe('#8c96a3')
    expect(stateColour('UNKNOWN')).toBe('#d29922')
    expect(utilColour(0)).toBe('#4c8dff')
    expect(utilColour(100)).toBe('#f85149')
    expect(utilColour(50)).toBe('#a26fa4')
    expect(utilColour(250)).toBe('#f85149')
    expect(utilWidth(0)).toBe(1.5)
    expect(utilWidth(100)).toBe(8)
    expect(utilWidth(null)).toBe(1.5)
  })
})
