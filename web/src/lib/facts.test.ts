import { describe, expect, it } from 'vitest'
import { factRows } from './facts'

describe('factRows', () => {
  it('writes what the agent reports for people', () => {
    const facts = {
      os: 'Debian GNU/Linux 12 (bookworm)',
      kernel: '6.1.0',
      arch: 'x86_64',
      cpus: 2,
      memory_bytes: 25275990016,
      addresses: ['192.0.2.2', 'fd00::2'],
    }
    expect(factRows(facts)).toEqual([
      ['OS', 'Debian GNU/Linux 12 (bookworm)'],
      ['Kernel', '6.1.0'],
      ['Architecture', 'x86_64'],
      ['CPUs', '2'],
      ['Total memory', '23.5 GiB'],
      ['Addresses', '192.0.2.2, fd00::2'],
    ])
  })

  it('says unknown facts in words rather than as JSON', () => {
    expect(factRows({ swap_bytes: 2147483648, virtualised: true, gpu: { model_name: 'T4', memory_bytes: 16 * 1024 ** 3 }, tags: [], zone: null })).toEqual([
      ['Swap', '2.0 GiB'],
      ['Virtualised', 'yes'],
      ['Gpu', 'model name T4, memory 16.0 GiB'],
      ['Tags', '—'],
      ['Zone', '—'],
    ])
    expect(factRows(null)).toEqual([])
    expect(factRows(['x'])).toEqual([])
  })
})
