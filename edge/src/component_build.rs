//! `origo dev` builds the components itself when a `.wasm` is missing or older than the
//! sources its manifest entry watches, by running the manifest's own build command.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use anyhow::Context as _;

use origo_manifest::{Component, Manifest};

fn newest_matching(root: &Path, pattern: &str) -> Option<SystemTime> {
    // Patterns look like `functions/core/src/**/*.rs`: a directory to walk and a file suffix.
    let base = match pattern.find('*') {
        Some(i) => &pattern[..pattern[..i].rfind('/').map_or(0, |j| j + 1)],
        None => pattern,
    };
    let suffix = pattern.rsplit('*').next().unwrap_or("");
    let mut newest = None;
    let mut stack = vec![root.join(base)];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if path.to_string_lossy().ends_with(suffix)
            && let Ok(m) = meta.modified()
        {
            newest = newest.max(Some(m));
        }
    }
    newest
}

/// True when `c`'s `.wasm` is missing or older than a watched source (or Cargo.lock).
pub fn is_stale(root: &Path, c: &Component) -> bool {
    let Ok(built) = std::fs::metadata(&c.source).and_then(|m| m.modified()) else {
        return true;
    };
    let lock = std::fs::metadata(root.join("Cargo.lock")).and_then(|m| m.modified()).ok();
    c.watch.iter().filter_map(|w| newest_matching(root, w)).chain(lock).any(|t| t > built)
}

/// Builds every stale component that has a build command. Build output goes to stderr.
pub fn build_stale(manifest: &Manifest) -> anyhow::Result<()> {
    for c in &manifest.components {
        let Some(cmd) = &c.build_command else {
            continue;
        };
        if !is_stale(&manifest.root, c) {
            continue;
        }
        tracing::info!(component = %c.id, command = %cmd, "building component");
        let status = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(&manifest.root)
            .stdin(Stdio::null())
            // Keep stdout for origo's own readiness line: build output goes to stderr.
            .stdout(Stdio::from(stderr_fd()?))
            .status()
            .with_context(|| format!("cannot run the build command of {}", c.id))?;
        anyhow::ensure!(status.success(), "building component {} failed ({status})", c.id);
        anyhow::ensure!(c.source.exists(), "building component {} did not produce {}", c.id, c.source.display());
    }
    Ok(())
}

fn stderr_fd() -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::AsFd;
    std::io::stderr().as_fd().try_clone_to_owned()
}
