/** The colour of each state's tag (Naive UI tag types). */
export type TagType = 'default' | 'info' | 'success' | 'warning' | 'error' | 'primary'

const TYPES: Record<string, TagType> = {
  PROPOSED: 'warning',
  APPROVED: 'info',
  PENDING: 'info',
  DISPATCHED: 'info',
  RUNNING: 'primary',
  SUCCESSFUL: 'success',
  FAILED: 'error',
  CANCELED: 'default',
  REJECTED: 'default',
  EXPIRED: 'default',
  SKIPPED: 'default',
  TIMED_OUT: 'error',
  ONLINE: 'success',
  OFFLINE: 'error',
  STARTED: 'success',
  INSTALLED: 'info',
  STOPPED: 'default',
  UNKNOWN: 'warning',
  OPEN: 'error',
  RESOLVED: 'success',
}

/** The tag type of a job, task, host, component or incident state. */
export function stateType(state: string): TagType {
  return TYPES[state.toUpperCase()] ?? 'default'
}

/** Job states, in lifecycle order. */
export const JOB_STATES = ['PROPOSED', 'APPROVED', 'PENDING', 'RUNNING', 'SUCCESSFUL', 'FAILED', 'CANCELED', 'REJECTED', 'EXPIRED']

/** Whether a job in `state` will not change any more. */
export function isFinal(state: string): boolean {
  return ['SUCCESSFUL', 'FAILED', 'CANCELED', 'REJECTED', 'EXPIRED'].includes(state)
}
