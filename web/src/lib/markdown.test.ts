import { describe, expect, it } from 'vitest'
import { renderMarkdown } from './markdown'

describe('renderMarkdown', () => {
  it('renders Markdown with the server anchors on headings', () => {
    const html = renderMarkdown('## Memory limits\n\nUse `maxmemory`.')
    expect(html).toContain('<h2 id="memory-limits">Memory limits</h2>')
    expect(html).toContain('<code>maxmemory</code>')
  })

  it('leaves nothing executable: no script element, no handler attribute, no javascript: link', () => {
    const div = document.createElement('div')
    div.innerHTML = renderMarkdown(
      '<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n<img src=x onerror=alert(1)>\n\n[ok](https://example.org)',
    )
    expect(div.querySelectorAll('script, img, iframe')).toHaveLength(0)
    const attrs = [...div.querySelectorAll('*')].flatMap((el) => [...el.attributes].map((a) => a.name))
    expect(attrs.filter((a) => a.startsWith('on'))).toEqual([])
    const links = [...div.querySelectorAll('a')].map((a) => a.getAttribute('href'))
    expect(links).toEqual(['https://example.org'])
    // The raw HTML is shown as text, so a reader sees what the model wrote.
    expect(div.textContent).toContain('<script>alert(1)</script>')
  })
})
