//! A rolling window of one series' recent samples, in time order, bounded in count and age.

use std::collections::VecDeque;

/// Recent `(at_ms, value)` points, oldest first.
#[derive(Debug, Clone)]
pub struct Window {
    points: VecDeque<(i64, f64)>,
    max_points: usize,
    max_age_ms: i64,
}

impl Window {
    /// An empty window keeping at most `max_points` points no older than `max_age_ms`
    /// behind the newest.
    pub fn new(max_points: usize, max_age_ms: i64) -> Self {
        Self {
            points: VecDeque::new(),
            max_points,
            max_age_ms,
        }
    }

    /// Appends a point; one not newer than the last (a re-sent or late sample) is ignored,
    /// so detectors see every moment once and in order. Returns whether it was taken.
    pub fn push(&mut self, at_ms: i64, value: f64) -> bool {
        if self.points.back().is_some_and(|(t, _)| *t >= at_ms) {
            return false;
        }
        self.points.push_back((at_ms, value));
        while self.points.len() > self.max_points
            || self.points.front().is_some_and(|(t, _)| at_ms - t > self.max_age_ms)
        {
            self.points.pop_front();
        }
        true
    }

    /// The points, oldest first.
    pub fn points(&self) -> impl ExactSizeIterator<Item = &(i64, f64)> + Clone {
        self.points.iter()
    }

    /// The newest point.
    pub fn last(&self) -> Option<(i64, f64)> {
        self.points.back().copied()
    }

    /// How many points it holds.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The last `n` values, oldest first (for the planner's prompt).
    pub fn tail(&self, n: usize) -> Vec<f64> {
        self.points
            .iter()
            .skip(self.points.len().saturating_sub(n))
            .map(|p| p.1)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_repeated_and_surplus_points_leave_the_window() {
        let mut w = Window::new(3, 1000);
        assert!(w.push(0, 1.0));
        assert!(!w.push(0, 2.0), "the same moment twice");
        assert!(w.push(500, 2.0));
        assert!(!w.push(400, 9.0), "late");
        assert!(w.push(1200, 3.0));
        // 0 is more than 1000 ms behind 1200.
        assert_eq!(w.points().map(|p| p.0).collect::<Vec<_>>(), [500, 1200]);
        w.push(1300, 4.0);
        w.push(1400, 5.0);
        assert_eq!(w.len(), 3);
        assert_eq!(w.tail(2), [4.0, 5.0]);
    }
}
