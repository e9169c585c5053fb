/** Markdown to sanitised HTML: assistant replies and stack docs are data, never markup to trust. */
import DOMPurify from 'dompurify'
import MarkdownIt from 'markdown-it'
import { slug } from './citations'

const md = new MarkdownIt({ html: false, linkify: true, breaks: false })

// Headings carry the server's anchors, so a citation's `#anchor` lands on its section.
md.renderer.rules.heading_open = (tokens, idx, options, _env, self) => {
  const inline = tokens[idx + 1]
  const text = inline?.children?.map((t) => t.content).join('') ?? ''
  tokens[idx].attrSet('id', slug(text))
  return self.renderToken(tokens, idx, options)
}

// External links open in a new tab and say so to the browser.
const defaultLink = md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options))
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  const href = tokens[idx].attrGet('href') ?? ''
  if (/^https?:/.test(href)) {
    tokens[idx].attrSet('target', '_blank')
    tokens[idx].attrSet('rel', 'noopener noreferrer')
  }
  return defaultLink(tokens, idx, options, env, self)
}

/** The HTML of `text`, with anything executable removed. */
export function renderMarkdown(text: string): string {
  return DOMPurify.sanitize(md.render(text), { ADD_ATTR: ['target'] })
}
