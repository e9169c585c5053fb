/**
 * ARIA for Naive UI's tabs, which draw plain divs: the tab list, each tab (its selection, and
 * the keyboard of the WAI-ARIA tabs pattern) and the panel it labels.
 */
import type { Directive } from 'vue'

const KEYS = ['ArrowLeft', 'ArrowRight', 'Home', 'End']

/** The next tab's name for a navigation key, wrapping around the ends; null for other keys. */
export function tabAfter(names: string[], current: string, key: string): string | null {
  if (!KEYS.includes(key) || !names.length) return null
  const i = Math.max(0, names.indexOf(current))
  if (key === 'Home') return names[0]
  if (key === 'End') return names[names.length - 1]
  const step = key === 'ArrowRight' ? 1 : -1
  return names[(i + step + names.length) % names.length]
}

/**
 * Props of the tab `name` (Naive UI's `tab-props`): only the selected tab is in the Tab order;
 * Enter and Space select, arrows, Home and End move to (and select) another tab of the list.
 */
export function tabProps(name: string, current: string, select: (name: string) => void): Record<string, unknown> {
  return {
    id: `tab-${name}`,
    'aria-controls': `panel-${name}`,
    role: 'tab',
    tabindex: name === current ? 0 : -1,
    'aria-selected': name === current,
    onKeydown: (e: KeyboardEvent) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault()
        select(name)
        return
      }
      const list = (e.currentTarget as HTMLElement | null)?.closest('[role="tablist"]')
      const tabs = list ? [...list.querySelectorAll<HTMLElement>('[role="tab"]')] : []
      const next = tabAfter(
        tabs.map((t) => t.id.replace(/^tab-/, '')),
        name,
        e.key,
      )
      if (next === null) return
      e.preventDefault()
      select(next)
      tabs.find((t) => t.id === `tab-${next}`)?.focus()
    },
  }
}

/** Attributes of the panel of tab `name` (put on its `NTabPane`). */
export function panelProps(name: string): Record<string, string> {
  return { id: `panel-${name}`, role: 'tabpanel', 'aria-labelledby': `tab-${name}` }
}

/** `v-tablist` on an `NTabs`: gives the row that holds the tabs its `tablist` role. */
export const vTablist: Directive<HTMLElement> = {
  mounted(el) {
    el.querySelector('.n-tabs-wrapper')?.setAttribute('role', 'tablist')
  },
}
