import { flushPromises, mount } from '@vue/test-utils'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'
import type { JobView } from '@/api/types'
import { forget, signIn } from '@/composables/session'
import ProposalCard from './ProposalCard.vue'

const job: JobView = {
  id: 12,
  cluster: 'local',
  state: 'PROPOSED',
  source: 'chat',
  summary: 'restart redis/server on web-1',
  risk: 'high',
  host_count: 1,
  rationale: 'Memory is **full**.',
  // The document types `params` and `env` as free-form objects.
  sources: ['doc:essentials/1.0/services/redis/docs/redis.md#memory'],
  plan: {
    cluster: 'local',
    stack: 'essentials',
    stack_version: '1.0',
    stages: [{ name: 'restart', service: 'redis', component: 'server', command: 'restart', risk: 'high', params: { wait: 5 } as never, depends_on: [], tasks: [{ host: 'web-1', digest: 'd' }] }],
  },
  plan_hash: 'a1b2c3d4e5f6a7b8c9d0',
  requested_by: 'olga',
  approvals: [],
  created_at: new Date().toISOString(),
  expires_at: new Date(Date.now() + 3_600_000).toISOString(),
  stages: [
    {
      idx: 0,
      name: 'restart',
      service: 'redis',
      component: 'server',
      command: 'restart',
      state: 'PENDING',
      depends_on: [],
      script: '#!/bin/sh\nsystemctl restart redis\n',
      shared_files: [],
      tasks: [{ id: 40, host: 'web-1', state: 'PENDING', attempt: 0, timeout_secs: 60, digest: 'd', env: { STEWARD_PARAM_WAIT: '5' } as never, files: [] }],
    },
  ],
  four_eyes: true,
}

/** The network as the server would answer: sign-in as `name` with `role`, and the approve call. */
function server(name: string, role: string, calls: Array<{ url: string; body: unknown }>) {
  return vi.fn(async (input: string | Request, init?: RequestInit) => {
    const req = typeof input === 'string' ? new Request(new URL(input, 'http://console.test'), init) : input
    const text = await req.text()
    const url = new URL(req.url).pathname
    calls.push({ url, body: text ? JSON.parse(text) : undefined })
    const json = (v: unknown) => new Response(JSON.stringify(v), { status: 200, headers: { 'content-type': 'application/json' } })
    if (url.endsWith('/auth/login')) return json({ token: 't', username: name, role, expires_at: '' })
    if (url.endsWith('/auth/me')) return json({ name, role })
    if (url.endsWith('/jobs/12/approve')) return json({ ...job, state: 'APPROVED', decided_by: name })
    return new Response('{"error":{"code":"not_found","message":"no"}}', { status: 404 })
  })
}

async function mountAs(name: string, role: string, calls: Array<{ url: string; body: unknown }> = []) {
  vi.stubGlobal('fetch', server(name, role, calls))
  await signIn(name, 'pw')
  const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/:p(.*)*', component: { template: '<div/>' } }] })
  return mount(ProposalCard, { props: { job }, global: { plugins: [router] } })
}

function button(w: Awaited<ReturnType<typeof mountAs>>, name: string) {
  const b = w.findAll('button').find((b) => b.text() === name)
  if (!b) throw new Error(`no button named ${name}`)
  return b
}

afterEach(() => {
  forget()
  vi.unstubAllGlobals()
})

describe('ProposalCard', () => {
  it('shows the plan, the short hash and the sources', async () => {
    const w = await mountAs('ann', 'approver')
    expect(w.text()).toContain('restart redis/server on web-1')
    expect(w.text()).toContain('a1b2c3d4e5f6')
    expect(w.text()).not.toContain('a1b2c3d4e5f6a7')
    expect(w.text()).toContain('web-1')
    expect(w.find('a[href="/stacks/docs/essentials/1.0/services/redis/docs/redis.md#memory"]').exists()).toBe(true)
    await button(w, 'Show script').trigger('click')
    expect(w.text()).toContain('systemctl restart redis')
    expect(w.text()).toContain('STEWARD_PARAM_WAIT=5')
  })

  it('disables the decision for a viewer and says why', async () => {
    const w = await mountAs('vic', 'viewer')
    expect(button(w, 'Approve').attributes('disabled')).toBeDefined()
    expect(button(w, 'Reject').attributes('disabled')).toBeDefined()
    expect(w.text()).toContain('Approving needs the approver role; you are viewer')
  })

  it('keeps the requester from approving a four-eyes job but lets them reject it', async () => {
    const w = await mountAs('olga', 'admin')
    expect(button(w, 'Approve').attributes('disabled')).toBeDefined()
    expect(button(w, 'Reject').attributes('disabled')).toBeUndefined()
    expect(w.text()).toContain('Four-eyes: this job must be approved by someone other than its requester')
  })

  it('approves with the plan hash as reviewed and then shows the new state', async () => {
    const calls: Array<{ url: string; body: unknown }> = []
    const w = await mountAs('ann', 'approver', calls)
    await w.find('input[aria-label="Comment"]').setValue('looks right')
    await button(w, 'Approve').trigger('click')
    await flushPromises()
    expect(calls.at(-1)).toEqual({ url: '/api/v1/jobs/12/approve', body: { plan_hash: 'a1b2c3d4e5f6a7b8c9d0', comment: 'looks right' } })
    expect(w.text()).toContain('APPROVED')
    expect(w.findAll('button').some((b) => b.text() === 'Approve')).toBe(false)
    expect(w.emitted('decided')).toHaveLength(1)
  })
})
