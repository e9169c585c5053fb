//! Bounds a task's stored output: its first and its last bytes are kept, the middle is cut
//! and one line marks where. A runaway script cannot fill the database, and what an operator
//! reads first (how it began) and last (how it ended) survives.
//!
//! Output is stored in chunks (rows), and the cap works on them: the chunk that fills the head
//! is split at a line, and the tail drops whole chunks, so the stored output stays within one
//! chunk (at most 80 KiB from an agent) of the cap.
use std::collections::VecDeque;

/// The text that replaces the first chunk cut.
pub fn marker(head: usize, tail: usize) -> String {
    format!("[… output truncated here: only the first {head} and the last {tail} bytes of it are stored …]\n")
}

/// One task's stored output, as far as the cap is concerned.
#[derive(Debug)]
pub struct LogCap {
    head_left: usize,
    head_full: bool,
    /// The tail's chunks: first seq and bytes.
    tail: VecDeque<(i64, usize)>,
    tail_bytes: usize,
    tail_max: usize,
    marked: bool,
}

/// What to do with stored chunks when new output arrives.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cut {
    /// Chunks (by first seq) to delete.
    pub delete: Vec<i64>,
    /// The chunk (by first seq) to replace with the [`marker`]: the first one cut.
    pub mark: Option<i64>,
}

/// A chunk to store: its first seq and its text (whole lines).
pub type Piece<'a> = (i64, &'a str);

impl LogCap {
    /// Keeps `head` bytes from the start and `tail` bytes from the end.
    pub fn new(head: usize, tail: usize) -> Self {
        LogCap {
            head_left: head,
            head_full: false,
            tail: VecDeque::new(),
            tail_bytes: 0,
            tail_max: tail,
            marked: false,
        }
    }

    /// Lines `text` (each ending in `\n`), the first numbered `first`, arrive: the chunks to
    /// store them as, and what to cut from what was stored before.
    pub fn push<'a>(&mut self, first: i64, text: &'a str) -> (Vec<Piece<'a>>, Cut) {
        let mut pieces = Vec::with_capacity(2);
        let mut rest = (first, text);
        if !self.head_full {
            // The lines that still fit the head stay there for good.
            let fits = fitting_prefix(text, self.head_left);
            self.head_left -= fits;
            if fits > 0 {
                pieces.push((first, &text[..fits]));
            }
            if fits == text.len() {
                return (pieces, Cut::default());
            }
            self.head_full = true;
            rest = (first + lines(&text[..fits]), &text[fits..]);
        }
        pieces.push(rest);
        let mut cut = Cut::default();
        self.tail.push_back((rest.0, rest.1.len()));
        self.tail_bytes += rest.1.len();
        // The newest chunk always stays, however long.
        while self.tail_bytes > self.tail_max && self.tail.len() > 1 {
            let (s, l) = self.tail.pop_front().expect("more than one");
            self.tail_bytes -= l;
            if self.marked {
                cut.delete.push(s);
            } else {
                self.marked = true;
                cut.mark = Some(s);
            }
        }
        (pieces, cut)
    }
}

/// The length of the longest run of whole lines at the start of `text` within `max` bytes.
fn fitting_prefix(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    text.as_bytes()[..max]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1)
}

/// How many lines `text` holds.
pub fn lines(text: &str) -> i64 {
    text.bytes().filter(|&b| b == b'\n').count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` lines of 10 bytes.
    fn text(n: usize) -> String {
        "123456789\n".repeat(n)
    }

    #[test]
    fn the_head_and_the_tail_stay_and_the_first_cut_chunk_becomes_the_marker() {
        let mut c = LogCap::new(20, 20);
        let t = text(1);
        // Lines 1 and 2 fill the head.
        assert_eq!(c.push(1, &t), (vec![(1, t.as_str())], Cut::default()));
        assert_eq!(c.push(2, &t), (vec![(2, t.as_str())], Cut::default()));
        assert_eq!(c.push(3, &t).1, Cut::default());
        assert_eq!(c.push(4, &t).1, Cut::default());
        assert_eq!(
            c.push(5, &t).1,
            Cut {
                delete: vec![],
                mark: Some(3)
            }
        );
        assert_eq!(
            c.push(6, &t).1,
            Cut {
                delete: vec![4],
                mark: None
            }
        );
        let long = text(3);
        assert_eq!(
            c.push(7, &long).1,
            Cut {
                delete: vec![5, 6],
                mark: None
            }
        );
        // A chunk longer than the tail is kept alone.
        assert_eq!(
            c.push(10, &t).1,
            Cut {
                delete: vec![7],
                mark: None
            }
        );
    }

    #[test]
    fn the_chunk_that_fills_the_head_is_split_at_a_line() {
        let mut c = LogCap::new(25, 100);
        let t = text(5);
        let (pieces, cut) = c.push(1, &t);
        // Two lines (20 bytes) fit the head's 25; lines 3 to 5 go to the tail.
        assert_eq!(pieces, vec![(1, &t[..20]), (3, &t[20..])]);
        assert_eq!(cut, Cut::default());
        // The head is over: a line that would fit its 5 bytes left goes to the tail too.
        assert_eq!(c.push(6, "abc\n").0, vec![(6, "abc\n")]);
        assert_eq!(c.tail.len(), 2);
    }

    #[test]
    fn a_first_line_longer_than_the_head_leaves_the_head_empty() {
        let mut c = LogCap::new(5, 100);
        let t = text(2);
        assert_eq!(c.push(1, &t).0, vec![(1, t.as_str())]);
        assert!(c.head_full);
    }
}
