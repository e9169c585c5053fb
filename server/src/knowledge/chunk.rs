//! Cutting sources into chunks the embedder can take whole: Markdown by heading, job output by
//! line windows under a header that says what ran and how it ended.
//!
//! all-MiniLM-L6-v2 reads at most 256 word pieces; prose is about 4 characters a piece and
//! tables or log lines fewer, so a chunk's body stays under [`MAX_CHUNK_CHARS`].

/// Longest chunk body in bytes (about 200 word pieces of prose).
pub const MAX_CHUNK_CHARS: usize = 900;

/// Most chunks kept from one task's output; when there are more, the first and the last ones
/// are kept (how it started, and how it ended: where failures are).
pub const MAX_CHUNKS_PER_TASK: usize = 24;

/// One section of a document, ready to embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The heading path, e.g. `kafka: distributed commit log › Operations`.
    pub title: String,
    /// The anchor of the section's heading (GitHub style), unique within the document.
    pub anchor: String,
    /// The text embedded and shown: the heading path, then the body.
    pub text: String,
}

/// Splits Markdown at its headings (outside code fences). Each section's text starts with its
/// heading path so that a section about "Restart" still says which service it belongs to; a
/// section longer than [`MAX_CHUNK_CHARS`] is split at paragraph (then line) boundaries into
/// parts titled `… (2)`, `… (3)`. Headings without a body produce nothing.
pub fn markdown(doc: &str) -> Vec<Section> {
    let mut sections = vec![];
    let mut path: Vec<(usize, String)> = vec![];
    let mut body = String::new();
    let mut in_fence = false;
    let mut anchors = std::collections::BTreeMap::<String, usize>::new();
    let mut flush = |path: &[(usize, String)], body: &mut String, sections: &mut Vec<Section>| {
        let text = body.trim();
        if !text.is_empty() {
            let title = if path.is_empty() {
                "Introduction".to_owned()
            } else {
                path.iter().map(|(_, h)| h.as_str()).collect::<Vec<_>>().join(" › ")
            };
            let base = path.last().map(|(_, h)| slug(h)).unwrap_or_default();
            let n = anchors.entry(base.clone()).or_insert(0);
            let anchor = if *n == 0 { base.clone() } else { format!("{base}-{n}") };
            *n += 1;
            let parts = split(text, MAX_CHUNK_CHARS);
            let many = parts.len() > 1;
            for (i, part) in parts.into_iter().enumerate() {
                let title = if many {
                    format!("{title} ({})", i + 1)
                } else {
                    title.clone()
                };
                sections.push(Section {
                    text: format!("{title}\n\n{part}"),
                    title,
                    anchor: anchor.clone(),
                });
            }
        }
        body.clear();
    };
    for line in doc.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
        }
        let level = heading_level(line).filter(|_| !in_fence);
        match level {
            Some(level) => {
                flush(&path, &mut body, &mut sections);
                path.retain(|(l, _)| *l < level);
                path.push((level, line[level..].trim().trim_end_matches('#').trim().to_owned()));
            }
            None => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    flush(&path, &mut body, &mut sections);
    sections
}

