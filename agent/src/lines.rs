//! Turns a script's stdout or stderr into log lines.
//!
//! A line is capped so one endless line (a progress bar, a binary dump) cannot grow without
//! bound; the rest of it, up to the next newline, is discarded.

use steward_proto::v1::LogStream;
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    sync::mpsc,
};

/// The longest log line kept, in bytes.
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024;

/// One line read from one of the script's outputs.
pub(crate) type Line = (LogStream, String);

/// Reads `output` to its end, sending each line to `lines`.
///
/// Once `lines` is closed (the task stopped collecting output because a background process
/// kept the pipe open), reading goes on and discards: closing our end instead would hand that
/// process EPIPE or SIGPIPE on its next write, killing a daemon the script meant to start.
pub(crate) async fn forward<R: AsyncRead + Unpin>(output: R, stream: LogStream, lines: mpsc::Sender<Line>) {
    let mut reader = BufReader::with_capacity(64 * 1024, output);
    let mut line: Vec<u8> = Vec::with_capacity(256);
    let mut collecting = true;
    loop {
        let buffer = match reader.fill_buf().await {
            Ok(buffer) => buffer,
            Err(error) => {
                tracing::debug!(?stream, %error, "stopped reading the script's output");
                break;
            }
        };
        if buffer.is_empty() {
            break;
        }
        let newline = buffer.iter().position(|&byte| byte == b'\n');
        let chunk = &buffer[..newline.unwrap_or(buffer.len())];
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        if collecting {
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        let consumed = chunk.len() + usize::from(newline.is_some());
        reader.consume(consumed);
        if newline.is_some() {
            if collecting && lines.send((stream, to_text(&line))).await.is_err() {
                collecting = false;
            }
            line.clear();
        }
    }
    if collecting && !line.is_empty() {
        // A last line without a newline is still output the operator wants to see.
        let _ = lines.send((stream, to_text(&line))).await;
    }
}

/// The line as text: a trailing `\r` (CRLF output) removed, invalid UTF-8 replaced.
fn to_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8]) -> Vec<String> {
        let (tx, mut rx) = mpsc::channel(1024);
        forward(input, LogStream::Stdout, tx).await;
        let mut lines = Vec::new();
        while let Some((_, line)) = rx.recv().await {
            lines.push(line);
        }
        lines
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
}
