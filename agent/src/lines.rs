//! Turns a script's stdout or stderr into chunks of log lines.
//!
//! A chunk is every complete line that could be read without waiting, up to about
//! [`MAX_CHUNK_BYTES`]: a script printing a line now and then is followed line by line, and a
//! bulk one moves in few large messages instead of one per line. A line is capped so one
//! endless line (a progress bar, a binary dump) cannot grow without bound; the rest of it, up
//! to the next newline, is discarded.

use futures::FutureExt;
use steward_proto::v1::LogStream;
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    sync::mpsc,
};

/// The longest log line kept, in bytes.
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024;
/// A chunk is sent once it holds this many bytes, even if more output is waiting.
pub(crate) const MAX_CHUNK_BYTES: usize = 64 * 1024;

/// Lines read from one of the script's outputs: each ends in `\n`, and there is at least one.
pub(crate) type Chunk = (LogStream, String);

/// Reads `output` to its end, sending its lines to `chunks`.
///
/// Once `chunks` is closed (the task stopped collecting output because a background process
/// kept the pipe open), reading goes on and discards: closing our end instead would hand that
/// process EPIPE or SIGPIPE on its next write, killing a daemon the script meant to start.
pub(crate) async fn forward<R: AsyncRead + Unpin>(output: R, stream: LogStream, chunks: mpsc::Sender<Chunk>) {
    let mut reader = BufReader::with_capacity(MAX_CHUNK_BYTES, output);
    let mut line: Vec<u8> = Vec::with_capacity(256);
    // Room for a full chunk and the line that tips it over, so the buffer never doubles.
    let mut chunk = String::with_capacity(MAX_CHUNK_BYTES + MAX_LINE_BYTES);
    let mut collecting = true;
    loop {
        // Output already waiting joins the chunk; the chunk goes as soon as reading would wait.
        let ready = if chunk.is_empty() {
            Some(reader.fill_buf().await)
        } else {
            reader.fill_buf().now_or_never()
        };
        let buffer = match ready {
            None => {
                collecting = send(&chunks, stream, &mut chunk, collecting).await;
                continue;
            }
            Some(Ok(buffer)) => buffer,
            Some(Err(error)) => {
                tracing::debug!(?stream, %error, "stopped reading the script's output");
                break;
            }
        };
        if buffer.is_empty() {
            break;
        }
        let newline = buffer.iter().position(|&byte| byte == b'\n');
        let piece = &buffer[..newline.unwrap_or(buffer.len())];
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        if collecting {
            line.extend_from_slice(&piece[..piece.len().min(room)]);
        }
        let consumed = piece.len() + usize::from(newline.is_some());
        reader.consume(consumed);
        if newline.is_some() {
            if collecting {
                push_line(&mut chunk, &line);
            }
            line.clear();
            if chunk.len() >= MAX_CHUNK_BYTES {
                collecting = send(&chunks, stream, &mut chunk, collecting).await;
            }
        }
    }
    if collecting && !line.is_empty() {
        // A last line without a newline is still output the operator wants to see.
        push_line(&mut chunk, &line);
    }
    send(&chunks, stream, &mut chunk, collecting).await;
}

/// How many lines a chunk holds: its newlines.
pub(crate) fn count(text: &str) -> u64 {
    text.bytes().filter(|&b| b == b'\n').count() as u64
}

/// Sends the chunk, if any; whether the receiver still collects.
async fn send(chunks: &mpsc::Sender<Chunk>, stream: LogStream, chunk: &mut String, collecting: bool) -> bool {
    if !collecting || chunk.is_empty() {
        chunk.clear();
        return collecting;
    }
    // The text leaves at its own size; the buffer stays for the next chunk.
    let text = chunk.as_str().to_owned();
    chunk.clear();
    chunks.send((stream, text)).await.is_ok()
}

/// Appends the line as text: a trailing `\r` (CRLF output) removed, invalid UTF-8 replaced.
fn push_line(chunk: &mut String, bytes: &[u8]) {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    chunk.push_str(&String::from_utf8_lossy(bytes));
    chunk.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn chunks_of(input: &[u8]) -> Vec<String> {
        let (tx, mut rx) = mpsc::channel(1024);
        forward(input, LogStream::Stdout, tx).await;
        let mut chunks = Vec::new();
        while let Some((_, chunk)) = rx.recv().await {
            chunks.push(chunk);
        }
        chunks
    }

    async fn lines_of(input: &[u8]) -> Vec<String> {
        let chunks = chunks_of(input).await;
        chunks.concat().lines().map(str::to_owned).collect()
    }

    #[tokio::test]
    async fn crlf_and_lf_endings_are_stripped_and_a_last_partial_line_is_kept() {
        let lines = lines_of(b"one\r\ntwo\n\nthree").await;
        assert_eq!(lines, ["one", "two", "", "three"]);
    }

    #[tokio::test]
    async fn invalid_utf8_is_replaced_not_dropped() {
        let lines = lines_of(b"caf\xe9\n").await;
        assert_eq!(lines, ["caf\u{fffd}"]);
    }

    #[tokio::test]
    async fn a_long_line_is_capped_at_16_kib_and_the_next_line_is_intact() {
        let mut input = vec![b'x'; 100_000];
        input.extend_from_slice(b"\nnext\n");
        let lines = lines_of(&input).await;
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE_BYTES);
        assert_eq!(lines[1], "next");
    }

    #[tokio::test]
    async fn output_waiting_at_once_moves_in_chunks_of_whole_lines_of_at_most_64_kib() {
        let input: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
        let chunks = chunks_of(input.as_bytes()).await;
        assert!(chunks
            .iter()
            .all(|c| c.ends_with('\n') && c.len() < MAX_CHUNK_BYTES + MAX_LINE_BYTES));
        assert_eq!(chunks.concat(), input);
        // 588,895 bytes: about nine full chunks, not 100,000 lines.
        assert!(chunks.len() <= 12, "{} chunks", chunks.len());
    }

    #[tokio::test]
    async fn a_line_written_alone_is_sent_before_the_next_one_arrives() {
        let (mut writer, reader) = tokio::io::duplex(1024);
        let (tx, mut rx) = mpsc::channel(16);
        tokio::spawn(forward(reader, LogStream::Stderr, tx));
        tokio::io::AsyncWriteExt::write_all(&mut writer, b"first\nsecond\n")
            .await
            .unwrap();
        assert_eq!(rx.recv().await, Some((LogStream::Stderr, "first\nsecond\n".to_owned())));
        tokio::io::AsyncWriteExt::write_all(&mut writer, b"third\n")
            .await
            .unwrap();
        assert_eq!(rx.recv().await, Some((LogStream::Stderr, "third\n".to_owned())));
        drop(writer);
        assert_eq!(rx.recv().await, None);
    }
}
