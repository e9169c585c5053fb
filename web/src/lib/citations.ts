/** Where a cited source is read in the console. */
import type { RouteLocationRaw } from 'vue-router'

/**
 * The console route of a source id: `doc:<path>#anchor` → the stack doc page,
 * `job:<id>/task:<id>` → the job page on that task, `incident:<id>` → the incident;
 * null for sources the console has no page for.
 */
export function citationRoute(source: string): RouteLocationRaw | null {
  if (source.startsWith('doc:')) {
    const rest = source.slice(4)
    const hash = rest.indexOf('#')
    const path = hash < 0 ? rest : rest.slice(0, hash)
    if (!path) return null
    return { path: `/stacks/docs/${path}`, hash: hash < 0 ? '' : rest.slice(hash) }
  }
  const job = /^job:(\d+)(?:\/task:(\d+))?$/.exec(source)
  if (job) return { path: `/jobs/${job[1]}`, query: job[2] ? { task: job[2] } : {} }
  const inc = /^incident:(\d+)$/.exec(source)
  if (inc) return { path: `/incidents/${inc[1]}` }
  return null
}

/** The anchor of a heading, as the server's knowledge index makes it (`chunk::slug`). */
export function slug(heading: string): string {
  let out = ''
  for (const c of heading.trim().toLowerCase()) {
    if (c === ' ') out += '-'
    else if (/^[\p{L}\p{N}_-]$/u.test(c)) out += c
  }
  return out
}
