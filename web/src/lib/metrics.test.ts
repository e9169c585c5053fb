import { describe, expect, it } from 'vitest'
import { axisScale, axisStart, formatValue, panelsFor, rangeQuery, stepFor, withoutIdle } from './metrics'

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0)

describe('rangeQuery', () => {
  it('maps each range to its start and step', () => {
    expect(rangeQuery('15m', NOW)).toEqual({ from: NOW - 900_000, to: NOW, step: 'raw' })
    expect(rangeQuery('1h', NOW)).toEqual({ from: NOW - 3_600_000, to: NOW, step: 'raw' })
    expect(rangeQuery('6h', NOW)).toEqual({ from: NOW - 21_600_000, to: NOW, step: 'raw' })
    expect(rangeQuery('24h', NOW)).toEqual({ from: NOW - 86_400_000, to: NOW, step: '1m' })
    expect(rangeQuery('7d', NOW)).toEqual({ from: NOW - 604_800_000, to: NOW, step: '1m' })
    expect(rangeQuery('30d', NOW)).toEqual({ from: NOW - 2_592_000_000, to: NOW, step: '1h' })
  })

  it('switches tiers just past 6 hours and 7 days', () => {
    expect(stepFor(21_600_000)).toBe('raw')
    expect(stepFor(21_600_001)).toBe('1m')
    expect(stepFor(604_800_000)).toBe('1m')
    expect(stepFor(604_800_001)).toBe('1h')
  })
})

describe('panelsFor', () => {
  it('groups CPU, memory, load, disks per mount and networks per direction', () => {
    const panels = panelsFor([
      { name: 'net_rx_bytes_per_s', labels: { interface: 'eth0' } },
      { name: 'net_rx_bytes_per_s', labels: { interface: 'ifb0' } },
      { name: 'net_tx_bytes_per_s', labels: { interface: 'ifb0' } },
      { name: 'disk_used_pct', labels: { mount: '/var' } },
      { name: 'cpu_used_pct', labels: {} },
      { name: 'cpu_core_used_pct', labels: { core: '0' } },
      { name: 'disk_used_pct', labels: { mount: '/' } },
      { name: 'load1', labels: {} },
      { name: 'mem_used_pct', labels: {} },
      { name: 'net_util_pct', labels: { interface: 'eth0' } },
      { name: 'disk_free_bytes', labels: { mount: '/' } },
    ])
    expect(panels.map((p) => p.title)).toEqual([
      'CPU used',
      'Memory used',
      'Load (1 min)',
      'Disk /',
      'Disk /var',
      'Network utilisation',
      'Network received',
      'Network sent',
    ])
    expect(panels[6]).toMatchObject({ metric: 'net_rx_bytes_per_s', labels: {}, unit: 'bytes/s', seriesLabel: 'interface' })
    expect(panels[4]).toMatchObject({ metric: 'disk_used_pct', labels: { mount: '/var' }, unit: 'pct' })
  })
})

describe('withoutIdle', () => {
  const s = (name: string, values: number[]) => ({ labels: { interface: name }, points: values.map((v, i) => [i * 1000, v]) })
  const name = (x: { labels: Record<string, string> }) => x.labels.interface
  it('leaves out series that stayed at zero and names them', () => {
    const { shown, idle } = withoutIdle([s('eth0', [0, 5, 0]), s('ifb0', [0, 0]), s('ifb1', [])], name)
    expect(shown.map(name)).toEqual(['eth0'])
    expect(idle).toEqual(['ifb0', 'ifb1'])
  })
  it('draws them all when every one is idle, and a single series always', () => {
    expect(withoutIdle([s('ifb0', [0]), s('ifb1', [0])], name).shown).toHaveLength(2)
    expect(withoutIdle([s('ifb0', [0])], name)).toEqual({ shown: [s('ifb0', [0])], idle: [] })
  })
})

describe('formatValue', () => {
  it('writes percentages, bytes and rates for people', () => {
    expect(formatValue(42.123, 'pct')).toBe('42.1 %')
    expect(formatValue(1536, 'bytes')).toBe('1.5 KiB')
    expect(formatValue(3 * 1024 * 1024, 'bytes/s')).toBe('3.0 MiB/s')
    expect(formatValue(512, 'bytes')).toBe('512 B')
    expect(formatValue(null, 'pct')).toBe('—')
    expect(formatValue(0.4, 'load')).toBe('0.40')
  })
})

describe('axisScale', () => {
  const ticks = (s: { max: number; interval: number; label: (v: number) => string }) => {
    const out: string[] = []
    for (let v = 0; v <= s.max + s.interval / 2; v += s.interval) out.push(s.label(v))
    return out
  }
  it('gives small byte rates whole, distinct ticks', () => {
    expect(ticks(axisScale(1.4, 'bytes/s'))).toEqual(['0 B/s', '1 B/s', '2 B/s'])
    expect(ticks(axisScale(0, 'bytes/s'))).toEqual(['0 B/s', '1 B/s'])
  })
  it('counts bytes in one binary unit with round steps', () => {
    expect(ticks(axisScale(4.9 * 1024, 'bytes/s'))).toEqual(['0 KiB/s', '2 KiB/s', '4 KiB/s', '6 KiB/s'])
    expect(ticks(axisScale(9 * 1024, 'bytes/s'))).toEqual(['0.0 KiB/s', '2.5 KiB/s', '5.0 KiB/s', '7.5 KiB/s', '10.0 KiB/s'])
    expect(ticks(axisScale(3.6 * 1024, 'bytes/s'))).toEqual(['0 KiB/s', '1 KiB/s', '2 KiB/s', '3 KiB/s', '4 KiB/s'])
    expect(ticks(axisScale(700 * 1024 * 1024, 'bytes'))).toEqual(['0 MiB', '200 MiB', '400 MiB', '600 MiB', '800 MiB'])
  })
  it('writes loads with the decimals their step needs', () => {
    expect(ticks(axisScale(5.3, 'load'))).toEqual(['0', '2', '4', '6'])
    expect(ticks(axisScale(0.07, 'load'))).toEqual(['0.00', '0.02', '0.04', '0.06', '0.08'])
    expect(ticks(axisScale(0, 'load'))).toEqual(['0.00', '0.25'])
  })
  it('keeps percentages from 0 to 100', () => {
    expect(axisScale(3, 'pct')).toMatchObject({ max: 100, interval: 20 })
    expect(axisScale(3, 'pct').label(40)).toBe('40%')
  })
})

describe('axisStart', () => {
  it('starts at the first sample when the samples begin after the range does', () => {
    expect(axisStart(1000, 5000)).toBe(5000)
    expect(axisStart(1000, 500)).toBe(1000)
    expect(axisStart(1000, null)).toBe(1000)
  })
})
