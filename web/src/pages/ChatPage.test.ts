import { flushPromises, mount } from '@vue/test-utils'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { createMemoryHistory, createRouter, RouterView } from 'vue-router'
import { forget, signIn } from '@/composables/session'
import ChatPage from './ChatPage.vue'

/** A stream the test feeds by hand, so the reply arrives after the page has navigated. */
function manualStream() {
  let ctl!: ReadableStreamDefaultController<Uint8Array>
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) })
  const enc = new TextEncoder()
  return {
    body,
    send: (event: string, data: unknown) => ctl.enqueue(enc.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)),
    end: () => ctl.close(),
  }
}

/**
 * The chat API as the server answers it: a new conversation is 7, its stored messages are
 * `stored` (none until the test says), and a message's reply is the stream `reply`.
 */
function server(reply: ReturnType<typeof manualStream>, stored: { value: unknown[] }, calls: string[]) {
  return vi.fn(async (input: string | Request, init?: RequestInit) => {
    const req = typeof input === 'string' ? new Request(new URL(input, 'http://console.test'), init) : input
    const url = new URL(req.url).pathname
    calls.push(`${req.method} ${url}`)
    const json = (v: unknown, status = 200) => new Response(JSON.stringify(v), { status, headers: { 'content-type': 'application/json' } })
    if (url.endsWith('/auth/login')) return json({ token: 't', username: 'oli', role: 'operator', expires_at: '' })
    if (url.endsWith('/auth/me')) return json({ name: 'oli', role: 'operator' })
    if (req.method === 'POST' && url === '/api/v1/chat/conversations') {
      // The console says where the conversation is held, so people's lists show `web`.
      const body = await req.text()
      if (body !== '{"channel":"web"}') return json({ error: { code: 'invalid_body', message: body } }, 400)
      return json({ id: 7 }, 201)
    }
    if (req.method === 'GET' && url === '/api/v1/chat/conversations') return json([])
    if (req.method === 'GET' && url === '/api/v1/chat/conversations/7/messages') return json(stored.value)
    if (req.method === 'POST' && url === '/api/v1/chat/conversations/7/messages') {
      return new Response(reply.body, { status: 200, headers: { 'content-type': 'text/event-stream' } })
    }
    return json({ error: { code: 'not_found', message: 'no' } }, 404)
  })
}

async function mountChat(reply: ReturnType<typeof manualStream>, stored: { value: unknown[] }, calls: string[], at = '/chat') {
  vi.stubGlobal('fetch', server(reply, stored, calls))
  await signIn('oli', 'pw')
  const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/chat/:id?', component: ChatPage }] })
  await router.push(at)
  await router.isReady()
  const w = mount(defineComponent({ render: () => h(RouterView) }), { global: { plugins: [router] }, attachTo: document.body })
  await flushPromises()
  return { w, router }
}

afterEach(() => {
  forget()
  vi.unstubAllGlobals()
  document.body.innerHTML = ''
})

describe('ChatPage', () => {
  it('keeps the first message of a new conversation and its streamed reply', async () => {
    const reply = manualStream()
    const calls: string[] = []
    const { w, router } = await mountChat(reply, { value: [] }, calls)
    await w.find('textarea[aria-label="Message"]').setValue('check the disks')
    await w.find('form').trigger('submit')
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/chat/7')
    reply.send('token', { text: 'All disks ' })
    reply.send('token', { text: 'are fine.' })
    reply.send('done', { reply: 'All disks are fine.', citations: [], proposals: [], tool_calls: [] })
    reply.end()
    await flushPromises()
    await vi.waitFor(() => expect(w.text()).toContain('All disks are fine.'))
    const thread = w.find('[role="log"]').text()
    expect(thread).toContain('check the disks')
    expect(thread).not.toContain('No message yet')
    expect(calls.filter((c) => c === 'POST /api/v1/chat/conversations')).toHaveLength(1)
    expect(calls).toContain('POST /api/v1/chat/conversations/7/messages')
  })

  it('loads the stored thread of a conversation it opens', async () => {
    const stored = {
      value: [
        { id: 1, role: 'user', content: 'hello', at: new Date().toISOString(), tool_calls: [], citations: [], proposals: [] },
        { id: 2, role: 'assistant', content: 'Hi, how can I help?', at: new Date().toISOString(), tool_calls: [], citations: [], proposals: [] },
      ],
    }
    const { w } = await mountChat(manualStream(), stored, [], '/chat/7')
    expect(w.find('[role="log"]').text()).toContain('Hi, how can I help?')
  })
})
