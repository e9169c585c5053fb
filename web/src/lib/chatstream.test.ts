import { describe, expect, it } from 'vitest'
import { applyChatEvent, emptyReply } from './chatstream'

const ev = (event: string, data: unknown) => ({ event, data: JSON.stringify(data) })
const job = (id: number) => ({ id, state: 'PROPOSED', summary: `job ${id}` }) as never

describe('applyChatEvent', () => {
  it('assembles tokens, tool lines, proposals and the final reply', () => {
    const r = emptyReply()
    applyChatEvent(r, ev('tool_call', { type: 'tool_call', name: 'list_hosts', arguments: '{}' }))
    expect(r.tools).toEqual([{ name: 'list_hosts', arguments: '{}', ok: null }])
    applyChatEvent(r, ev('tool_result', { type: 'tool_result', name: 'list_hosts', ok: true, source: 'cluster:local' }))
    expect(r.tools).toEqual([{ name: 'list_hosts', arguments: '{}', ok: true, source: 'cluster:local' }])
    applyChatEvent(r, ev('token', { type: 'token', text: 'Disk on ' }))
    applyChatEvent(r, ev('token', { type: 'token', text: 'web-1 is 93 %.' }))
    expect(r.text).toBe('Disk on web-1 is 93 %.')
    applyChatEvent(r, ev('proposal', { type: 'proposal', job: job(7) }))
    applyChatEvent(r, ev('proposal', { type: 'proposal', job: job(7) }))
    expect(r.jobs.map((j) => j.id)).toEqual([7])
    applyChatEvent(
      r,
      ev('done', {
        conversation_id: 1,
        reply: 'Disk on web-1 is 93 %. I proposed job 7 (clean-tmp on web-1); it waits for approval.',
        proposals: [job(7), job(8)],
        tool_calls: [{ name: 'list_hosts', arguments: '{}', ok: true, source: 'cluster:local' }],
        sources: ['doc:a.md#x'],
        citations: [{ source: 'doc:a.md#x', title: 'Disk', link: 'stacks/a.md#x' }],
      }),
    )
    expect(r.done).toBe(true)
    expect(r.text).toBe('Disk on web-1 is 93 %. I proposed job 7 (clean-tmp on web-1); it waits for approval.')
    expect(r.jobs.map((j) => j.id)).toEqual([7, 8])
    expect(r.citations).toEqual([{ source: 'doc:a.md#x', title: 'Disk', link: 'stacks/a.md#x' }])
  })

  it('records an error and a result without its call', () => {
    const r = emptyReply()
    applyChatEvent(r, ev('tool_result', { name: 'search_knowledge', ok: false, source: '' }))
    expect(r.tools).toEqual([{ name: 'search_knowledge', arguments: '', ok: false, source: '' }])
    applyChatEvent(r, ev('error', { message: 'the model timed out' }))
    expect(r.error).toBe('the model timed out')
    expect(r.done).toBe(true)
  })

  it('ignores an event whose data is not JSON', () => {
    const r = emptyReply()
    applyChatEvent(r, { event: 'token', data: 'not json' })
    expect(r).toEqual(emptyReply())
  })
})
