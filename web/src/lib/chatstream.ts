/** How a streamed chat reply is assembled from its events (`token`, `tool_call`, …, `done`). */
import type { Citation, JobView, Reply } from '@/api/types'
import type { SseEvent } from '@/api/sse'

/** A tool the model called during a turn, and how it went (ok is null while it runs). */
export interface ToolLine {
  name: string
  arguments: string
  ok: boolean | null
  source?: string
}

/** The assistant's side of a turn as it arrives. */
export interface StreamedReply {
  text: string
  tools: ToolLine[]
  citations: Citation[]
  jobs: JobView[]
  error?: string
  done: boolean
}

/** An empty reply, before the first event. */
export function emptyReply(): StreamedReply {
  return { text: '', tools: [], citations: [], jobs: [], done: false }
}

/**
 * Applies one event to `r` in place: tokens append, a tool call opens a line that its result
 * closes, proposals are kept once each, `done` replaces the text with the whole reply (which
 * ends with a plain statement of what was proposed) and `error` records the message.
 */
export function applyChatEvent(r: StreamedReply, ev: SseEvent): void {
  let data: Record<string, unknown>
  try {
    data = JSON.parse(ev.data) as Record<string, unknown>
  } catch {
    return
  }
  switch (ev.event) {
    case 'token':
      r.text += String(data.text ?? '')
      break
    case 'tool_call':
      r.tools.push({ name: String(data.name ?? ''), arguments: String(data.arguments ?? ''), ok: null })
      break
    case 'tool_result': {
      const open = [...r.tools].reverse().find((t) => t.name === data.name && t.ok === null)
      const ok = Boolean(data.ok)
      const source = String(data.source ?? '')
      if (open) {
        open.ok = ok
        open.source = source
      } else r.tools.push({ name: String(data.name ?? ''), arguments: '', ok, source })
      break
    }
    case 'proposal': {
      const job = data.job as JobView | undefined
      if (job && !r.jobs.some((j) => j.id === job.id)) r.jobs.push(job)
      break
    }
    case 'done': {
      const reply = data as unknown as Reply
      r.text = reply.reply ?? r.text
      r.citations = reply.citations ?? []
      for (const j of reply.proposals ?? []) if (!r.jobs.some((x) => x.id === j.id)) r.jobs.push(j)
      if (reply.tool_calls?.length) {
        r.tools = reply.tool_calls.map((t) => ({ name: t.name, arguments: t.arguments, ok: t.ok, source: t.source }))
      }
      r.done = true
      break
    }
    case 'error':
      r.error = String(data.message ?? 'the assistant failed')
      r.done = true
      break
  }
}
