//! NVIDIA GPUs through `nvidia-smi`, when it is installed; otherwise this collector is not
//! created at all (see [`Gpu::detect`]).

use std::{process::Command, time::Duration};

use sysinfo::System;

use super::{percent, Collector, Samples};

const QUERY: &str = "--query-gpu=index,utilization.gpu,memory.used,memory.total,temperature.gpu";

/// `gpu_util_pct{gpu}`, `gpu_mem_used_bytes{gpu}`, `gpu_mem_used_pct{gpu}`, `gpu_temp_c{gpu}`.
pub(crate) struct Gpu {
    binary: String,
}

impl Gpu {
    /// A collector when `nvidia-smi` runs and lists at least one GPU.
    pub(crate) fn detect() -> Option<Self> {
        let gpu = Gpu {
            binary: "nvidia-smi".into(),
        };
        let rows = gpu.query()?;
        (!rows.is_empty()).then_some(gpu)
    }

    fn query(&self) -> Option<Vec<[String; 5]>> {
        let output = Command::new(&self.binary)
            .args([QUERY, "--format=csv,noheader,nounits"])
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| parse(&String::from_utf8_lossy(&output.stdout)))
    }
}

/// Rows of `nvidia-smi --format=csv,noheader,nounits`.
pub(crate) fn parse(text: &str) -> Vec<[String; 5]> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<String> = l.split(',').map(|f| f.trim().to_owned()).collect();
            f.try_into().ok()
        })
        .collect()
}

impl Collector for Gpu {
    fn collect(&mut self, _: &mut System, _: Duration, out: &mut Samples) {
        let Some(rows) = self.query() else { return };
        for [index, util, used_mib, total_mib, temp] in rows {
            let labels = [("gpu", index.as_str())];
            // "[N/A]" and friends parse as nothing and are left out.
            let num = |s: &str| s.parse::<f64>().ok();
            if let Some(u) = num(&util) {
                out.push_labeled("gpu_util_pct", &labels, u);
            }
            if let (Some(used), Some(total)) = (num(&used_mib), num(&total_mib)) {
                out.push_labeled("gpu_mem_used_bytes", &labels, used * 1024.0 * 1024.0);
                out.push_labeled("gpu_mem_used_pct", &labels, percent(used, total));
            }
            if let Some(t) = num(&temp) {
                out.push_labeled("gpu_temp_c", &labels, t);
            }
        }
    }
}
