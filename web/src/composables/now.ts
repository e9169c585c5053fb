/** A clock that ticks every few seconds, so relative times stay true without reloads. */
import { onBeforeUnmount, ref, type Ref } from 'vue'

/** The current time in ms, updated every `everyMs`. */
export function useNow(everyMs = 5000): Ref<number> {
  const now = ref(Date.now())
  const t = setInterval(() => (now.value = Date.now()), everyMs)
  onBeforeUnmount(() => clearInterval(t))
  return now
}
