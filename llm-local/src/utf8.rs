//! Turns token pieces (raw bytes) into text pieces that are always whole UTF-8.
//!
//! A token's piece is bytes, and one character (an accent, an emoji) can be split across
//! two or three tokens. Streaming each piece as-is would send broken characters, so bytes
//! that end mid-character wait here for the token that completes them.

/// Accumulates token bytes and releases the longest complete UTF-8 prefix.
#[derive(Debug, Default)]
pub(crate) struct Utf8Pieces {
    pending: Vec<u8>,
}

impl Utf8Pieces {
    /// Adds one token's bytes and returns the text now complete (possibly empty).
    ///
    /// Bytes that can never become valid UTF-8 are replaced by U+FFFD rather than held
    /// forever, so one bad token cannot swallow the rest of the reply.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(error) => {
                    let valid = error.valid_up_to();
                    // The first `valid` bytes were just checked, so this cannot fail.
                    out.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap_or_default());
                    match error.error_len() {
                        // The tail is an incomplete character: keep it for the next token.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is still held at the end of generation, lossily.
    pub(crate) fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_tokens_is_released_whole() {
        let bytes = "é🙂".as_bytes();
        let mut pieces = Utf8Pieces::default();
        assert_eq!(pieces.push(&bytes[..1]), "");
        assert_eq!(pieces.push(&bytes[1..3]), "é");
        assert_eq!(pieces.push(&bytes[3..5]), "");
        assert_eq!(pieces.push(&bytes[5..]), "🙂");
        assert_eq!(pieces.finish(), "");
    }

    #[test]
    fn invalid_bytes_are_replaced_not_held() {
        let mut pieces = Utf8Pieces::default();
        assert_eq!(pieces.push(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn an_unfinished_character_at_the_end_is_flushed_lossily() {
        let mut pieces = Utf8Pieces::default();
        assert_eq!(pieces.push(&"é".as_bytes()[..1]), "");
        assert_eq!(pieces.finish(), "\u{fffd}");
    }
}
