//! Filesystems per mount point: space and, where the filesystem has them, inodes.
//! Read-only mounts are left out: nothing can fill them, and many (images, snaps, bind-mounted
//! tool directories) are 100 % full by design.

use std::{ffi::CString, os::unix::ffi::OsStrExt, path::Path, time::Duration};

use sysinfo::{DiskRefreshKind, Disks, System};

use super::{percent, Collector, Samples};

/// `disk_total_bytes{mount,fs}`, `disk_used_bytes`, `disk_free_bytes`, `disk_used_pct`, and
/// `disk_inodes_used_pct` / `disk_inodes_free` when the filesystem counts inodes.
#[derive(Default)]
pub(crate) struct Disk {
    disks: Option<Disks>,
}

impl Collector for Disk {
    fn collect(&mut self, _: &mut System, _: Duration, out: &mut Samples) {
        let kind = DiskRefreshKind::nothing().with_storage();
        let disks = self
            .disks
            .get_or_insert_with(|| Disks::new_with_refreshed_list_specifics(kind));
        // Mounts come and go: refresh the list, forgetting what is gone.
        disks.refresh_specifics(true, kind);
        let mut seen = std::collections::HashSet::new();
        for d in disks.list().iter().filter(|d| !d.is_read_only()) {
            let mount = d.mount_point().to_string_lossy().into_owned();
            // A bind mount or an overmounted path would report the same mount twice.
            if !seen.insert(mount.clone()) {
                continue;
            }
            let fs = d.file_system().to_string_lossy().into_owned();
            let labels = [("mount", mount.as_str()), ("fs", fs.as_str())];
            let total = d.total_space() as f64;
            let free = d.available_space() as f64;
            out.push_labeled("disk_total_bytes", &labels, total);
            out.push_labeled("disk_free_bytes", &labels, free);
            out.push_labeled("disk_used_bytes", &labels, total - free);
            out.push_labeled("disk_used_pct", &labels, percent(total - free, total));
            if let Some((files, free_files)) = inodes(d.mount_point()) {
                out.push_labeled("disk_inodes_free", &labels, free_files);
                out.push_labeled("disk_inodes_used_pct", &labels, percent(files - free_files, files));
            }
        }
    }
}

/// (total, free) inodes of the filesystem at `mount`, when it has a fixed count.
fn inodes(mount: &Path) -> Option<(f64, f64)> {
    let path = CString::new(mount.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 || st.f_files == 0 {
        return None;
    }
    Some((st.f_files as f64, st.f_ffree as f64))
}
