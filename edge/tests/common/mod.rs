//! Starting the real `origo` binary (and a real `redis-server`) for tests.
#![allow(dead_code)]

pub mod room_ws;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `origo`.
pub struct Origo {
    pub child: Child,
    pub base: String,
    pub stderr_log: PathBuf,
}

impl Origo {
    /// Starts `origo <args>` with `envs` and waits for its readiness line on stdout.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Origo {
        let log = tempfile::NamedTempFile::new().unwrap().into_temp_path().keep().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_origo"));
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .env_remove("ORIGO_LISTEN")
            .env_remove("ORIGO_DATA_DIR")
            .env("ORIGO_LOG", "origo_edge=debug,info")
            // Compiled components are shared by every test process (writes are atomic renames).
            .env("ORIGO_CACHE_DIR", std::env::temp_dir().join("origo-test-component-cache"));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn origo");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(l) if !l.is_empty() => l,
            _ => panic!("origo did not start; its log:\n{}", std::fs::read_to_string(&log).unwrap_or_default()),
        };
        let base = line
            .trim()
            .strip_prefix("origo listening on ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
            .to_owned();
        Origo { child, base, stderr_log: log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Sends SIGTERM and returns the exit status, failing if it does not stop in time.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "origo did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Origo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr_log);
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// A component built by `functions/build` (tests/run runs it before the tests).
pub fn built_component(rel: &str) -> PathBuf {
    let path = repo_root().join(rel);
    assert!(path.exists(), "{} is missing: run `functions/build` (tests/run does) before these tests", path.display());
    path
}

/// Writes a manifest serving the probe fixture under `/probe/...` into `dir`.
pub fn probe_manifest(dir: &Path, allowed_outbound: &[&str]) -> PathBuf {
    let probe = built_component("tests/fixtures/wasm/origo_fixture_probe.wasm");
    let allowed = allowed_outbound.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ");
    let text = format!(
        r#"spin_manifest_version = 2
[application]
name = "probe-test"
[variables]
greeting = {{ default = "hello" }}
secret_word = {{ required = true, secret = true }}
[[trigger.http]]
route = "/probe/..."
component = "probe"
[component.probe]
source = "{}"
key_value_stores = ["default"]
allowed_outbound_hosts = [{allowed}]
[component.probe.variables]
greeting = "{{{{ greeting }}}}"
secret_word = "{{{{ secret_word }}}}"
"#,
        probe.display()
    );
    let path = dir.join("spin.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `redis-server` of our own on a free loopback port, stopped on drop.
pub struct Redis {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Redis {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (tests/run installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, url: format!("redis://127.0.0.1:{port}/0"), _dir: dir }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}
