//! Disk I/O per block device, from `/proc/diskstats` (sysinfo reports I/O per mount, which
//! counts a device once per mount and misses devices without a filesystem).

use std::{collections::HashMap, time::Duration};

use sysinfo::System;

use super::{Collector, Samples};

/// `disk_read_bytes_per_s{device}`, `disk_write_bytes_per_s{device}`, `disk_io_busy_pct{device}`.
#[derive(Default)]
pub(crate) struct DiskIo {
    /// Per device: sectors read, sectors written, milliseconds doing I/O.
    last: HashMap<String, (u64, u64, u64)>,
}

impl Collector for DiskIo {
    fn collect(&mut self, _: &mut System, elapsed: Duration, out: &mut Samples) {
        let Ok(text) = std::fs::read_to_string("/proc/diskstats") else {
            return;
        };
        let now = parse(&text);
        let secs = elapsed.as_secs_f64();
        if secs > 0.0 {
            for (dev, (read, written, busy)) in &now {
                let Some((r0, w0, b0)) = self.last.get(dev) else {
                    continue;
                };
                let labels = [("device", dev.as_str())];
                // Sectors are 512 bytes in /proc/diskstats whatever the device's own size.
                out.push_labeled(
                    "disk_read_bytes_per_s",
                    &labels,
                    read.saturating_sub(*r0) as f64 * 512.0 / secs,
                );
                out.push_labeled(
                    "disk_write_bytes_per_s",
                    &labels,
                    written.saturating_sub(*w0) as f64 * 512.0 / secs,
                );
                out.push_labeled(
                    "disk_io_busy_pct",
                    &labels,
                    (busy.saturating_sub(*b0) as f64 / 10.0 / secs).min(100.0),
                );
            }
        }
        self.last = now;
    }
}

/// Whole devices (not partitions, loop or ram devices) with their counters.
pub(crate) fn parse(text: &str) -> HashMap<String, (u64, u64, u64)> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 13 {
            continue;
        }
        let name = f[2];
        if name.starts_with("loop") || name.starts_with("ram") || is_partition(name) {
            continue;
        }
        let num = |i: usize| f[i].parse::<u64>().unwrap_or(0);
        out.insert(name.to_owned(), (num(5), num(9), num(12)));
    }
    out
}

/// `sda1`, `vda2`, `nvme0n1p1`, `mmcblk0p1` are partitions; `sda`, `nvme0n1`, `dm-0` are not.
fn is_partition(name: &str) -> bool {
    if name.starts_with("nvme") || name.starts_with("mmcblk") {
        return name.rsplit_once('p').is_some_and(|(head, tail)| {
            head.len() > 4 && !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit())
        });
    }
    (name.starts_with("sd") || name.starts_with("vd") || name.starts_with("xvd") || name.starts_with("hd"))
        && name.ends_with(|c: char| c.is_ascii_digit())
}
