/**
 * Server-sent events over `fetch`: EventSource cannot send the bearer header, so the console
 * parses `text/event-stream` itself and reconnects with backoff when the stream drops.
 */

/** One event of a `text/event-stream`. */
export interface SseEvent {
  /** The `event:` field, `message` when absent. */
  event: string
  /** The `data:` lines joined by newlines. */
  data: string
  /** The last `id:` seen on the stream, if any. */
  id?: string
}

/**
 * Incremental parser: chunks may split a line, a CRLF pair or an event anywhere; `feed`
 * returns the events completed by the chunk.
 */
export class SseParser {
  private buffer = ''
  private data: string[] = []
  private event = ''
  /** The last `id:` field seen (it persists across events, as in the spec). */
  lastEventId: string | undefined

  /** Forgets a half-read event (the stream it came from dropped); keeps `lastEventId`. */
  reset(): void {
    this.buffer = ''
    this.data = []
    this.event = ''
  }

  /** Adds text and returns every event it completed. */
  feed(chunk: string): SseEvent[] {
    const text = this.buffer + chunk
    const out: SseEvent[] = []
    let start = 0
    for (let i = 0; i < text.length; i++) {
      const c = text[i]
      if (c !== '\n' && c !== '\r') continue
      // A trailing CR may be the first half of a CRLF split across chunks: wait for more.
      if (c === '\r' && i === text.length - 1) break
      const line = text.slice(start, i)
      if (c === '\r' && text[i + 1] === '\n') i++
      start = i + 1
      this.line(line, out)
    }
    this.buffer = text.slice(start)
    return out
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0) {
        out.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.lastEventId })
      }
      this.data = []
      this.event = ''
      return
    }
    if (line.startsWith(':')) return // a comment: the server's keep-alive
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') this.event = value
    else if (field === 'data') this.data.push(value)
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value
  }
}

/** Reads a whole event stream, calling `onEvent` as events complete; resolves when it ends. */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onEvent: (ev: SseEvent) => void,
  parser: SseParser = new SseParser(),
): Promise<void> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      for (const ev of parser.feed(decoder.decode(value, { stream: true }))) onEvent(ev)
    }
    // An event not ended by a blank line is incomplete and dropped, as the spec says.
    for (const ev of parser.feed(decoder.decode())) onEvent(ev)
  } finally {
    reader.releaseLock()
  }
}

/** Where a live connection is. */
export type LinkState = 'connecting' | 'open' | 'down' | 'closed'

/** How a live connection is made and what it reports. */
export interface LiveOptions {
  /** The URL, read again on every attempt. */
  url: string | (() => string)
  /** Request options for each attempt (the bearer header is computed here, fresh each time). */
  init?: () => RequestInit
  /** Called for every event. */
  onEvent: (ev: SseEvent) => void
  /** Called when the state changes. */
  onState?: (state: LinkState) => void
  /** Called when a stream opens; `reconnected` is true from the second time on. */
  onOpen?: (reconnected: boolean) => void
  /** An answer that is not a 2xx stream: `stop` ends the connection, `retry` backs off. */
  onHttpError?: (res: Response) => 'stop' | 'retry'
  /** First retry delay (ms); doubles up to `maxDelayMs`, back to this after a success. */
  minDelayMs?: number
  /** Longest retry delay (ms). */
  maxDelayMs?: number
  /** Injected for tests. */
  fetch?: typeof fetch
  /** Injected for tests: waits `ms` or until aborted. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
}

/** A connection that reconnects by itself until closed. */
export interface LiveConnection {
  /** Stops it for good. */
  close(): void
  /** Its current state. */
  readonly state: LinkState
  /** Resolves once it is closed and its loop has returned. */
  readonly finished: Promise<void>
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(t)
      resolve()
    })
  })
}

/** Opens `options.url` as an event stream and keeps it open, reconnecting with backoff. */
export function connectSse(options: LiveOptions): LiveConnection {
  const min = options.minDelayMs ?? 500
  const max = options.maxDelayMs ?? 10_000
  const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const sleep = options.sleep ?? defaultSleep
  const stop = new AbortController()
  const parser = new SseParser()
  let state: LinkState = 'connecting'
  const setState = (s: LinkState) => {
    if (s === state) return
    state = s
    options.onState?.(s)
  }

  async function run(): Promise<void> {
    let delay = min
    let opened = 0
    while (!stop.signal.aborted) {
      try {
        const init = options.init?.() ?? {}
        const headers = new Headers(init.headers)
        headers.set('accept', 'text/event-stream')
        if (parser.lastEventId !== undefined) headers.set('last-event-id', parser.lastEventId)
        const url = typeof options.url === 'function' ? options.url() : options.url
        const res = await doFetch(url, { ...init, headers, signal: stop.signal })
        if (!res.ok || !res.body) {
          if ((options.onHttpError?.(res) ?? 'retry') === 'stop') break
          throw new Error(`HTTP ${res.status}`)
        }
        delay = min
        parser.reset()
        setState('open')
        options.onOpen?.(opened++ > 0)
        await readSse(res.body, (ev) => {
          if (!stop.signal.aborted) options.onEvent(ev)
        }, parser)
      } catch {
        // Network errors and dropped streams are what the retry loop is for.
      }
      if (stop.signal.aborted) break
      setState('down')
      await sleep(delay, stop.signal)
      delay = Math.min(delay * 2, max)
    }
    setState('closed')
  }

  const finished = run()
  return {
    close: () => stop.abort(),
    get state() {
      return state
    },
    finished,
  }
}
