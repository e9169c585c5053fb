//! A task's working directory: created fresh, filled with the task's files and its script.
//!
//! File paths come from the server, so each is checked before anything is written: only
//! relative paths without `..` are accepted, and the directory is new, holding no symlink a
//! path could follow out of it.

use std::{
    fs::{self, OpenOptions},
    io::{self, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Component, Path, PathBuf},
};

use steward_proto::v1::TaskFile;

/// The script's name inside the working directory; run as `bash script.sh`.
pub(crate) const SCRIPT_NAME: &str = "script.sh";
/// Mode of a file the server sent without one.
const DEFAULT_FILE_MODE: u32 = 0o644;

/// Why a working directory could not be prepared.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkDirError {
    /// A file's path would land outside the working directory, or on the script.
    #[error("file path {path:?} is refused: {reason}")]
    Refused {
        /// The path as the server sent it.
        path: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The file system said no.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or directory being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Replaces `dir` with a new directory holding `files` and the script.
///
/// Every path is checked first, so a refused task leaves nothing behind but an empty parent.
pub(crate) fn prepare(dir: &Path, script: &str, files: &[TaskFile]) -> Result<(), WorkDirError> {
    let checked = files
        .iter()
        .map(|file| Ok((relative_path(&file.path)?, file)))
        .collect::<Result<Vec<_>, WorkDirError>>()?;
    // A directory left by an earlier run of this attempt (an agent crash) is not reused:
    // what runs must be exactly what the server sent.
    match fs::remove_dir_all(dir) {
        Err(source) if source.kind() != io::ErrorKind::NotFound => {
            return Err(io_error(dir, source));
        }
        _ => {}
    }
    fs::create_dir_all(dir).map_err(|source| io_error(dir, source))?;
    // Task files can hold credentials; only the agent's user may read them.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|source| io_error(dir, source))?;
    for (relative, file) in checked {
        let mode = if file.mode == 0 {
            DEFAULT_FILE_MODE
        } else {
            file.mode & 0o777
        };
        write_new(&dir.join(relative), &file.content, mode)?;
    }
    write_new(&dir.join(SCRIPT_NAME), script.as_bytes(), 0o600)
}

/// The path as a clean relative path, or why it is refused.
pub(crate) fn relative_path(raw: &str) -> Result<PathBuf, WorkDirError> {
    let refuse = |reason| WorkDirError::Refused {
        path: raw.to_owned(),
        reason,
    };
    let mut clean = PathBuf::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(refuse("`..` components are not allowed")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse("absolute paths are not allowed"));
            }
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(refuse("the path names no file"));
    }
    if clean == Path::new(SCRIPT_NAME) {
        return Err(refuse("it would overwrite the task's script"));
    }
    Ok(clean)
}

/// Writes a file that must not exist yet (a duplicate path is an error, not an overwrite).
fn write_new(path: &Path, content: &[u8], mode: u32) -> Result<(), WorkDirError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|source| io_error(parent, source))?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|source| io_error(path, source))?;
    file.write_all(content).map_err(|source| io_error(path, source))?;
    // The umask may have narrowed the mode at creation; the server's mode is what it meant.
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|source| io_error(path, source))
}

fn io_error(path: &Path, source: io::Error) -> WorkDirError {
    WorkDirError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_cleaned() {
        assert_eq!(relative_path("./conf//app.conf").unwrap(), Path::new("conf/app.conf"));
    }

    #[test]
    fn parent_components_absolute_paths_and_the_script_name_are_refused() {
        for path in ["../x", "a/../../x", "a/..", "/etc/passwd", "", ".", "script.sh"] {
            assert!(
                matches!(relative_path(path), Err(WorkDirError::Refused { .. })),
                "{path:?} was accepted"
            );
        }
    }

    #[test]
    fn files_are_written_with_their_mode_and_the_script_beside_them() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("work");
        let files = [
            TaskFile {
                path: "bin/run".into(),
                content: b"#!/bin/sh\n".to_vec(),
                mode: 0o755,
            },
            TaskFile {
                path: "app.conf".into(),
                content: b"x=1\n".to_vec(),
                mode: 0,
            },
        ];
        prepare(&dir, "echo hi\n", &files).unwrap();
        let mode = |p: &str| fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("bin/run"), 0o755);
        assert_eq!(mode("app.conf"), 0o644);
        assert_eq!(fs::read_to_string(dir.join("script.sh")).unwrap(), "echo hi\n");
    }

    #[test]
    fn a_refused_path_writes_nothing() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("work");
        let files = [
            TaskFile {
                path: "fine.txt".into(),
                content: b"ok".to_vec(),
                mode: 0,
            },
            TaskFile {
                path: "../escaped.txt".into(),
                content: b"bad".to_vec(),
                mode: 0,
            },
        ];
        let error = prepare(&dir, "true\n", &files).unwrap_err();
        assert!(error.to_string().contains("../escaped.txt"), "{error}");
        assert!(!dir.exists());
        assert!(!root.path().join("escaped.txt").exists());
    }
}
