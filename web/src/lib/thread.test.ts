import { describe, expect, it } from 'vitest'
import type { StoredMessage } from '@/api/types'
import { threadOf } from './thread'

const at = '2026-12-02T14:02:27Z'
const msg = (id: number, role: string, content: string, extra: Partial<StoredMessage> = {}): StoredMessage => ({
  id,
  role,
  content,
  at,
  proposals: [],
  tool_calls: [],
  citations: [],
  ...extra,
})
const call = { name: 'propose_job', arguments: '{"cluster":"local"}', ok: true, source: 'job:1' }

describe('threadOf', () => {
  it('folds a turn that used a tool into one assistant entry (as the server stores it)', () => {
    const thread = threadOf([
      msg(1, 'user', 'Please run a host check'),
      msg(2, 'assistant', ''),
      msg(3, 'tool', '<tool_result name="propose_job">…</tool_result>'),
      msg(4, 'assistant', 'Proposed job 1.', { proposals: [1], tool_calls: [call] }),
    ])
    expect(thread.map((m) => [m.key, m.role, m.text])).toEqual([
      ['m1', 'user', 'Please run a host check'],
      ['m4', 'assistant', 'Proposed job 1.'],
    ])
    expect(thread[1].tools).toEqual([call])
    expect(thread[1].jobIds).toEqual([1])
  })

  it('keeps what a step said and the tool calls and proposals of every step once', () => {
    const thread = threadOf([
      msg(1, 'user', 'disk?'),
      msg(2, 'assistant', 'Let me look.', { tool_calls: [call], proposals: [1] }),
      msg(3, 'tool', 'data'),
      msg(4, 'assistant', 'The disk is full.', {
        tool_calls: [call],
        proposals: [1],
        citations: [{ source: 'doc:a', title: 'A' } as StoredMessage['citations'][number]],
      }),
      msg(5, 'user', 'thanks'),
      msg(6, 'assistant', 'You are welcome.'),
    ])
    expect(thread.map((m) => m.text)).toEqual(['disk?', 'Let me look.\n\nThe disk is full.', 'thanks', 'You are welcome.'])
    expect(thread[1].tools).toHaveLength(1)
    expect(thread[1].jobIds).toEqual([1])
    expect(thread[1].citations.map((c) => c.source)).toEqual(['doc:a'])
  })

  it('shows nothing for a turn that left only an empty step', () => {
    const thread = threadOf([msg(1, 'user', 'hello'), msg(2, 'assistant', '  '), msg(3, 'user', 'again')])
    expect(thread.map((m) => m.role)).toEqual(['user', 'user'])
  })
})
