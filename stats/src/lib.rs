//! The one way Steward's benchmarks summarise what they measured: nearest-rank percentiles
//! over a sorted sample, and a process's resident memory from `/proc`.
//!
//! ```
//! use steward_stats::Percentiles;
//!
//! let p = Percentiles::new([4.0, 1.0, 3.0, 2.0]);
//! assert_eq!((p.median(), p.at(0.99), p.max()), (2.0, 4.0, 4.0));
//! ```

/// A sample sorted once, to read as many percentiles as wanted.
#[derive(Debug, Clone, Default)]
pub struct Percentiles {
    sorted: Vec<f64>,
}

impl Percentiles {
    /// The sample `values` (NaN sorts last).
    pub fn new(values: impl IntoIterator<Item = f64>) -> Self {
        let mut sorted: Vec<f64> = values.into_iter().collect();
        sorted.sort_by(f64::total_cmp);
        Percentiles { sorted }
    }

    /// The nearest-rank `p`-quantile (`p` in 0..=1): the smallest value with at least
    /// `p` of the sample at or below it; NaN for an empty sample.
    pub fn at(&self, p: f64) -> f64 {
        if self.sorted.is_empty() {
            return f64::NAN;
        }
        let rank = (p.clamp(0.0, 1.0) * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.saturating_sub(1)]
    }

    /// The 0.5-quantile.
    pub fn median(&self) -> f64 {
        self.at(0.5)
    }

    /// The largest value; NaN for an empty sample.
    pub fn max(&self) -> f64 {
        self.sorted.last().copied().unwrap_or(f64::NAN)
    }

    /// How many values the sample has.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether the sample is empty.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }
}

/// Resident memory of a process as `/proc/PID/status` reports it, in MiB.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_mib: f64,
    /// `VmHWM`: the most it has been resident.
    pub peak_mib: f64,
}

impl Memory {
    /// The memory of process `pid`; zeros where `/proc` cannot tell (another OS, a process gone).
    pub fn of(pid: u32) -> Memory {
        Self::parse(&std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default())
    }

    /// The memory of this process.
    pub fn own() -> Memory {
        Self::of(std::process::id())
    }

    fn parse(status: &str) -> Memory {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        Memory {
            rss_mib: field("VmRSS:"),
            peak_mib: field("VmHWM:"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_a_value_of_the_sample() {
        let p = Percentiles::new((1..=100).map(f64::from));
        assert_eq!((p.at(0.5), p.at(0.99), p.at(1.0), p.at(0.0)), (50.0, 99.0, 100.0, 1.0));
        let two = Percentiles::new([10.0, 20.0]);
        assert_eq!((two.median(), two.at(0.99)), (10.0, 20.0));
        assert!(Percentiles::default().median().is_nan());
    }

    #[test]
    fn memory_is_read_from_proc_status_in_mib() {
        let status = "Name:\tx\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(
            Memory::parse(status),
            Memory {
                rss_mib: 10.0,
                peak_mib: 20.0
            }
        );
        assert_eq!(Memory::parse(""), Memory::default());
        assert!(Memory::own().rss_mib > 0.0);
    }
}
