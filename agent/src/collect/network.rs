//! Network per interface: throughput, packets, errors, and utilisation where the link speed
//! is readable (`/sys/class/net/IF/speed`, absent for virtual interfaces).

use std::time::Duration;

use sysinfo::{Networks, System};

use super::{Collector, Samples};

/// `net_rx_bytes_per_s{interface}`, `net_tx_bytes_per_s`, `net_rx_packets_per_s`,
/// `net_tx_packets_per_s`, `net_rx_errors_per_s`, `net_tx_errors_per_s`, `net_speed_bits`
/// and `net_util_pct` (the busier direction against the link speed) when known.
#[derive(Default)]
pub(crate) struct Network {
    networks: Option<Networks>,
}

impl Collector for Network {
    fn collect(&mut self, _: &mut System, elapsed: Duration, out: &mut Samples) {
        let first = self.networks.is_none();
        let networks = self.networks.get_or_insert_with(Networks::new_with_refreshed_list);
        if !first {
            networks.refresh(true);
        }
        let secs = elapsed.as_secs_f64();
        if first || secs <= 0.0 {
            return;
        }
        for (name, data) in networks.list() {
            if name == "lo" {
                continue;
            }
            let labels = [("interface", name.as_str())];
            let rate = |v: u64| v as f64 / secs;
            let rx = rate(data.received());
            let tx = rate(data.transmitted());
            out.push_labeled("net_rx_bytes_per_s", &labels, rx);
            out.push_labeled("net_tx_bytes_per_s", &labels, tx);
            out.push_labeled("net_rx_packets_per_s", &labels, rate(data.packets_received()));
            out.push_labeled("net_tx_packets_per_s", &labels, rate(data.packets_transmitted()));
            out.push_labeled("net_rx_errors_per_s", &labels, rate(data.errors_on_received()));
            out.push_labeled("net_tx_errors_per_s", &labels, rate(data.errors_on_transmitted()));
            if let Some(mbits) = link_speed_mbits(name) {
                let bits = mbits * 1_000_000.0;
                out.push_labeled("net_speed_bits", &labels, bits);
                out.push_labeled("net_util_pct", &labels, super::percent(rx.max(tx) * 8.0, bits));
            }
        }
    }
}

/// The link speed in Mbit/s, when the driver reports one (-1 or an error means unknown).
fn link_speed_mbits(interface: &str) -> Option<f64> {
    if interface.contains('/') || interface.contains("..") {
        return None;
    }
    let text = std::fs::read_to_string(format!("/sys/class/net/{interface}/speed")).ok()?;
    text.trim().parse::<f64>().ok().filter(|s| *s > 0.0)
}
