//! The `origo` binary as an operator runs it: flags, environment, data dir, health, errors,
//! and a clean stop on SIGTERM.

mod common;

use std::process::Command;

use common::{Origo, probe_manifest, rt};

/// `origo dev` on a probe manifest in `dir`, listening on a free port.
fn dev_args(dir: &std::path::Path, data: &std::path::Path) -> Vec<String> {
    let manifest = probe_manifest(dir, &[]);
    vec![
        "dev".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        data.to_str().unwrap().into(),
        "--manifest".into(),
        manifest.to_str().unwrap().into(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn dev_serves_health_on_the_given_address_and_creates_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/state");
    let args = dev_args(dir.path(), &data);
    let origo = Origo::start(&strs(&args), &[]);
    assert!(origo.base.starts_with("http://127.0.0.1:"), "{}", origo.base);
    assert!(data.is_dir(), "data dir created");
    rt().block_on(async {
        let res = reqwest::get(origo.url("/health")).await.unwrap();
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["mode"], "dev");
        assert_eq!(body["checks"]["data_dir"], true);
        assert_eq!(body["checks"]["kv"], true);
        assert_eq!(body["components"], serde_json::json!(["probe"]));
    });
    let status = origo.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

#[test]
fn environment_variables_configure_the_edge_command() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("env-data");
    let manifest = probe_manifest(dir.path(), &[]);
    let origo = Origo::start(
        &["edge"],
        &[
            ("ORIGO_LISTEN", "127.0.0.1:0"),
            ("ORIGO_DATA_DIR", data.to_str().unwrap()),
            ("ORIGO_MANIFEST", manifest.to_str().unwrap()),
            ("ORIGO_VAR_SECRET_WORD", "w"),
        ],
    );
    assert!(data.is_dir());
    rt().block_on(async {
        let body: serde_json::Value = reqwest::get(origo.url("/health")).await.unwrap().json().await.unwrap();
        assert_eq!(body["mode"], "edge");
        let word = reqwest::get(origo.url("/probe/var/secret_word")).await.unwrap().text().await.unwrap();
        assert_eq!(word, "w");
    });
}

#[test]
fn unknown_routes_and_methods_get_the_json_error_body() {
    let dir = tempfile::tempdir().unwrap();
    let args = dev_args(dir.path(), &dir.path().join("data"));
    let origo = Origo::start(&strs(&args), &[]);
    rt().block_on(async {
        let client = reqwest::Client::new();
        let res = client.get(origo.url("/no/such/thing")).send().await.unwrap();
        assert_eq!(res.status(), 404);
        assert_eq!(res.headers()["content-type"], "application/json");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");
        assert!(body["error"]["message"].as_str().unwrap().contains("/no/such/thing"));

        let res = client.delete(origo.url("/health")).send().await.unwrap();
        assert_eq!(res.status(), 405);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
    });
}

#[test]
fn metrics_are_served_only_on_a_listener_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    // Off by default: nothing on the public listener, no metrics listener at all.
    let plain = Origo::start(&strs(&dev_args(dir.path(), &dir.path().join("plain"))), &[]);
    assert_eq!(plain.metrics, None);
    let mut args = dev_args(dir.path(), &dir.path().join("data"));
    args.extend(["--metrics-listen".into(), "127.0.0.1:0".into()]);
    let origo = Origo::start(&strs(&args), &[]);
    let metrics = origo.metrics.clone().expect("a metrics line");
    assert_ne!(metrics, origo.url("/metrics"));
    rt().block_on(async {
        for o in [&plain, &origo] {
            let res = reqwest::get(o.url("/metrics")).await.unwrap();
            assert_eq!(res.status(), 404);
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "not_found");
        }
        let res = reqwest::get(&metrics).await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
        assert!(res.text().await.unwrap().contains("origo_function_requests_in_flight"));
        // The metrics listener serves nothing else.
        let other = metrics.replace("/metrics", "/health");
        let res = reqwest::get(&other).await.unwrap();
        assert_eq!(res.status(), 404);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");
    });
}

/// The probe manifest in `dir`, declaring `public_url` (empty by default) and handing it to the
/// probe, which answers `GET /probe/var/public_url` with it.
fn probe_manifest_with_public_url(dir: &std::path::Path) -> std::path::PathBuf {
    let path = probe_manifest(dir, &[]);
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen("[variables]\n", "[variables]\npublic_url = { default = \"\" }\n", 1).replacen(
        "[component.probe.variables]\n",
        "[component.probe.variables]\npublic_url = \"{{ public_url }}\"\n",
        1,
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn edge_requires_public_url_and_dev_defaults_it_to_its_own_address() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_manifest_with_public_url(dir.path());
    let edge = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_origo"));
        cmd.args(["edge", "--listen", "127.0.0.1:0", "--manifest", manifest.to_str().unwrap(), "--data-dir"])
            .arg(dir.path().join("edge-data"))
            .args(["--var", "secret_word=swordfish"])
            .args(extra)
            .env_remove("ORIGO_VAR_PUBLIC_URL")
            .env("ORIGO_CACHE_DIR", std::env::temp_dir().join("origo-test-component-cache"));
        cmd.output().unwrap()
    };
    // No public_url: origo edge does not start (it would have to trust the Host header).
    let out = edge(&[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("public_url is required"), "{stderr}");
    let out = edge(&["--var", "public_url=ftp://meet.example.test"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("http:// or https://"));

    let base = "https://meet.example.test";
    let origo = Origo::start(
        &[
            "edge",
            "--listen",
            "127.0.0.1:0",
            "--manifest",
            manifest.to_str().unwrap(),
            "--data-dir",
            dir.path().join("edge-data").to_str().unwrap(),
            "--var",
            "secret_word=swordfish",
            "--var",
            "public_url=https://meet.example.test/",
        ],
        &[],
    );
    // `origo dev` gives the functions its own address.
    let mut args = vec![
        "dev".to_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--manifest".into(),
        manifest.to_str().unwrap().into(),
        "--data-dir".into(),
        dir.path().join("dev-data").to_str().unwrap().into(),
    ];
    args.extend(["--var".into(), "secret_word=swordfish".into()]);
    let dev = Origo::start(&strs(&args), &[]);
    rt().block_on(async {
        let client = reqwest::Client::new();
        let get = |o: &Origo| client.get(o.url("/probe/var/public_url")).header("host", "evil.example.test").send();
        let res = get(&origo).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), base, "the trailing / is dropped");
        let res = get(&dev).await.unwrap();
        assert_eq!(res.text().await.unwrap(), dev.base);
    });
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut args = dev_args(dir.path(), &dir.path().join("data"));
    args[2] = addr.clone();
    let out = Command::new(env!("CARGO_BIN_EXE_origo")).args(&args).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot listen on {addr}")), "{stderr}");
}

