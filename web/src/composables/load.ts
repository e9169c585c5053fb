/** Loading something for a page: the data, the error in words, and whether it is loading. */
import { ref, shallowRef, type Ref, type ShallowRef } from 'vue'
import { messageOf } from '@/api/http'

/** A loaded value and how to load it again. */
export interface Loaded<T> {
  data: ShallowRef<T | undefined>
  error: Ref<string | null>
  loading: Ref<boolean>
  reload: () => Promise<void>
}

/**
 * Runs `fn` now (unless `immediate` is false) and on `reload`; a reload keeps showing the old
 * data while it runs, and a slow answer that arrives after a newer one is dropped.
 */
export function useLoad<T>(fn: () => Promise<T>, immediate = true): Loaded<T> {
  const data = shallowRef<T>()
  const error = ref<string | null>(null)
  const loading = ref(false)
  let generation = 0
  async function reload() {
    const mine = ++generation
    loading.value = true
    try {
      const v = await fn()
      if (mine !== generation) return
      data.value = v
      error.value = null
    } catch (e) {
      if (mine !== generation) return
      error.value = messageOf(e)
    } finally {
      if (mine === generation) loading.value = false
    }
  }
  if (immediate) void reload()
  return { data, error, loading, reload }
}
