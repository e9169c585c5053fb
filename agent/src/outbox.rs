//! One task's unacknowledged events, in seq order, kept until the server says they are durable.
//!
//! The buffer is bounded so a chatty script cannot exhaust the agent's memory while the server
//! is away: past the limits the oldest chunks of output give way to one marker line saying how
//! many lines were dropped. The started and finished events are never dropped: they are the task's fate.

use std::collections::VecDeque;

use steward_proto::v1::{task_event::Kind, LogStream, TaskEvent, TaskOutput};

/// Most events one task may hold unacknowledged.
pub(crate) const MAX_EVENTS: usize = 10_000;
/// Roughly the most bytes one task may hold unacknowledged.
pub(crate) const MAX_BYTES: usize = 8 * 1024 * 1024;
/// What an event costs beyond its text (ids, seq, time, framing), roughly.
const EVENT_OVERHEAD: usize = 48;

/// A task's events not yet acknowledged, oldest first.
#[derive(Debug)]
pub(crate) struct Outbox {
    events: VecDeque<TaskEvent>,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
    /// The buffered marker line standing for dropped lines: its seq and how many it stands for.
    marker: Option<(u64, u64)>,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::with_limits(MAX_EVENTS, MAX_BYTES)
    }
}

impl Outbox {
    /// An empty outbox with the given bounds (tests use small ones).
    pub(crate) fn with_limits(max_events: usize, max_bytes: usize) -> Self {
        Self {
            events: VecDeque::new(),
            bytes: 0,
            max_events,
            max_bytes,
            marker: None,
        }
    }

    /// Appends an event; events arrive in seq order, so the buffer stays sorted.
    pub(crate) fn push(&mut self, event: TaskEvent) {
        self.bytes += cost(&event);
        self.events.push_back(event);
        while self.events.len() > self.max_events || self.bytes > self.max_bytes {
            if !self.drop_oldest_chunk() {
                break;
            }
        }
    }

    /// Forgets every event with seq <= `seq`: the server has made them durable.
    pub(crate) fn ack(&mut self, seq: u64) {
        while let Some(event) = self.events.pop_front() {
            if event.seq > seq {
                self.events.push_front(event);
                break;
            }
            self.bytes -= cost(&event);
        }
        if self.marker.is_some_and(|(marker_seq, _)| marker_seq <= seq) {
            self.marker = None;
        }
    }

    /// Whether every event has been acknowledged.
    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The buffered events with seq > `seq`, oldest first.
    pub(crate) fn after(&self, seq: u64) -> impl Iterator<Item = &TaskEvent> {
        let start = self.events.partition_point(|event| event.seq <= seq);
        self.events.range(start..)
    }

    /// Drops the oldest chunk of output, folding it into the marker; false if none is left to
    /// drop.
    ///
    /// Chunks are always dropped from the front, so the marker sits just before the surviving
    /// output and takes the seq of the last line it replaced: seqs stay unique and increasing,
    /// and the server sees a gap where the dropped lines were.
    fn drop_oldest_chunk(&mut self) -> bool {
        let Some(first) = self.events.iter().position(is_output) else {
            return false;
        };
        let marker_here = self
            .marker
            .is_some_and(|(marker_seq, _)| self.events[first].seq == marker_seq);
        let victim = if marker_here { first + 1 } else { first };
        if !self.events.get(victim).is_some_and(is_output) {
            return false;
        }
        let Some(dropped) = self.events.remove(victim) else {
            return false;
        };
        self.bytes -= cost(&dropped);
        let lines = line_count(&dropped);
        let count = match self.marker {
            Some((_, count)) if marker_here => count + lines,
            _ => lines,
        };
        let marker = TaskEvent {
            kind: Some(Kind::Output(TaskOutput {
                stream: LogStream::Stderr as i32,
                text: format!("[steward-agent] {count} log lines dropped\n"),
            })),
            ..dropped
        };
        self.bytes += cost(&marker);
        if marker_here {
            let old = std::mem::replace(&mut self.events[first], marker);
            self.bytes -= cost(&old);
        } else {
            self.events.insert(first, marker);
        }
        self.marker = Some((dropped.seq, count));
        true
    }
}

fn is_output(event: &TaskEvent) -> bool {
    matches!(event.kind, Some(Kind::Output(_)))
}

/// How many lines a chunk of output holds.
fn line_count(event: &TaskEvent) -> u64 {
    match &event.kind {
        Some(Kind::Output(output)) => crate::lines::count(&output.text),
        _ => 0,
    }
}

