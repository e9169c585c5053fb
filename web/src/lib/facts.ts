/** A host's facts (what its agent reported about it) as label/value pairs for people. */
import { formatValue } from './metrics'

const LABELS: Record<string, string> = {
  os: 'OS',
  kernel: 'Kernel',
  arch: 'Architecture',
  cpus: 'CPUs',
  memory_bytes: 'Total memory',
  addresses: 'Addresses',
}

/** "boot_time" → "Boot time"; a `_bytes` suffix is said by the value instead. */
function words(key: string): string {
  const words = key.replace(/_bytes$/, '').replace(/_/g, ' ').trim()
  return words ? words[0].toUpperCase() + words.slice(1) : key
}

/** A top-level fact's label: the known ones by name, the others in words. */
function labelOf(key: string): string {
  return LABELS[key] ?? words(key)
}

function valueOf(key: string, v: unknown): string {
  if (v === null || v === undefined || v === '') return '—'
  if (key.endsWith('_bytes') && typeof v === 'number') return formatValue(v, 'bytes')
  if (Array.isArray(v)) return v.length ? v.map((x) => valueOf('', x)).join(', ') : '—'
  if (typeof v === 'object') {
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${words(k).toLowerCase()} ${valueOf(k, x)}`)
      .join(', ')
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no'
  return String(v)
}

/** The facts in the agent's order: `[label, value]`, bytes in binary units, lists joined. */
export function factRows(facts: unknown): Array<[string, string]> {
  if (!facts || typeof facts !== 'object' || Array.isArray(facts)) return []
  return Object.entries(facts as Record<string, unknown>).map(([k, v]) => [labelOf(k), valueOf(k, v)])
}
