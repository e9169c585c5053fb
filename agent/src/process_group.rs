//! Signals to a task's process group, and the facts that tell whether a recorded group is
//! still the one this agent started.
//!
//! Every script leads its own process group (its pgid is its pid), so one `killpg` reaches
//! the script and everything it forked that did not deliberately leave the group.

use std::{fs, io};

/// Sends `signal` to every process of group `pgid`; true if the group had a process to signal.
///
/// Refuses pgids that could name something other than a task: 0 and 1, and the agent's own
/// group — a bug elsewhere must never turn into the agent killing itself or init.
pub(crate) fn signal(pgid: i32, signal: libc::c_int) -> bool {
    if !is_task_group(pgid) {
        return false;
    }
    // SAFETY: killpg has no memory effects; the pgid was checked above.
    unsafe { libc::killpg(pgid, signal) == 0 }
}

/// Whether group `pgid` still has any process (zombies included, until someone reaps them).
pub(crate) fn exists(pgid: i32) -> bool {
    if !is_task_group(pgid) {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    if unsafe { libc::killpg(pgid, 0) } == 0 {
        return true;
    }
    // EPERM: the group exists but belongs to someone else.
    io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn is_task_group(pgid: i32) -> bool {
    // SAFETY: getpgrp cannot fail and touches no memory.
    pgid > 1 && pgid != unsafe { libc::getpgrp() }
}

/// This boot's id: a pgid recorded under another boot names an unrelated group now.
pub(crate) fn boot_id() -> Option<String> {
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_owned())
}

/// When process `pid` started, in clock ticks since boot: with the boot id it tells a
/// recycled pid from the process we spawned.
pub(crate) fn start_ticks(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_ticks(&stat)
}

/// Field 22 of `/proc/<pid>/stat`. The command name (field 2) may contain spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_start_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the comm come field 3 (state) onwards; starttime is field 22.
    after_comm.split_whitespace().nth(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_ticks_are_read_past_a_command_name_with_spaces_and_parentheses() {
        let stat = "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_ticks(stat), Some(987_654));
    }

    #[test]
    fn our_own_process_has_a_start_time() {
        let pid = i32::try_from(std::process::id()).unwrap();
        assert!(start_ticks(pid).is_some());
    }

    #[test]
    fn the_agents_own_group_and_init_are_never_signalled() {
        // SAFETY: getpgrp cannot fail.
        let own = unsafe { libc::getpgrp() };
        assert!(!signal(own, 0));
        assert!(!signal(1, 0));
        assert!(!signal(0, 0));
        assert!(!exists(own));
    }
}
