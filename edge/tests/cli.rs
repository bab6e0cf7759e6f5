//! The `origo` binary as an operator runs it: flags, environment, data dir, health, errors,
//! and a clean stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Origo {
    child: Child,
    base: String,
}

impl Origo {
    /// Starts `origo <args>` with `envs` and waits for its readiness line on stdout.
    fn start(args: &[&str], envs: &[(&str, &str)]) -> Origo {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_origo"));
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env_remove("ORIGO_LISTEN")
            .env_remove("ORIGO_DATA_DIR");
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
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("origo printed its address");
        let base = line
            .trim()
            .strip_prefix("origo listening on ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
            .to_owned();
        Origo { child, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and returns the exit status, failing if it does not stop in time.
    fn terminate(mut self) -> std::process::ExitStatus {
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
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn dev_serves_health_on_the_given_address_and_creates_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/state");
    let origo = Origo::start(
        &[
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        origo.base.starts_with("http://127.0.0.1:"),
        "{}",
        origo.base
    );
    assert!(data.is_dir(), "data dir created");
    rt().block_on(async {
        let res = reqwest::get(origo.url("/health")).await.unwrap();
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["mode"], "dev");
        assert_eq!(body["checks"]["data_dir"], true);
    });
    let status = origo.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

#[test]
fn environment_variables_configure_the_edge_command() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("env-data");
    let origo = Origo::start(
        &["edge"],
        &[
            ("ORIGO_LISTEN", "127.0.0.1:0"),
            ("ORIGO_DATA_DIR", data.to_str().unwrap()),
        ],
    );
    assert!(data.is_dir());
    rt().block_on(async {
        let body: serde_json::Value = reqwest::get(origo.url("/health"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["mode"], "edge");
    });
}

#[test]
fn unknown_routes_and_methods_get_the_json_error_body() {
    let dir = tempfile::tempdir().unwrap();
    let origo = Origo::start(
        &[
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    rt().block_on(async {
        let client = reqwest::Client::new();
        let res = client
            .get(origo.url("/no/such/thing"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        assert_eq!(res.headers()["content-type"], "application/json");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("/no/such/thing")
        );

        let res = client.delete(origo.url("/health")).send().await.unwrap();
        assert_eq!(res.status(), 405);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
    });
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_origo"))
        .args([
            "dev",
            "--listen",
            &addr,
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

#[test]
fn bad_flags_are_refused_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_origo"))
        .args(["dev", "--listen", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}
