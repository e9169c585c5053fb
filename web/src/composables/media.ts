/** Whether the window is phone-narrow (the navigation becomes a drawer). */
import { onBeforeUnmount, ref, type Ref } from 'vue'

/** True while `query` matches. */
export function useMedia(query: string): Ref<boolean> {
  const mq = typeof window !== 'undefined' && window.matchMedia ? window.matchMedia(query) : null
  const matches = ref(mq?.matches ?? false)
  const update = (e: MediaQueryListEvent) => {
    matches.value = e.matches
  }
  mq?.addEventListener('change', update)
  onBeforeUnmount(() => mq?.removeEventListener('change', update))
  return matches
}
