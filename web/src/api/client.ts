/**
 * The REST API, one function per operation the console uses. Paths, parameters and bodies are
 * checked against the server's OpenAPI document through openapi-fetch; the streams (chat
 * replies, followed logs) go through `send`, since they are read as events.
 */
import createClient from 'openapi-fetch'
import { ApiError, authHeaders, reportUnauthorized, send } from './http'
import type { paths } from './schema'
import type * as T from './types'

const client = createClient<paths>({
  // Absolute, because a Request outside a browser does not resolve relative URLs.
  baseUrl: typeof location !== 'undefined' ? location.origin : '',
  // Looked up on every call, so the page's (or a test's) fetch is the one used.
  fetch: (req: Request) => globalThis.fetch(req),
})

client.use({
  onRequest({ request }) {
    for (const [k, v] of Object.entries(authHeaders())) request.headers.set(k, v)
    return request
  },
})

/** A 2xx answer's data and response; an ApiError with the server's message otherwise. */
async function answer<D>(p: Promise<{ data?: D; error?: unknown; response: Response }>): Promise<{ data: D; response: Response }> {
  let r: { data?: D; error?: unknown; response: Response }
  try {
    r = await p
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e
    throw new ApiError(0, 'network', 'The server cannot be reached; check that Steward is running')
  }
  const { response } = r
  if (response.ok) return { data: r.data as D, response }
  if (response.status === 401 && !response.url.endsWith('/api/v1/auth/login')) reportUnauthorized()
  const body = r.error as { error?: { code?: string; message?: string } } | string | undefined
  if (typeof body === 'object' && body?.error?.message) {
    throw new ApiError(response.status, body.error.code ?? `http_${response.status}`, body.error.message)
  }
  throw new ApiError(response.status, `http_${response.status}`, typeof body === 'string' && body ? body : `${response.status} ${response.statusText || 'error'}`)
}

/** The data of a 2xx answer; an ApiError with the server's message otherwise. */
async function unwrap<D>(p: Promise<{ data?: D; error?: unknown; response: Response }>): Promise<D> {
  return (await answer(p)).data
}

/** A page of a list and the total the server reported (`x-total-count`). */
export interface Page<X> {
  items: X[]
  total: number
}

