import { flushPromises, mount } from '@vue/test-utils'
import { afterEach, describe, expect, it, vi } from 'vitest'

afterEach(() => {
  localStorage.clear()
  vi.unstubAllGlobals()
  vi.resetModules()
})

describe('App', () => {
  it('checks a stored token before it draws the frame, which opens the live connection', async () => {
    // A token the server no longer knows (it expired, or the server's data was reset), stored
    // before the console loads, as on a fresh page load.
    localStorage.setItem('steward.token', 'stale')
    const calls: string[] = []
    vi.stubGlobal(
      'fetch',
      vi.fn(async (input: string | Request) => {
        calls.push(new URL(typeof input === 'string' ? input : input.url, 'http://console.test').pathname)
        return new Response('{"error":{"code":"unauthorized","message":"sign in"}}', { status: 401 })
      }),
    )
    const { onUnauthorized } = await import('@/api/http')
    const { forget } = await import('@/composables/session')
    const { stopLive } = await import('@/composables/live')
    const { router } = await import('./router')
    const App = (await import('./App.vue')).default
    onUnauthorized(() => {
      forget()
      stopLive()
    })
    // The first navigation is under way when the app mounts, as in main.ts.
    void router.push('/hosts')
    const w = mount(App, { global: { plugins: [router] }, attachTo: document.body })
    await router.isReady()
    await flushPromises()
    expect(router.currentRoute.value.name).toBe('login')
    expect(w.text()).toContain('Sign in')
    expect(calls).toEqual(['/api/v1/auth/me'])
    w.unmount()
    stopLive()
  })
})
