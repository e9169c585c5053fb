//! Bounds a task's stored output: its first and its last bytes are kept, the middle is cut
//! and one line marks where. A runaway script cannot fill the database, and what an operator
//! reads first (how it began) and last (how it ended) survives.
use std::collections::VecDeque;

/// The text that replaces the first line cut.
pub fn marker(head: usize, tail: usize) -> String {
    format!("[… output truncated here: only the first {head} and the last {tail} bytes of it are stored …]")
}

/// One task's stored output, as far as the cap is concerned.
#[derive(Debug)]
pub struct LogCap {
    head_left: usize,
    head_full: bool,
    tail: VecDeque<(i64, usize)>,
    tail_bytes: usize,
    tail_max: usize,
    marked: bool,
}

/// What to do with stored lines when a new one arrives.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cut {
    /// Line numbers (seqs) to delete.
    pub delete: Vec<i64>,
    /// The line to replace with the [`marker`] (the first one cut).
    pub mark: Option<i64>,
}

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

    /// Line `seq` of `len` bytes is stored: what to cut from what was stored before it.
    pub fn push(&mut self, seq: i64, len: usize) -> Cut {
        let mut cut = Cut::default();
        if !self.head_full && len <= self.head_left {
            self.head_left -= len;
            return cut;
        }
        self.head_full = true;
        self.tail.push_back((seq, len));
        self.tail_bytes += len;
        // The newest line always stays, however long.
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
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_and_the_tail_stay_and_the_first_cut_line_becomes_the_marker() {
        let mut c = LogCap::new(20, 20);
        // Lines of 10 bytes: 1 and 2 fill the head.
        assert_eq!(c.push(1, 10), Cut::default());
        assert_eq!(c.push(2, 10), Cut::default());
        assert_eq!(c.push(3, 10), Cut::default());
        assert_eq!(c.push(4, 10), Cut::default());
        assert_eq!(
            c.push(5, 10),
            Cut {
                delete: vec![],
                mark: Some(3)
            }
        );
        assert_eq!(
            c.push(6, 10),
            Cut {
                delete: vec![4],
                mark: None
            }
        );
        assert_eq!(
            c.push(7, 25),
            Cut {
                delete: vec![5, 6],
                mark: None
            }
        );
        // A line longer than the tail is kept alone.
        assert_eq!(
            c.push(8, 5),
            Cut {
                delete: vec![7],
                mark: None
            }
        );
    }

    #[test]
    fn a_line_that_does_not_fit_the_head_ends_it() {
        let mut c = LogCap::new(15, 100);
        assert_eq!(c.push(1, 10), Cut::default());
        assert_eq!(c.push(2, 10), Cut::default());
        // It went to the tail: line 3, though it would fit the head's 5 bytes, does too.
        assert_eq!(c.push(3, 5), Cut::default());
        assert_eq!(c.tail.len(), 2);
    }
}
