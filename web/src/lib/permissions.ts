/** Who may do what in the console: the server decides, these rules explain it beforehand. */

/** The roles, weakest first. */
export const ROLES = ['viewer', 'operator', 'approver', 'admin'] as const
/** A role. */
export type Role = (typeof ROLES)[number]

/** Whether `role` is at least `min`. */
export function atLeast(role: Role | undefined, min: Role): boolean {
  if (!role) return false
  return ROLES.indexOf(role) >= ROLES.indexOf(min)
}

/** One action on a proposal: may it be taken, and if not, why (in words). */
export interface Permission {
  allowed: boolean
  reason: string | null
}

/** What a proposal card offers its viewer. */
export interface ProposalActions {
  /** False once the job is no longer PROPOSED: the card shows its state instead of buttons. */
  show: boolean
  approve: Permission
  reject: Permission
}

/** The parts of a job the rules read. */
export interface ProposalFacts {
  state: string
  four_eyes?: boolean
  requested_by: string
  /** Who approved already, on a job that needs two approvers (a high-risk system proposal). */
  approvals?: string[]
}

/** The parts of the viewer the rules read. */
export interface Viewer {
  name: string
  role: Role
}

const ok: Permission = { allowed: true, reason: null }

/** The actions `me` can take on `job`, mirroring the server's role table and four-eyes rule. */
export function proposalActions(job: ProposalFacts, me: Viewer | null): ProposalActions {
  const none: Permission = { allowed: false, reason: null }
  if (job.state !== 'PROPOSED') return { show: false, approve: none, reject: none }
  if (!me) {
    const reason = 'Sign in to decide on proposals'
    return { show: true, approve: { allowed: false, reason }, reject: { allowed: false, reason } }
  }
  if (!atLeast(me.role, 'approver')) {
    return {
      show: true,
      approve: { allowed: false, reason: `Approving needs the approver role; you are ${me.role}` },
      reject: { allowed: false, reason: `Rejecting needs the approver role; you are ${me.role}` },
    }
  }
  // The requester may still reject their own proposal: four-eyes guards approval only.
  const approve: Permission =
    job.four_eyes && job.requested_by === me.name
      ? { allowed: false, reason: 'Four-eyes: this job must be approved by someone other than its requester' }
      : job.approvals?.includes(me.name)
        ? { allowed: false, reason: 'You approved it already; it needs a second, different approver' }
        : ok
  return { show: true, approve, reject: ok }
}

/** Whether `me` may cancel a job in `state` (approvers, while it has not finished). */
export function cancelPermission(state: string, me: Viewer | null): Permission {
  if (!['APPROVED', 'PENDING', 'RUNNING'].includes(state)) return { allowed: false, reason: null }
  if (!me || !atLeast(me.role, 'approver')) {
    return { allowed: false, reason: `Cancelling needs the approver role; you are ${me?.role ?? 'signed out'}` }
  }
  return ok
}
