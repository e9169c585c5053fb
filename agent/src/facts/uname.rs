//! The kernel release, from uname(2) (what `uname -r` prints).

use std::ffi::CStr;

/// The running kernel's release, e.g. "6.8.0-45-generic".
pub(crate) fn kernel_release() -> Option<String> {
    // SAFETY: utsname is plain old data; all-zero is a valid value for uname to overwrite.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uts is a valid, writable utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    // SAFETY: uname NUL-terminates each field within its array.
    let release = unsafe { CStr::from_ptr(uts.release.as_ptr()) };
    Some(release.to_string_lossy().into_owned())
}
