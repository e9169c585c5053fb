//! Memory and swap.

use std::time::Duration;

use sysinfo::System;

use super::{percent, Collector, Samples};

/// `mem_total_bytes`, `mem_used_bytes`, `mem_available_bytes`, `mem_used_pct`, and the same
/// for swap (`swap_*`, no `available`).
pub(crate) struct Memory;

impl Collector for Memory {
    fn collect(&mut self, system: &mut System, _: Duration, out: &mut Samples) {
        system.refresh_memory();
        let total = system.total_memory() as f64;
        // "Used" as people mean it: what is not available (page cache is available).
        let available = system.available_memory() as f64;
        out.push("mem_total_bytes", total);
        out.push("mem_available_bytes", available);
        out.push("mem_used_bytes", total - available);
        out.push("mem_used_pct", percent(total - available, total));
        let swap_total = system.total_swap() as f64;
        let swap_used = system.used_swap() as f64;
        out.push("swap_total_bytes", swap_total);
        out.push("swap_used_bytes", swap_used);
        out.push("swap_used_pct", percent(swap_used, swap_total));
    }
}
