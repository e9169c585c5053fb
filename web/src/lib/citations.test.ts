import { describe, expect, it } from 'vitest'
import { citationRoute, slug } from './citations'

describe('citationRoute', () => {
  it('links docs, job tasks and incidents into the console', () => {
    expect(citationRoute('doc:essentials/1.0/services/redis/docs/redis.md#memory-limits')).toEqual({
      path: '/stacks/docs/essentials/1.0/services/redis/docs/redis.md',
      hash: '#memory-limits',
    })
    expect(citationRoute('doc:a/b.md')).toEqual({ path: '/stacks/docs/a/b.md', hash: '' })
    expect(citationRoute('job:12/task:40')).toEqual({ path: '/jobs/12', query: { task: '40' } })
    expect(citationRoute('job:12')).toEqual({ path: '/jobs/12', query: {} })
    expect(citationRoute('incident:7')).toEqual({ path: '/incidents/7' })
  })

  it('has no route for sources without a page', () => {
    expect(citationRoute('cluster:local')).toBeNull()
    expect(citationRoute('doc:')).toBeNull()
    expect(citationRoute('job:abc')).toBeNull()
  })
})

describe('slug', () => {
  it('matches the server: lower case, spaces to dashes, punctuation dropped', () => {
    expect(slug('  Memory limits & eviction ')).toBe('memory-limits--eviction')
    expect(slug('Kafka: under_replicated-partitions')).toBe('kafka-under_replicated-partitions')
    expect(slug('Größe prüfen')).toBe('größe-prüfen')
  })
})
