//! Host facts for the Hello: what the server shows about a host and places work by.
//!
//! One function per fact source, each in its own file; every one degrades to an empty value
//! rather than failing, because a missing fact must never keep an agent from connecting.

mod addresses;
mod memory;
mod os_release;
mod uname;

use std::collections::BTreeMap;

use steward_proto::v1::HostFacts;

/// Collects this host's facts, with the operator's labels.
pub(crate) fn collect(labels: &BTreeMap<String, String>) -> HostFacts {
    HostFacts {
        os: os_release::pretty_name().unwrap_or_else(|| std::env::consts::OS.to_owned()),
        kernel: uname::kernel_release().unwrap_or_default(),
        arch: std::env::consts::ARCH.to_owned(),
        cpus: online_cpus(),
        memory_bytes: memory::total_bytes().unwrap_or(0),
        addresses: addresses::non_loopback(),
        labels: labels.clone().into_iter().collect(),
    }
}

/// The host's online CPUs (not the agent's affinity or cgroup share: it describes the host).
fn online_cpus() -> u32 {
    // SAFETY: sysconf only reads a system setting.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(online).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_host_has_facts() {
        let labels = BTreeMap::from([("rack".to_owned(), "r1".to_owned())]);
        let facts = collect(&labels);
        assert!(facts.cpus > 0);
        assert!(facts.memory_bytes > 0);
        assert!(!facts.kernel.is_empty());
        assert!(!facts.arch.is_empty());
        assert_eq!(facts.labels.get("rack").map(String::as_str), Some("r1"));
        assert!(facts.addresses.iter().all(|a| a != "127.0.0.1" && a != "::1"));
    }
}
