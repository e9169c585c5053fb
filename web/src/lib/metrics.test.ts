import { describe, expect, it } from 'vitest'
import { formatValue, panelsFor, rangeQuery, stepFor } from './metrics'

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
  it('groups CPU, memory, load, disks per mount and networks per interface', () => {
    const panels = panelsFor([
      { name: 'net_rx_bytes_per_s', labels: { interface: 'eth0' } },
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
      'Network eth0 utilisation',
      'Network eth0 received',
    ])
    expect(panels[4]).toMatchObject({ metric: 'disk_used_pct', labels: { mount: '/var' }, unit: 'pct' })
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
