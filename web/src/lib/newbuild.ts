/**
 * An open tab after the console was rebuilt or upgraded: its pages' chunks are named by the
 * old build's hashes, which the server no longer has, so opening a page fails. Loading the
 * page again fetches the new build; once, so that an asset really missing is not a loop.
 */

const KEY = 'steward.reloadedForNewBuild'
/** A second failure this soon after reloading is not a stale tab. */
const WINDOW_MS = 10_000

/** Whether `err` says a chunk or its CSS could not be loaded (the browsers' words differ). */
export function isMissingChunk(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err)
  return /Failed to fetch dynamically imported module|error loading dynamically imported module|Importing a module script failed|Unable to preload CSS|Failed to load module script/i.test(msg)
}

/** What reloading needs from the browser (passed in, so it can be tested). */
export interface Reloader {
  storage: Pick<Storage, 'getItem' | 'setItem'>
  now: () => number
  go: (path: string) => void
}

/** Loads `path` afresh unless that was just done; says whether it did. */
export function reloadOnce(path: string, r: Reloader): boolean {
  const last = Number(r.storage.getItem(KEY) ?? 0)
  if (r.now() - last < WINDOW_MS) return false
  r.storage.setItem(KEY, String(r.now()))
  r.go(path)
  return true
}