/// The level of an ATX heading (`# …` to `###### …`), if `line` is one.
fn heading_level(line: &str) -> Option<usize> {
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    ((1..=6).contains(&hashes) && line[hashes..].starts_with(' ')).then_some(hashes)
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, punctuation dropped.
pub fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Cuts `text` into pieces of at most `max` bytes, at paragraph breaks where possible, else at
/// line breaks, else at a character boundary.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let mut out = vec![];
    let mut current = String::new();
    let push = |piece: &str, current: &mut String, out: &mut Vec<String>| {
        if !current.is_empty() && current.len() + piece.len() + 1 > max {
            out.push(std::mem::take(current).trim().to_owned());
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(piece);
    };
    for paragraph in text.split("\n\n") {
        if paragraph.len() <= max {
            push(paragraph, &mut current, &mut out);
            continue;
        }
        for line in paragraph.lines() {
            let mut rest = line;
            while rest.len() > max {
                let head = truncate(rest, max);
                push(head, &mut current, &mut out);
                rest = &rest[head.len()..];
            }
            push(rest, &mut current, &mut out);
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

/// Cuts one task's output into chunks, each starting with `header` (what ran, where, how it
/// ended) so that every chunk can be found and understood alone. Windows of whole lines up to
/// [`MAX_CHUNK_CHARS`]; at most [`MAX_CHUNKS_PER_TASK`], keeping the first and the last ones.
/// A task without output still gets one chunk: its header is the record of what happened.
pub fn task_output(header: &str, lines: &[String]) -> Vec<String> {
    let budget = MAX_CHUNK_CHARS.saturating_sub(header.len()).max(200);
    let mut windows: Vec<String> = vec![];
    let mut current = String::new();
    for line in lines {
        let line = truncate(line, budget);
        if !current.is_empty() && current.len() + line.len() + 1 > budget {
            windows.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.is_empty() || windows.is_empty() {
        windows.push(current);
    }
    if windows.len() > MAX_CHUNKS_PER_TASK {
        let tail = windows.split_off(windows.len() - (MAX_CHUNKS_PER_TASK - 1));
        windows.truncate(1);
        windows.extend(tail);
    }
    windows
        .into_iter()
        .map(|w| {
            if w.is_empty() {
                header.to_owned()
            } else {
                format!("{header}\n{w}")
            }
        })
        .collect()
}

/// `s` cut to at most `max` bytes at a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    &s[..s.floor_char_boundary(max)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_cut_at_headings_with_the_heading_path_in_each_chunk() {
        let doc = "# kafka: commit log\n\nRuns brokers.\n\n## Operations\n\nRestart one at a time.\n\n```\n# not a heading\n```\n\n### Deep\n\nDetail.\n\n## Empty\n## Faults\n\nZooKeeper session expired.\n";
        let s = markdown(doc);
        let titles: Vec<&str> = s.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "kafka: commit log",
                "kafka: commit log › Operations",
                "kafka: commit log › Operations › Deep",
                "kafka: commit log › Faults"
            ]
        );
        assert!(s[1].text.starts_with("kafka: commit log › Operations\n\nRestart"));
        assert!(s[1].text.contains("# not a heading"), "a fenced # line is body text");
        assert_eq!(s[1].anchor, "operations");
        assert_eq!(s[0].anchor, "kafka-commit-log");
    }

    #[test]
    fn long_sections_are_split_into_numbered_parts_under_the_limit() {
        let para = "word ".repeat(100);
        let doc = format!("## Big\n\n{para}\n\n{para}\n\n{para}\n");
        let s = markdown(&doc);
        assert!(s.len() >= 2, "{s:?}");
        assert_eq!(s[0].title, "Big (1)");
        assert!(s.iter().all(|c| c.text.len() <= MAX_CHUNK_CHARS + 20));
        assert!(s.iter().all(|c| c.anchor == "big"));
        let one_line = "x".repeat(3000);
        assert!(split(&one_line, 900).iter().all(|p| p.len() <= 900));
        assert_eq!(split(&one_line, 900).concat(), one_line);
    }

    #[test]
    fn task_output_keeps_the_header_on_every_chunk_and_the_end_of_long_logs() {
        let lines: Vec<String> = (0..2000).map(|i| format!("line {i} of the broker log")).collect();
        let chunks = task_output("job 7: kafka/broker start on an-3 FAILED (exit 1)", &lines);
        assert_eq!(chunks.len(), MAX_CHUNKS_PER_TASK);
        assert!(chunks
            .iter()
            .all(|c| c.starts_with("job 7: kafka/broker start on an-3 FAILED")));
        assert!(chunks[0].contains("line 0 "));
        assert!(chunks.last().unwrap().contains("line 1999 "));
        assert!(chunks.iter().all(|c| c.len() <= MAX_CHUNK_CHARS + 1));
        assert_eq!(task_output("header only", &[]), vec!["header only".to_string()]);
    }
}
