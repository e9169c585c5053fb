// @vitest-environment jsdom
import { describe, expect, it } from 'vitest'
import { panelProps, tabAfter, tabProps } from './tabs'

describe('tabAfter', () => {
  const names = ['hosts', 'topology', 'config']
  it('moves with the arrows and wraps around the ends', () => {
    expect(tabAfter(names, 'hosts', 'ArrowRight')).toBe('topology')
    expect(tabAfter(names, 'config', 'ArrowRight')).toBe('hosts')
    expect(tabAfter(names, 'hosts', 'ArrowLeft')).toBe('config')
    expect(tabAfter(names, 'topology', 'Home')).toBe('hosts')
    expect(tabAfter(names, 'topology', 'End')).toBe('config')
  })
  it('ignores other keys', () => {
    expect(tabAfter(names, 'hosts', 'a')).toBeNull()
    expect(tabAfter([], 'hosts', 'ArrowRight')).toBeNull()
  })
})

describe('tabProps', () => {
  it('puts only the selected tab in the Tab order and ties it to its panel', () => {
    const on = tabProps('topology', 'topology', () => {})
    const off = tabProps('hosts', 'topology', () => {})
    expect(on).toMatchObject({ role: 'tab', id: 'tab-topology', 'aria-controls': 'panel-topology', 'aria-selected': true, tabindex: 0 })
    expect(off).toMatchObject({ 'aria-selected': false, tabindex: -1 })
    expect(panelProps('topology')).toEqual({ id: 'panel-topology', role: 'tabpanel', 'aria-labelledby': 'tab-topology' })
  })

  it('selects on Enter and moves focus and selection with the arrow keys', () => {
    document.body.innerHTML = '<div role="tablist"><div role="tab" id="tab-a" tabindex="0"></div><div role="tab" id="tab-b" tabindex="-1"></div></div>'
    const [a, b] = [...document.querySelectorAll<HTMLElement>('[role="tab"]')]
    const picked: string[] = []
    const props = tabProps('a', 'a', (n) => picked.push(n)) as { onKeydown: (e: KeyboardEvent) => void }
    a.addEventListener('keydown', props.onKeydown)
    a.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' }))
    a.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight' }))
    expect(picked).toEqual(['a', 'b'])
    expect(document.activeElement).toBe(b)
  })
})
