//! CPU: total and per-core utilisation, and the load averages.

use std::time::Duration;

use sysinfo::System;

use super::{Collector, Samples};

/// `cpu_used_pct`, `cpu_core_used_pct{core}`, `load1`, `load5`, `load15`.
pub(crate) struct Cpu;

impl Collector for Cpu {
    fn collect(&mut self, system: &mut System, elapsed: Duration, out: &mut Samples) {
        system.refresh_cpu_usage();
        // The first round has nothing to compare with: usage would read 0.
        if !elapsed.is_zero() {
            out.push("cpu_used_pct", f64::from(system.global_cpu_usage()));
            for (i, cpu) in system.cpus().iter().enumerate() {
                out.push_labeled(
                    "cpu_core_used_pct",
                    &[("core", &i.to_string())],
                    f64::from(cpu.cpu_usage()),
                );
            }
        }
        let load = System::load_average();
        out.push("load1", load.one);
        out.push("load5", load.five);
        out.push("load15", load.fifteen);
    }
}
