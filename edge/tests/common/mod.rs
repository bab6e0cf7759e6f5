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
    /// `http://ADDR/metrics` when started with `--metrics-listen` (its second stdout line).
    pub metrics: Option<String>,
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
            .env_remove("ORIGO_METRICS_LISTEN")
            .env("ORIGO_LOG", "origo_edge=debug,info")
            // Compiled components are shared by every test process (writes are atomic renames).
            .env("ORIGO_CACHE_DIR", std::env::temp_dir().join("origo-test-component-cache"));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn origo");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Every stdout line, read to the end so the pipe never fills.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let next_line = |what: &str| match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(l) if !l.is_empty() => l,
            _ => panic!("origo did not print {what}; its log:\n{}", std::fs::read_to_string(&log).unwrap_or_default()),
        };
        let line = next_line("its listening line");
        let base = line
            .trim()
            .strip_prefix("origo listening on ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
            .to_owned();
        let metrics_flag = args.iter().position(|a| *a == "--metrics-listen").and_then(|i| args.get(i + 1).copied());
        let metrics_env = envs.iter().find(|(k, _)| *k == "ORIGO_METRICS_LISTEN").map(|(_, v)| *v);
        let metrics = match metrics_flag.or(metrics_env) {
            Some(v) if !v.eq_ignore_ascii_case("off") => {
                let line = next_line("its metrics line");
                let url =
                    line.trim().strip_prefix("origo metrics on ").unwrap_or_else(|| panic!("unexpected line {line:?}"));
                Some(url.to_owned())
            }
            _ => None,
        };
        Origo { child, base, metrics, stderr_log: log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `/metrics` from the metrics listener (started with `--metrics-listen`).
    pub async fn scrape_metrics(&self) -> String {
        let url = self.metrics.as_deref().expect("origo was started without --metrics-listen");
        let res = reqwest::get(url).await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        res.text().await.unwrap()
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
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).parent().unwrap().to_owned()
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
    /// Everything after `--port`/`--tls-port PORT`, kept for a restart.
    args: Vec<String>,
    port: u16,
    tls: bool,
    dir: tempfile::TempDir,
}

impl Redis {
    /// Keeping nothing on disk (no snapshots, no AOF).
    pub fn start() -> Redis {
        Redis::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// With `args` added (`--appendonly yes`, `--requirepass …`).
    pub fn start_with(args: &[&str]) -> Redis {
        Redis::spawn_new(args, false)
    }

    /// Speaking TLS only (`rediss://`), with `args` naming the certificates.
    pub fn start_tls(args: &[&str]) -> Redis {
        Redis::spawn_new(args, true)
    }

    fn spawn_new(args: &[&str], tls: bool) -> Redis {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let child = Redis::spawn(port, tls, &args, dir.path());
        let scheme = if tls { "rediss" } else { "redis" };
        Redis { child, url: format!("{scheme}://127.0.0.1:{port}/0"), args, port, tls, dir }
    }

    fn spawn(port: u16, tls: bool, args: &[String], dir: &Path) -> Child {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1"]);
        if tls {
            cmd.args(["--port", "0", "--tls-port", &port.to_string()]);
        } else {
            cmd.args(["--port", &port.to_string()]);
        }
        let child = cmd
            .args(args)
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (tests/run installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Redis::answers(port, tls) {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    /// Whether the server answers: `PING` in plain text (not `-LOADING` while it reads its
    /// AOF back); for TLS, that it accepts connections.
    fn answers(port: u16, tls: bool) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
        if tls {
            return true;
        }
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 64];
        // Any answer but LOADING: also NOAUTH, from a server with a password.
        s.write_all(b"PING\r\n").is_ok() && s.read(&mut buf).is_ok_and(|n| n > 0 && !buf[..n].starts_with(b"-LOADING"))
    }

    /// The server's working directory (its AOF and snapshots).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server with SIGKILL, as a crash or a power cut would stop it, and starts it
    /// again on the same port and directory, so it reads back what it persisted.
    pub fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Redis::spawn(self.port, self.tls, &self.args, self.dir.path());
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

/// Starts `origo dev` on the repository's manifest and built components (see `functions/build`),
/// its data in `dir`, listening on a loopback port it picks, with its in-process TURN server and
/// media node on loopback unless `extra` gives `--turn-listen` / `--media-listen` itself;
/// `extra` are more arguments (`--var NAME=VALUE`, `--redis URL`).
pub fn start_dev(dir: &Path, extra: &[&str]) -> Origo {
    start_dev_env(dir, extra, &[])
}

/// As [`start_dev`], with environment variables.
pub fn start_dev_env(dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Origo {
    for f in ["auth", "room", "chat", "notify", "billing"] {
        built_component(&format!("functions/wasm/origo_fn_{f}.wasm"));
    }
    let manifest = repo_root().join("spin.toml");
    let mut args =
        vec!["dev", "--no-build", "--listen", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap(), "--manifest"];
    args.push(manifest.to_str().unwrap());
    for flag in ["--turn-listen", "--media-listen"] {
        if !extra.contains(&flag) {
            args.extend_from_slice(&[flag, "127.0.0.1:0"]);
        }
    }
    args.extend_from_slice(extra);
    Origo::start(&args, envs)
}

/// One request to `o` (a bearer `token` and a JSON `body` when given).
pub async fn request(
    o: &Origo,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new().request(method, o.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// One JSON call to `o`: the status and the JSON answer (null when the answer is no JSON).
pub async fn call(
    o: &Origo,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let res = request(o, method, path, token, body).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}