#[test]
fn bad_flags_are_refused_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_origo")).args(["dev", "--listen", "not-an-address"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}

#[test]
fn edge_mode_requires_secrets_and_dev_mode_generates_them_once() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_manifest(dir.path(), &[]);
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_origo"))
        .args(["edge", "--listen", "127.0.0.1:0", "--manifest", manifest.to_str().unwrap(), "--data-dir"])
        .arg(&data)
        .env_remove("ORIGO_VAR_SECRET_WORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("variable secret_word is required"), "{stderr}");

    let args = dev_args(dir.path(), &data);
    let first = Origo::start(&strs(&args), &[]);
    let word =
        rt().block_on(async { reqwest::get(first.url("/probe/var/secret_word")).await.unwrap().text().await.unwrap() });
    assert_eq!(word.len(), 64, "a 256-bit hex secret: {word}");
    assert!(!first.log().contains(&word), "the secret must not be logged");
    drop(first);
    let file = data.join("dev-variables.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let second = Origo::start(&strs(&args), &[]);
    let again = rt()
        .block_on(async { reqwest::get(second.url("/probe/var/secret_word")).await.unwrap().text().await.unwrap() });
    assert_eq!(again, word, "the generated secret is kept across restarts");
}

#[test]
fn coordinator_mode_needs_redis_and_the_deployments_variables_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_manifest(dir.path(), &[]);
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_origo"))
            .args(["coordinator", "--listen", "127.0.0.1:0", "--manifest", manifest.to_str().unwrap()])
            .args(extra)
            .env_remove("ORIGO_REDIS")
            .env_remove("ORIGO_VAR_SECRET_WORD")
            .env_remove("SPIN_VARIABLE_SECRET_WORD")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--redis"), "{}", String::from_utf8_lossy(&out.stderr));

    let redis = common::Redis::start();
    let out = run(&["--redis", &redis.url]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("variable secret_word is required"), "{stderr}");

    let out = run(&["--redis", &redis.url, "--redis-layout", "sideways"]);
    assert!(!out.status.success());

    let word = "coordinator-secret-word";
    let c = Origo::start(
        &["coordinator", "--listen", "127.0.0.1:0", "--manifest", manifest.to_str().unwrap(), "--redis", &redis.url],
        &[("SPIN_VARIABLE_SECRET_WORD", word)],
    );
    let health: serde_json::Value =
        rt().block_on(async { reqwest::get(c.url("/health")).await.unwrap().json().await.unwrap() });
    assert_eq!(health["mode"], "coordinator", "{health}");
    assert_eq!(health["checks"]["kv_backend"], "redis");
    assert_eq!(health["checks"]["redis_layout"], "origo");
    // The manifest's routes are not served here.
    let res = rt().block_on(async { reqwest::get(c.url("/probe/var/secret_word")).await.unwrap() });
    assert_eq!(res.status().as_u16(), 404);
    assert!(!c.log().contains(word), "the variables must not be logged");
    assert!(c.terminate().success());
}

#[test]
fn with_redis_every_interface_needs_an_advertised_url_that_reaches_this_process() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_manifest(dir.path(), &[]);
    let data = dir.path().join("data");
    // Refused before anything binds or connects: no Redis answers at this URL.
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_origo"))
            .args(args)
            .args(["--manifest", manifest.to_str().unwrap(), "--redis", "redis://127.0.0.1:1/0"])
            .env_remove("ORIGO_ADVERTISE_URL")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = run(&["coordinator", "--listen", "0.0.0.0:0"]);
    assert!(stderr.contains("needs --advertise-url"), "{stderr}");
    let stderr = run(&["edge", "--listen", "[::]:0", "--data-dir", data.to_str().unwrap()]);
    assert!(stderr.contains("needs --advertise-url"), "{stderr}");
    let stderr = run(&["coordinator", "--listen", "127.0.0.1:0", "--advertise-url", "http://0.0.0.0:8080"]);
    assert!(stderr.contains("not 0.0.0.0"), "{stderr}");
    assert!(!data.exists(), "refused before the data dir is made");
}
