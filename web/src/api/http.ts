/**
 * The transport under the typed client: the bearer token, JSON error bodies turned into
 * errors people can read, and one place that reacts to 401 (back to the sign-in page).
 */

const TOKEN_KEY = 'steward.token'

/** An error answer of the API, with the server's own words. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

/** The stored bearer token, if signed in. */
export function getToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY)
  } catch {
    return null
  }
}

/** Stores (or, with null, forgets) the bearer token. */
export function setToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token)
  else localStorage.removeItem(TOKEN_KEY)
}

let unauthorized: () => void = () => {}

/** What to do when the API answers 401: set once by the app (it forgets the token and goes to /login). */
export function onUnauthorized(fn: () => void): void {
  unauthorized = fn
}

/** Tells the app its token was refused. */
export function reportUnauthorized(): void {
  unauthorized()
}

/** The bearer header for the stored token. */
export function authHeaders(): Record<string, string> {
  const t = getToken()
  return t ? { authorization: `Bearer ${t}` } : {}
}

/** Reads the `{"error":{"code","message"}}` body of a failed answer into an ApiError. */
export async function errorFrom(res: Response): Promise<ApiError> {
  let code = 'http_' + res.status
  let message = `${res.status} ${res.statusText || 'error'}`
  try {
    const text = await res.text()
    try {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string } }
      if (body.error?.message) message = body.error.message
      if (body.error?.code) code = body.error.code
    } catch {
      if (text.trim()) message = text.trim().slice(0, 500)
    }
  } catch {
    // The body could not be read: the status line is all there is.
  }
  return new ApiError(res.status, code, message)
}

/** Options of one request. */
export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined | null>
  body?: unknown
  headers?: Record<string, string>
  signal?: AbortSignal
}

/** `path` with the defined query parameters appended. */
export function withQuery(path: string, query?: RequestOptions['query']): string {
  if (!query) return path
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  const s = q.toString()
  return s ? `${path}?${s}` : path
}

/**
 * Sends a request with the bearer token; resolves with the raw response when it is 2xx,
 * throws an ApiError otherwise (after reporting a 401 to the app, except for the login call).
 */
export async function send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...authHeaders(), ...opts.headers }
  let body: BodyInit | undefined
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(opts.body)
  }
  let res: Response
  try {
    res = await fetch(withQuery(path, opts.query), { method, headers, body, signal: opts.signal })
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e
    throw new ApiError(0, 'network', 'The server cannot be reached; check that Steward is running')
  }
  if (!res.ok) {
    const err = await errorFrom(res)
    if (res.status === 401 && path !== '/api/v1/auth/login') reportUnauthorized()
    throw err
  }
  return res
}

/** `send` and parse the JSON answer. */
export async function json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(method, path, opts)
  if (res.status === 204) return undefined as T
  return (await res.json()) as T
}

/** A message for any thrown value. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message
  return String(e)
}
