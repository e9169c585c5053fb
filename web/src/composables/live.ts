/**
 * The console's one live connection (`GET /api/v1/events`): pages subscribe to event kinds,
 * and are told to refresh what they show when the connection comes back (or lagged), since
 * events sent while it was down are lost.
 */
import { onBeforeUnmount, readonly, ref } from 'vue'
import { authHeaders, reportUnauthorized } from '@/api/http'
import { connectSse, type LinkState, type LiveConnection } from '@/api/sse'
import type { LiveEvents } from '@/api/types'

type Handler<K extends keyof LiveEvents> = (ev: LiveEvents[K]) => void

const state = ref<LinkState>('closed')
const handlers = new Map<string, Set<(ev: unknown) => void>>()
const refreshers = new Set<() => void>()
let conn: LiveConnection | null = null

/** Where the live connection is: `down` shows the reconnecting banner. */
export const liveState = readonly(state)

function refreshAll(): void {
  for (const fn of refreshers) fn()
}

/** Opens the live connection (after sign-in); a second call does nothing. */
export function startLive(): void {
  if (conn) return
  state.value = 'connecting'
  conn = connectSse({
    url: '/api/v1/events',
    init: () => ({ headers: authHeaders() }),
    onState: (s) => {
      state.value = s
    },
    onOpen: (reconnected) => {
      if (reconnected) refreshAll()
    },
    onHttpError: (res) => {
      if (res.status === 401) {
        reportUnauthorized()
        return 'stop'
      }
      return 'retry'
    },
    onEvent: (ev) => {
      if (ev.event === 'lagged') {
        refreshAll()
        return
      }
      const set = handlers.get(ev.event)
      if (!set?.size) return
      let data: unknown
      try {
        data = JSON.parse(ev.data)
      } catch {
        return
      }
      for (const fn of set) fn(data)
    },
  })
}

/** Closes it (sign-out). */
export function stopLive(): void {
  conn?.close()
  conn = null
  state.value = 'closed'
}

/** Calls `fn` for every `kind` event while the calling component is mounted. */
export function useLive<K extends keyof LiveEvents>(kind: K, fn: Handler<K>): void {
  let set = handlers.get(kind)
  if (!set) handlers.set(kind, (set = new Set()))
  const h = fn as (ev: unknown) => void
  set.add(h)
  onBeforeUnmount(() => set.delete(h))
}

/** Calls `fn` when the live connection comes back, while the calling component is mounted. */
export function onLiveReconnect(fn: () => void): void {
  refreshers.add(fn)
  onBeforeUnmount(() => refreshers.delete(fn))
}
