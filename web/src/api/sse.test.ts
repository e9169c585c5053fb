import { describe, expect, it } from 'vitest'
import { connectSse, SseParser, type LinkState, type SseEvent } from './sse'

const enc = new TextEncoder()

/** A response whose body delivers `chunks` one by one, then ends (or errors with `fail`). */
function streamResponse(chunks: string[], fail = false, status = 200): Response {
  let i = 0
  const body = new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (i < chunks.length) ctrl.enqueue(enc.encode(chunks[i++]))
      else if (fail) ctrl.error(new Error('connection reset'))
      else ctrl.close()
    },
  })
  return new Response(body, { status, headers: { 'content-type': 'text/event-stream' } })
}

describe('SseParser', () => {
  it('joins events split anywhere, across CRLF pairs and multi-line data', () => {
    const p = new SseParser()
    const text = 'event: job\r\ndata: {"a":\r\ndata: 1}\r\n\r\n: keep-alive\n\nid: 7\nevent: log\ndata:x\n\n'
    const got: SseEvent[] = []
    // Every split point, one character at a time.
    for (const ch of text) got.push(...p.feed(ch))
    expect(got).toEqual([
      { event: 'job', data: '{"a":\n1}', id: undefined },
      { event: 'log', data: 'x', id: '7' },
    ])
  })

  it('names an event without an event field "message" and ignores a blank event with no data', () => {
    const p = new SseParser()
    expect(p.feed('\n\ndata: hi\n')).toEqual([])
    expect(p.feed('\n')).toEqual([{ event: 'message', data: 'hi', id: undefined }])
  })

  it('drops a half-read event on reset', () => {
    const p = new SseParser()
    p.feed('event: job\ndata: partial')
    p.reset()
    expect(p.feed('data: whole\n\n')).toEqual([{ event: 'message', data: 'whole', id: undefined }])
  })
})

describe('connectSse', () => {
  it('backs off 0.5 s doubling to 10 s while down, resets after a success and delivers split events', async () => {
    const delays: number[] = []
    const states: LinkState[] = []
    const events: SseEvent[] = []
    const opens: boolean[] = []
    // Seven failures, one stream that delivers two events in awkward chunks then drops,
    // two more failures, then a stream that stays open until closed.
    const plan: Array<() => Promise<Response>> = [
      ...Array.from({ length: 7 }, () => () => Promise.reject(new TypeError('connection refused'))),
      () => Promise.resolve(streamResponse(['event: jo', 'b\ndata: {"job_id":1', '}\n', '\nevent: task\ndata: 2\n\n'], true)),
      () => Promise.reject(new TypeError('connection refused')),
      () => Promise.resolve(new Response('{"error":{"code":"unavailable","message":"starting"}}', { status: 503 })),
      () => Promise.resolve(streamResponse(['event: job\ndata: 3\n\n'])),
    ]
    let calls = 0
    const seenHeaders: Headers[] = []
    const conn: ReturnType<typeof connectSse> = connectSse({
      url: '/api/v1/events',
      init: () => ({ headers: { authorization: 'Bearer t' } }),
      fetch: (_url, init) => {
        seenHeaders.push(new Headers(init?.headers))
        const next = plan[calls++]
        if (!next) {
          conn?.close()
          return Promise.reject(new DOMException('aborted', 'AbortError'))
        }
        return next()
      },
      sleep: async (ms) => {
        delays.push(ms)
      },
      onEvent: (ev) => events.push(ev),
      onState: (s) => states.push(s),
      onOpen: (re) => opens.push(re),
    })
    await conn.finished
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000, 500, 1000, 2000, 500])
    expect(events.map((e) => [e.event, e.data])).toEqual([
      ['job', '{"job_id":1}'],
      ['task', '2'],
      ['job', '3'],
    ])
    expect(opens).toEqual([false, true])
    expect(states).toEqual(['down', 'open', 'down', 'open', 'down', 'closed'])
    expect(seenHeaders[0].get('authorization')).toBe('Bearer t')
    expect(seenHeaders[0].get('accept')).toBe('text/event-stream')
    expect(conn.state).toBe('closed')
  })

  it('stops without retrying when the error handler says so (a 401)', async () => {
    let calls = 0
    const statuses: number[] = []
    const conn = connectSse({
      url: '/api/v1/events',
      fetch: () => {
        calls++
        return Promise.resolve(new Response('{"error":{"code":"unauthenticated","message":"expired"}}', { status: 401 }))
      },
      sleep: async () => {},
      onEvent: () => {},
      onHttpError: (res) => {
        statuses.push(res.status)
        return res.status === 401 ? 'stop' : 'retry'
      },
    })
    await conn.finished
    expect(calls).toBe(1)
    expect(statuses).toEqual([401])
    expect(conn.state).toBe('closed')
  })

  it('ends the stream when closed from an event handler', async () => {
    let calls = 0
    const seen: string[] = []
    const conn = connectSse({
      url: '/logs',
      fetch: (_u, init) => {
        calls++
        // A stream that never ends on its own: only the abort can stop it.
        const body = new ReadableStream<Uint8Array>({
          start(ctrl) {
            ctrl.enqueue(enc.encode('event: log\ndata: a\n\nevent: end\ndata: {}\n\n'))
            init?.signal?.addEventListener('abort', () => ctrl.error(new DOMException('aborted', 'AbortError')))
          },
        })
        return Promise.resolve(new Response(body, { status: 200 }))
      },
      sleep: async () => {},
      onEvent: (ev) => {
        seen.push(ev.event)
        if (ev.event === 'end') conn.close()
      },
    })
    await conn.finished
    expect(seen).toEqual(['log', 'end'])
    expect(calls).toBe(1)
  })
})
