/** Runs `fn` at most once per `ms`, after the last call (a burst of events → one reload). */
import { onBeforeUnmount } from 'vue'

export function useDebounced(fn: () => void, ms = 400): () => void {
  let t: ReturnType<typeof setTimeout> | undefined
  onBeforeUnmount(() => clearTimeout(t))
  return () => {
    clearTimeout(t)
    t = setTimeout(fn, ms)
  }
}

/** Calls `fn` every `ms` while the component is mounted and the tab is visible. */
export function useInterval(fn: () => void, ms: number): void {
  const t = setInterval(() => {
    if (document.visibilityState === 'visible') fn()
  }, ms)
  onBeforeUnmount(() => clearInterval(t))
}
