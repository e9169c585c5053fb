/** A conversation's stored messages as the chat thread shows them: one entry per turn side. */
import type { Citation, StoredMessage } from '@/api/types'
import type { StreamedReply, ToolLine } from './chatstream'

/** A message as the thread shows it: stored, or being streamed. */
export interface ThreadMessage extends StreamedReply {
  key: string
  role: 'user' | 'assistant'
  at?: string
  /** Proposals of stored messages (ids: the cards load them); streamed ones are in `jobs`. */
  jobIds: number[]
  streaming?: boolean
}

/**
 * Folds stored messages into the thread: each user message, then one assistant entry for
 * everything the assistant did until the next user message. A turn that used tools is stored
 * as assistant steps that only called a tool (no text), tool results, and the reply that ends
 * the turn (which lists every tool call); drawn one by one, the steps were empty bubbles. Tool
 * results are not shown (the reply's tool lines say how each call went); a turn with nothing
 * to show (an empty step left by a failed turn) gives no entry.
 */
export function threadOf(messages: StoredMessage[]): ThreadMessage[] {
  const out: ThreadMessage[] = []
  let turn: ThreadMessage | null = null
  const close = () => {
    if (turn && (turn.text || turn.tools.length || turn.citations.length || turn.jobIds.length)) out.push(turn)
    turn = null
  }
  for (const m of messages) {
    if (m.role === 'user') {
      close()
      out.push({ key: `m${m.id}`, role: 'user', text: m.content, at: m.at, tools: [], citations: [], jobs: [], jobIds: [], done: true })
      continue
    }
    if (m.role !== 'assistant') continue
    turn ??= { key: '', role: 'assistant', text: '', tools: [], citations: [], jobs: [], jobIds: [], done: true }
    turn.key = `m${m.id}`
    turn.at = m.at
    const text = m.content.trim()
    if (text && !turn.text.includes(text)) turn.text = turn.text ? `${turn.text}\n\n${text}` : text
    for (const t of m.tool_calls ?? []) addTool(turn.tools, { name: t.name, arguments: t.arguments, ok: t.ok, source: t.source })
    for (const c of m.citations ?? []) addCitation(turn.citations, c)
    for (const id of m.proposals ?? []) if (!turn.jobIds.includes(id)) turn.jobIds.push(id)
  }
  close()
  return out
}

function addTool(tools: ToolLine[], t: ToolLine): void {
  if (!tools.some((x) => x.name === t.name && x.arguments === t.arguments && x.source === t.source)) tools.push(t)
}

function addCitation(cites: Citation[], c: Citation): void {
  if (!cites.some((x) => x.source === c.source)) cites.push(c)
}
