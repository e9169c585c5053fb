//! Where `steward login` keeps session tokens: one per server URL, in
//! `$STEWARD_CONFIG_DIR/sessions.json` (default `~/.config/steward/`), mode 0600.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

fn path() -> PathBuf {
    let dir = std::env::var_os("STEWARD_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::config_dir().map(|d| d.join("steward")))
        .unwrap_or_else(|| PathBuf::from(".steward"));
    dir.join("sessions.json")
}

fn read_all() -> BTreeMap<String, String> {
    std::fs::read_to_string(path())
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

/// The saved token for `server`, if any.
pub fn load(server: &str) -> Option<String> {
    read_all().remove(server.trim_end_matches('/'))
}

/// Saves (or with `None`, forgets) the token for `server`; the file is owner-only.
pub fn save(server: &str, token: Option<&str>) -> anyhow::Result<PathBuf> {
    let p = path();
    let mut all = read_all();
    match token {
        Some(t) => all.insert(server.trim_end_matches('/').to_owned(), t.to_owned()),
        None => all.remove(server.trim_end_matches('/')),
    };
    let dir = p.parent().expect("a file in a directory");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Owner-only (tempfile creates 0600), and renamed into place whole.
    let mut f = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    f.write_all(serde_json::to_string_pretty(&all)?.as_bytes())?;
    f.persist(&p).with_context(|| format!("cannot write {}", p.display()))?;
    Ok(p)
}
