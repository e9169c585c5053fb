/** The REST API, one typed function per operation the console uses. */
import { json, send } from './http'
import type * as T from './types'

const V1 = '/api/v1'
const enc = encodeURIComponent

/** A page of a list and the total the server reported (`x-total-count`). */
export interface Page<X> {
  items: X[]
  total: number
}

export const api = {
  login: (username: string, password: string) => json<T.Session>('POST', `${V1}/auth/login`, { body: { username, password } }),
  logout: () => json<unknown>('POST', `${V1}/auth/logout`),
  me: () => json<T.Me>('GET', `${V1}/auth/me`),

  async jobs(q: { state?: string[]; limit?: number; offset?: number; host_id?: number; source?: string }): Promise<Page<T.JobSummary>> {
    const res = await send('GET', `${V1}/jobs`, {
      query: { state: q.state?.length ? q.state.join(',') : undefined, limit: q.limit, offset: q.offset, host_id: q.host_id, source: q.source },
    })
    const items = (await res.json()) as T.JobSummary[]
    const total = Number(res.headers.get('x-total-count') ?? items.length)
    return { items, total: Number.isFinite(total) ? total : items.length }
  },
  job: (id: number) => json<T.JobView>('GET', `${V1}/jobs/${id}`),
  approve: (id: number, plan_hash: string, comment?: string) =>
    json<T.JobView>('POST', `${V1}/jobs/${id}/approve`, { body: comment ? { plan_hash, comment } : { plan_hash } }),
  reject: (id: number, comment?: string) => json<T.JobView>('POST', `${V1}/jobs/${id}/reject`, { body: comment ? { comment } : {} }),
  cancel: (id: number) => json<T.JobView>('POST', `${V1}/jobs/${id}/cancel`),
  summary: (id: number) => json<T.JobSummaryText>('POST', `${V1}/jobs/${id}/summary`),
  taskLog: async (job: number, task: number) => (await send('GET', `${V1}/jobs/${job}/tasks/${task}/logs`)).text(),
  taskLogUrl: (job: number, task: number) => `${V1}/jobs/${job}/tasks/${task}/logs?follow=true`,

  hosts: () => json<T.HostView[]>('GET', `${V1}/hosts`),
  host: (id: string | number) => json<T.HostWithMetrics>('GET', `${V1}/hosts/${enc(String(id))}`),
  series: (id: string | number) => json<T.SeriesLatest[]>('GET', `${V1}/hosts/${enc(String(id))}/metrics/series`),
  metrics: (id: string | number, q: { name: string; from?: number; to?: number; step?: string }, signal?: AbortSignal) =>
    json<T.RangeView>('GET', `${V1}/hosts/${enc(String(id))}/metrics`, { query: q, signal }),

  clusters: () => json<T.ClusterView[]>('GET', `${V1}/clusters`),
  cluster: (id: string) => json<T.ClusterView>('GET', `${V1}/clusters/${enc(id)}`),
  stacks: () => json<T.StackInfo[]>('GET', `${V1}/stacks`),
  stackDoc: (path: string) => json<T.StackDoc>('GET', `${V1}/stacks/docs/${path.split('/').map(enc).join('/')}`),

  incidents: (q: { state?: string; host_id?: number; limit?: number } = {}) => json<T.IncidentView[]>('GET', `${V1}/incidents`, { query: q }),
  incident: (id: number) => json<T.IncidentView>('GET', `${V1}/incidents/${id}`),

  conversations: () => json<T.Conversation[]>('GET', `${V1}/chat/conversations`),
  newConversation: () => json<{ id: number }>('POST', `${V1}/chat/conversations`),
  messages: (id: number) => json<T.StoredMessage[]>('GET', `${V1}/chat/conversations/${id}/messages`),
  /** Sends a message and returns the event stream of the reply. */
  sendMessage: (id: number, text: string, signal?: AbortSignal) =>
    send('POST', `${V1}/chat/conversations/${id}/messages`, { body: { text }, headers: { accept: 'text/event-stream' }, signal }),

  search: (q: string, limit: number) => json<T.SearchResult>('GET', `${V1}/knowledge/search`, { query: { q, limit } }),

  audit: (q: { actor?: string; action?: string; target?: string; since?: string; until?: string; before?: number; limit?: number }) =>
    json<T.AuditEvent[]>('GET', `${V1}/audit`, { query: q }),
  verifyAudit: () => json<T.Verification>('GET', `${V1}/audit/verify`),

  users: () => json<T.UserView[]>('GET', `${V1}/users`),
  createUser: (username: string, password: string, role: string) => json<T.UserView>('POST', `${V1}/users`, { body: { username, password, role } }),
  updateUser: (id: number, patch: { role?: string; disabled?: boolean }) => json<T.UserView>('PATCH', `${V1}/users/${id}`, { body: patch }),
  deleteUser: (id: number) => send('DELETE', `${V1}/users/${id}`),
  tokens: () => json<T.TokenView[]>('GET', `${V1}/tokens`),
  createToken: (name: string, role: string, expires_at?: string) =>
    json<T.NewToken>('POST', `${V1}/tokens`, { body: expires_at ? { name, role, expires_at } : { name, role } }),
  revokeToken: (id: number) => json<T.TokenView>('DELETE', `${V1}/tokens/${id}`),
  enrollments: () => json<T.EnrollmentView[]>('GET', `${V1}/enrollments`),
  createEnrollment: (body: { hostname?: string; cluster?: string; expires_in?: number }) =>
    json<T.EnrollmentView>('POST', `${V1}/enrollments`, { body }),
  revokeEnrollment: (id: number) => send('DELETE', `${V1}/enrollments/${id}`),
}
