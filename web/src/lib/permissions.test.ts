import { describe, expect, it } from 'vitest'
import { atLeast, cancelPermission, proposalActions, type Role } from './permissions'

const job = (over: Partial<{ state: string; four_eyes: boolean; requested_by: string; approvals: string[] }> = {}) => ({
  state: 'PROPOSED',
  four_eyes: false,
  requested_by: 'alice',
  ...over,
})

describe('proposalActions', () => {
  // role × four-eyes × requester, on a PROPOSED job: [role, four_eyes, requester is me, approve?, reject?]
  const table: Array<[Role, boolean, boolean, boolean, boolean]> = [
    ['viewer', false, false, false, false],
    ['viewer', true, true, false, false],
    ['operator', false, false, false, false],
    ['operator', true, true, false, false],
    ['approver', false, false, true, true],
    ['approver', false, true, true, true],
    ['approver', true, false, true, true],
    ['approver', true, true, false, true],
    ['admin', false, true, true, true],
    ['admin', true, true, false, true],
    ['admin', true, false, true, true],
  ]
  for (const [role, fourEyes, mine, approve, reject] of table) {
    it(`${role}, four-eyes ${fourEyes}, own job ${mine}: approve ${approve}, reject ${reject}`, () => {
      const a = proposalActions(job({ four_eyes: fourEyes, requested_by: mine ? 'me' : 'alice' }), { name: 'me', role })
      expect(a.show).toBe(true)
      expect(a.approve.allowed).toBe(approve)
      expect(a.reject.allowed).toBe(reject)
    })
  }

  it('explains a role that is too low in words', () => {
    const a = proposalActions(job(), { name: 'vic', role: 'viewer' })
    expect(a.approve.reason).toBe('Approving needs the approver role; you are viewer')
    expect(a.reject.reason).toBe('Rejecting needs the approver role; you are viewer')
    expect(proposalActions(job(), { name: 'olga', role: 'operator' }).approve.reason).toBe(
      'Approving needs the approver role; you are operator',
    )
  })

  it('explains four-eyes to the requester', () => {
    const a = proposalActions(job({ four_eyes: true, requested_by: 'ann' }), { name: 'ann', role: 'approver' })
    expect(a.approve.reason).toBe('Four-eyes: this job must be approved by someone other than its requester')
    expect(a.reject.reason).toBeNull()
  })

  it('asks for a second, different approver once one person approved a two-approver job', () => {
    const j = job({ four_eyes: true, requested_by: 'system', approvals: ['bob'] })
    const bob = proposalActions(j, { name: 'bob', role: 'approver' })
    expect(bob.approve).toEqual({ allowed: false, reason: 'You approved it already; it needs a second, different approver' })
    expect(bob.reject.allowed).toBe(true)
    expect(proposalActions(j, { name: 'cid', role: 'approver' }).approve.allowed).toBe(true)
  })

  it('offers no actions once the job left PROPOSED, whatever the role', () => {
    for (const state of ['APPROVED', 'RUNNING', 'SUCCESSFUL', 'REJECTED', 'EXPIRED', 'CANCELED', 'FAILED']) {
      const a = proposalActions(job({ state }), { name: 'root', role: 'admin' })
      expect(a.show).toBe(false)
      expect(a.approve.allowed).toBe(false)
      expect(a.reject.allowed).toBe(false)
    }
  })

  it('asks a signed-out viewer to sign in', () => {
    const a = proposalActions(job(), null)
    expect(a.show).toBe(true)
    expect(a.approve).toEqual({ allowed: false, reason: 'Sign in to decide on proposals' })
  })
})

describe('atLeast and cancel', () => {
  it('orders roles viewer < operator < approver < admin', () => {
    expect(atLeast('viewer', 'operator')).toBe(false)
    expect(atLeast('operator', 'operator')).toBe(true)
    expect(atLeast('approver', 'operator')).toBe(true)
    expect(atLeast('approver', 'admin')).toBe(false)
    expect(atLeast('admin', 'approver')).toBe(true)
    expect(atLeast(undefined, 'viewer')).toBe(false)
  })

  it('lets approvers cancel unfinished jobs only', () => {
    expect(cancelPermission('RUNNING', { name: 'a', role: 'approver' }).allowed).toBe(true)
    expect(cancelPermission('PENDING', { name: 'a', role: 'admin' }).allowed).toBe(true)
    expect(cancelPermission('RUNNING', { name: 'o', role: 'operator' })).toEqual({
      allowed: false,
      reason: 'Cancelling needs the approver role; you are operator',
    })
    expect(cancelPermission('SUCCESSFUL', { name: 'a', role: 'admin' }).allowed).toBe(false)
  })
})
