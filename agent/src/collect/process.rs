//! The top processes by CPU and by memory.

use std::time::Duration;

use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};

use super::{Collector, Samples};

/// How many processes each list reports.
const TOP: usize = 5;

/// `process_cpu_pct{process,pid}` for the `TOP` busiest and `process_rss_bytes{process,pid}`
/// for the `TOP` largest processes.
#[derive(Default)]
pub(crate) struct Processes;

impl Collector for Processes {
    fn collect(&mut self, system: &mut System, elapsed: Duration, out: &mut Samples) {
        let kind = ProcessRefreshKind::nothing().with_cpu().with_memory();
        system.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
        let mut all: Vec<(String, String, f64, f64)> = system
            .processes()
            .values()
            // Threads are listed as processes on Linux; count each process once.
            .filter(|p| p.thread_kind().is_none())
            .map(|p| {
                (
                    p.name().to_string_lossy().into_owned(),
                    p.pid().to_string(),
                    f64::from(p.cpu_usage()),
                    p.memory() as f64,
                )
            })
            .collect();
        // CPU usage needs two refreshes; the first round reports memory only.
        if !elapsed.is_zero() {
            all.sort_by(|a, b| b.2.total_cmp(&a.2));
            for (name, pid, cpu, _) in all.iter().take(TOP) {
                out.push_labeled("process_cpu_pct", &[("process", name), ("pid", pid)], *cpu);
            }
        }
        all.sort_by(|a, b| b.3.total_cmp(&a.3));
        for (name, pid, _, rss) in all.iter().take(TOP) {
            out.push_labeled("process_rss_bytes", &[("process", name), ("pid", pid)], *rss);
        }
    }
}