fn cost(event: &TaskEvent) -> usize {
    let text = match &event.kind {
        Some(Kind::Output(output)) => output.text.len(),
        Some(Kind::Finished(finished)) => finished.error.len(),
        _ => 0,
    };
    EVENT_OVERHEAD + text
}

#[cfg(test)]
mod tests {
    use steward_proto::v1::{TaskFinished, TaskStarted};

    use super::*;

    fn event(seq: u64, kind: Kind) -> TaskEvent {
        TaskEvent {
            task_id: 1,
            attempt: 1,
            seq,
            at_ms: 0,
            kind: Some(kind),
        }
    }

    fn line(seq: u64) -> TaskEvent {
        event(
            seq,
            Kind::Output(TaskOutput {
                stream: LogStream::Stdout as i32,
                text: format!("line {seq}\n"),
            }),
        )
    }

    fn text(event: &TaskEvent) -> String {
        match &event.kind {
            Some(Kind::Output(output)) => output.text.trim_end().to_owned(),
            Some(Kind::Started(_)) => "started".into(),
            Some(Kind::Finished(_)) => "finished".into(),
            Some(Kind::Log(_)) | None => "?".into(),
        }
    }

    #[test]
    fn ack_forgets_events_up_to_and_including_its_seq() {
        let mut outbox = Outbox::default();
        outbox.push(event(1, Kind::Started(TaskStarted { pid: 7 })));
        for seq in 2..=5 {
            outbox.push(line(seq));
        }
        outbox.ack(3);
        let left: Vec<u64> = outbox.after(0).map(|e| e.seq).collect();
        assert_eq!(left, [4, 5]);
        assert_eq!(outbox.after(4).count(), 1);
        outbox.ack(5);
        assert!(outbox.is_empty());
        assert_eq!(outbox.bytes, 0);
    }

    #[test]
    fn overflow_drops_the_oldest_lines_but_keeps_started_and_finished() {
        let mut outbox = Outbox::with_limits(5, usize::MAX);
        outbox.push(event(1, Kind::Started(TaskStarted { pid: 7 })));
        for seq in 2..=10 {
            outbox.push(line(seq));
        }
        outbox.push(event(
            11,
            Kind::Finished(TaskFinished {
                outcome: 1,
                exit_code: 0,
                error: String::new(),
            }),
        ));
        let kept: Vec<(u64, String)> = outbox.after(0).map(|e| (e.seq, text(e))).collect();
        assert_eq!(
            kept,
            [
                (1, "started".to_owned()),
                (8, "[steward-agent] 7 log lines dropped".to_owned()),
                (9, "line 9".to_owned()),
                (10, "line 10".to_owned()),
                (11, "finished".to_owned()),
            ]
        );
    }

    #[test]
    fn a_new_marker_counts_afresh_once_the_old_one_was_acknowledged() {
        let mut outbox = Outbox::with_limits(3, usize::MAX);
        for seq in 1..=5 {
            outbox.push(line(seq));
        }
        outbox.ack(3);
        for seq in 6..=7 {
            outbox.push(line(seq));
        }
        let kept: Vec<String> = outbox.after(0).map(text).collect();
        assert_eq!(kept, ["[steward-agent] 2 log lines dropped", "line 6", "line 7"]);
    }

    #[test]
    fn the_byte_bound_applies_too() {
        let mut outbox = Outbox::with_limits(usize::MAX, 10 * (EVENT_OVERHEAD + 9));
        for seq in 1..=1000 {
            outbox.push(line(seq));
        }
        assert!(outbox.bytes <= 10 * (EVENT_OVERHEAD + 9));
        let seqs: Vec<u64> = outbox.after(0).map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(seqs.last(), Some(&1000));
    }

    #[test]
    fn a_dropped_chunk_counts_all_its_lines_in_the_marker() {
        let mut outbox = Outbox::with_limits(2, usize::MAX);
        let chunk = |seq: u64, text: &str| {
            event(
                seq,
                Kind::Output(TaskOutput {
                    stream: LogStream::Stdout as i32,
                    text: text.into(),
                }),
            )
        };
        outbox.push(chunk(3, "a\nb\nc\n"));
        outbox.push(chunk(5, "d\ne\n"));
        outbox.push(chunk(6, "f\n"));
        let kept: Vec<(u64, String)> = outbox.after(0).map(|e| (e.seq, text(e))).collect();
        assert_eq!(
            kept,
            [
                (5, "[steward-agent] 5 log lines dropped".to_owned()),
                (6, "f".to_owned())
            ]
        );
    }
}