export const api = {
  login: (username: string, password: string) => unwrap(client.POST('/api/v1/auth/login', { body: { username, password } })),
  logout: () => unwrap(client.POST('/api/v1/auth/logout')),
  me: () => unwrap(client.GET('/api/v1/auth/me')),

  async jobs(q: { state?: string[]; limit?: number; offset?: number; host_id?: number; source?: string }): Promise<Page<T.JobSummary>> {
    const query = {
      state: q.state?.length ? q.state.join(',') : undefined,
      limit: q.limit,
      offset: q.offset,
      host_id: q.host_id,
      source: q.source,
    }
    const { data: items, response } = await answer(client.GET('/api/v1/jobs', { params: { query } }))
    const total = Number(response.headers.get('x-total-count') ?? items.length)
    return { items, total: Number.isFinite(total) ? total : items.length }
  },
  job: (id: number) => unwrap(client.GET('/api/v1/jobs/{id}', { params: { path: { id } } })),
  approve: (id: number, plan_hash: string, comment?: string) =>
    unwrap(client.POST('/api/v1/jobs/{id}/approve', { params: { path: { id } }, body: { plan_hash, comment } })),
  reject: (id: number, comment?: string) => unwrap(client.POST('/api/v1/jobs/{id}/reject', { params: { path: { id } }, body: comment ? { comment } : {} })),
  cancel: (id: number) => unwrap(client.POST('/api/v1/jobs/{id}/cancel', { params: { path: { id } } })),
  summary: (id: number) => unwrap(client.POST('/api/v1/jobs/{id}/summary', { params: { path: { id } } })),
  taskLogUrl: (job: number, task: number) => `/api/v1/jobs/${job}/tasks/${task}/logs?follow=true`,

  hosts: () => unwrap(client.GET('/api/v1/hosts')),
  host: (id: string) => unwrap(client.GET('/api/v1/hosts/{id}', { params: { path: { id } } })),
  series: (id: string) => unwrap(client.GET('/api/v1/hosts/{id}/metrics/series', { params: { path: { id } } })),
  metrics: (id: string, q: { name: string; from?: number; to?: number; step?: string }, signal?: AbortSignal) =>
    unwrap(client.GET('/api/v1/hosts/{id}/metrics', { params: { path: { id }, query: { ...q, from: q.from?.toString(), to: q.to?.toString() } }, signal })),

  clusters: () => unwrap(client.GET('/api/v1/clusters')),
  cluster: (id: string) => unwrap(client.GET('/api/v1/clusters/{id}', { params: { path: { id } } })),
  stacks: () => unwrap(client.GET('/api/v1/stacks')),
  /** A stack document; its path keeps its slashes (the route is a wildcard). */
  async stackDoc(path: string): Promise<T.StackDoc> {
    const res = await send('GET', `/api/v1/stacks/docs/${path.split('/').map(encodeURIComponent).join('/')}`)
    return (await res.json()) as T.StackDoc
  },

  incidents: (q: { state?: string; host_id?: number; limit?: number } = {}) => unwrap(client.GET('/api/v1/incidents', { params: { query: q } })),
  incident: (id: number) => unwrap(client.GET('/api/v1/incidents/{id}', { params: { path: { id } } })),

  conversations: () => unwrap(client.GET('/api/v1/chat/conversations')),
  newConversation: () => unwrap(client.POST('/api/v1/chat/conversations', { body: { channel: 'web' } })),
  messages: (id: number) => unwrap(client.GET('/api/v1/chat/conversations/{id}/messages', { params: { path: { id } } })),
  /** Sends a message and returns the response whose body is the reply's event stream. */
  sendMessage: (id: number, text: string, signal?: AbortSignal) =>
    send('POST', `/api/v1/chat/conversations/${id}/messages`, { body: { text }, headers: { accept: 'text/event-stream' }, signal }),

  search: (q: string, limit: number) => unwrap(client.GET('/api/v1/knowledge/search', { params: { query: { q, limit } } })),

  audit: (q: { actor?: string; action?: string; target?: string; before?: number; limit?: number }) =>
    unwrap(client.GET('/api/v1/audit', { params: { query: q } })),
  verifyAudit: () => unwrap(client.GET('/api/v1/audit/verify')),

  users: () => unwrap(client.GET('/api/v1/users')),
  createUser: (username: string, password: string, role: T.Role) => unwrap(client.POST('/api/v1/users', { body: { username, password, role } })),
  updateUser: (id: number, patch: { role?: T.Role; disabled?: boolean }) =>
    unwrap(client.PATCH('/api/v1/users/{id}', { params: { path: { id } }, body: patch })),
  deleteUser: (id: number) => unwrap(client.DELETE('/api/v1/users/{id}', { params: { path: { id } } })),
  tokens: () => unwrap(client.GET('/api/v1/tokens')),
  createToken: (name: string, role: T.Role, expires_at?: string) => unwrap(client.POST('/api/v1/tokens', { body: { name, role, expires_at } })),
  revokeToken: (id: number) => unwrap(client.DELETE('/api/v1/tokens/{id}', { params: { path: { id } } })),
  enrollments: () => unwrap(client.GET('/api/v1/enrollments')),
  createEnrollment: (body: { hostname?: string; cluster?: string; expires_in?: number }) => unwrap(client.POST('/api/v1/enrollments', { body })),
  revokeEnrollment: (id: number) => unwrap(client.DELETE('/api/v1/enrollments/{id}', { params: { path: { id } } })),
  chatIdentities: () => unwrap(client.GET('/api/v1/chat-identities')),
  linkChatIdentity: (body: { provider: 'slack' | 'telegram'; external_id: string; username: string }) => unwrap(client.POST('/api/v1/chat-identities', { body })),
  unlinkChatIdentity: (id: number) => unwrap(client.DELETE('/api/v1/chat-identities/{id}', { params: { path: { id } } })),
  createLinkCode: () => unwrap(client.POST('/api/v1/chat-identities/link-code')),
}

