/** ARIA for Naive UI's tabs, which draw plain divs: a role, the selection, and the keyboard. */
export function tabProps(name: string, current: string, select: (name: string) => void): Record<string, unknown> {
  return {
    role: 'tab',
    tabindex: 0,
    'aria-selected': name === current,
    onKeydown: (e: KeyboardEvent) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault()
        select(name)
      }
    },
  }
}
