//! The function host as a user of `origo` meets it: components routed by the manifest, state
//! that does not leak between requests, key-value that survives restarts (embedded and Redis),
//! variables, outbound HTTP policy, and the limits that keep a misbehaving component from
//! hurting the host.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Origo, Redis, probe_manifest, rt};
use serde_json::Value;

fn start(dir: &Path, data: &Path, allowed: &[&str], extra: &[&str]) -> Origo {
    let manifest = probe_manifest(dir, allowed);
    let mut args = vec![
        "edge",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
        "--var",
        "secret_word=swordfish",
    ];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    Origo::start(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
}

async fn get(o: &Origo, path: &str) -> (u16, String) {
    let res = reqwest::get(o.url(path)).await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn error_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not the JSON error body ({e}): {body}"));
    v["error"]["code"].as_str().unwrap().to_owned()
}

#[test]
fn routes_and_fresh_instance_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let o = start(dir.path(), &dir.path().join("data"), &[], &[]);
    rt().block_on(async {
        assert_eq!(get(&o, "/probe/hello").await, (200, "hello".into()));
        let (status, body) = get(&o, "/elsewhere").await;
        assert_eq!((status, error_code(&body).as_str()), (404, "not_found"));
        // Module state never survives a request: every instance is new.
        for _ in 0..5 {
            assert_eq!(get(&o, "/probe/static").await, (200, "1".into()));
        }
        // Also under concurrency.
        let client = reqwest::Client::new();
        let calls = (0..24).map(|_| {
            let c = client.clone();
            let url = o.url("/probe/static");
            async move { c.get(url).send().await.unwrap().text().await.unwrap() }
        });
        let answers = futures_join_all(calls).await;
        assert!(answers.iter().all(|a| a == "1"), "{answers:?}");
    });
}

/// Runs futures concurrently.
async fn futures_join_all<F: std::future::Future<Output = String> + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<String> {
    let set: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in set {
        out.push(h.await.unwrap());
    }
    out
}

#[test]
fn limits_contain_loops_traps_and_unbounded_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let o = start(
        dir.path(),
        &dir.path().join("data"),
        &[],
        &[
            "--cpu-timeout-ms",
            "300",
            "--max-memory-mb",
            "32",
            "--max-body-kb",
            "4",
            "--max-response-kb",
            "4",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    rt().block_on(async {
        let t0 = Instant::now();
        let (status, body) = get(&o, "/probe/loop").await;
        assert_eq!((status, error_code(&body).as_str()), (504, "timeout"), "{body}");
        assert!(body.contains("CPU time limit"), "{body}");
        assert!(t0.elapsed() < Duration::from_secs(5), "the loop was stopped by its deadline: {:?}", t0.elapsed());

        let (status, body) = get(&o, "/probe/trap").await;
        assert_eq!((status, error_code(&body).as_str()), (502, "bad_gateway"), "{body}");

        let (status, body) = get(&o, "/probe/alloc").await;
        assert_eq!((status, error_code(&body).as_str()), (502, "bad_gateway"), "{body}");
        assert!(body.contains("memory limit"), "{body}");

        let client = reqwest::Client::new();
        let res = client.post(o.url("/probe/echo")).body(vec![b'a'; 8 * 1024]).send().await.unwrap();
        assert_eq!(res.status(), 413);
        assert_eq!(error_code(&res.text().await.unwrap()), "payload_too_large");
        let res = client.post(o.url("/probe/echo")).body(vec![b'a'; 1024]).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.bytes().await.unwrap().len(), 1024);

        let (status, body) = get(&o, "/probe/big?bytes=8192").await;
        assert_eq!((status, error_code(&body).as_str()), (502, "bad_gateway"), "{body}");
        assert_eq!(get(&o, "/probe/big?bytes=100").await.0, 200);

        // The host is still up and serving, and the metrics saw it all.
        assert_eq!(get(&o, "/probe/hello").await, (200, "hello".into()));
        let metrics = o.scrape_metrics().await;
        for kind in ["cpu_timeout", "trap", "memory_limit", "response_too_large"] {
            let line = format!("origo_function_traps_total{{component=\"probe\",kind=\"{kind}\"}} 1");
            assert!(metrics.contains(&line), "missing {line} in\n{metrics}");
        }
        assert!(metrics.contains("origo_function_instantiations_total{component=\"probe\"}"), "{metrics}");
        assert!(
            metrics.contains("origo_function_instantiate_duration_seconds_count{component=\"probe\"}"),
            "{metrics}"
        );
    });
    // The trap was logged with the guest's own message.
    assert!(o.log().contains("the probe was asked to trap"), "{}", o.log());
}

fn kv_round_trip(store_args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let client = reqwest::Client::new();
    let o = start(dir.path(), &data, &[], store_args);
    rt().block_on(async {
        assert_eq!(get(&o, "/probe/kv/greeting").await.0, 404);
        let res = client.put(o.url("/probe/kv/greeting")).body("hej").send().await.unwrap();
        assert_eq!(res.status(), 204);
        client.put(o.url("/probe/kv/other")).body("x").send().await.unwrap();
        assert_eq!(get(&o, "/probe/kv/greeting").await, (200, "hej".into()));
        assert_eq!(get(&o, "/probe/kv-keys").await, (200, "greeting\nother".into()));
        client.delete(o.url("/probe/kv/other")).send().await.unwrap();
        // Only the stores the manifest names can be opened.
        let (status, body) = get(&o, "/probe/store/secrets").await;
        assert_eq!(status, 403);
        assert!(body.contains("AccessDenied"), "{body}");
    });
    assert!(o.terminate().success());
    // A new process with the same storage sees the data.
    let o = start(dir.path(), &data, &[], store_args);
    rt().block_on(async {
        assert_eq!(get(&o, "/probe/kv/greeting").await, (200, "hej".into()));
        assert_eq!(get(&o, "/probe/kv-keys").await, (200, "greeting".into()));
    });
}

#[test]
fn embedded_kv_survives_restart() {
    kv_round_trip(&[]);
}

#[test]
fn redis_kv_survives_restart() {
    let redis = Redis::start();
    kv_round_trip(&["--redis", &redis.url]);
}

#[test]
fn redis_kv_in_spins_layout_is_the_bare_key_and_keeps_clear_of_the_host_namespace() {
    use redis::AsyncCommands;
    let redis = Redis::start();
    kv_round_trip(&["--redis", &redis.url, "--redis-layout", "spin"]);
    let dir = tempfile::tempdir().unwrap();
    let o = start(dir.path(), &dir.path().join("data"), &[], &["--redis", &redis.url, "--redis-layout", "spin"]);
    let client = reqwest::Client::new();
    rt().block_on(async {
        let mut r = redis::Client::open(redis.url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
        // What the round trip left is at the bare key, as Spin's backend keeps it.
        let raw: Option<Vec<u8>> = r.get("greeting").await.unwrap();
        assert_eq!(raw.as_deref(), Some(&b"hej"[..]));
        // A record Spin's backend wrote is read back, and listed.
        let _: () = r.set("written-by-spin", b"hola".as_slice()).await.unwrap();
        assert_eq!(get(&o, "/probe/kv/written-by-spin").await, (200, "hola".into()));
        // The host's namespace is neither listed nor writable through a store.
        let _: () = r.set("origo:lease:public:demo", "owner http://127.0.0.1:9").await.unwrap();
        assert_eq!(get(&o, "/probe/kv-keys").await, (200, "greeting\nwritten-by-spin".into()));
        let res = client.put(o.url("/probe/kv/origo:lease:public:demo")).body("mine").send().await.unwrap();
        assert_eq!(res.status(), 500);
        assert_eq!(get(&o, "/probe/kv/origo:lease:public:demo").await.0, 500);
        let lease: String = r.get("origo:lease:public:demo").await.unwrap();
        assert_eq!(lease, "owner http://127.0.0.1:9");
    });
}

#[test]
fn variables_come_from_the_manifest_and_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let o = start(dir.path(), &dir.path().join("data"), &[], &["--var", "greeting=bonjour"]);
    rt().block_on(async {
        assert_eq!(get(&o, "/probe/var/greeting").await, (200, "bonjour".into()));
        assert_eq!(get(&o, "/probe/var/secret_word").await, (200, "swordfish".into()));
        let (status, body) = get(&o, "/probe/var/not_given_to_me").await;
        assert_eq!(status, 404);
        assert!(body.contains("Undefined"), "{body}");
    });
    assert!(!o.log().contains("swordfish"), "secrets are never logged");
}

/// A tiny HTTP server on loopback answering every request with `body`.
async fn one_shot_server(body: &'static str) -> u16 {
    serve_on(std::net::TcpListener::bind("127.0.0.1:0").unwrap(), body)
}

/// Serves `body` to every request on `listener` (bound beforehand, so its port can be
/// configured before the server runs).
fn serve_on(listener: std::net::TcpListener, body: &'static str) -> u16 {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let res = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = s.write_all(res.as_bytes()).await;
        }
    });
    port
}

#[test]
fn outbound_requests_follow_allowed_hosts_and_internal_calls_stay_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let o = start(
        dir.path(),
        &dir.path().join("data"),
        &["http://127.0.0.1:*", "http://origo.internal"],
        &["--var", "outbound_trusted_hosts=127.0.0.1"],
    );
    rt().block_on(async {
        let port = one_shot_server("from-upstream").await;
        let (status, body) = get(&o, &format!("/probe/fetch?url=http://127.0.0.1:{port}/x")).await;
        assert_eq!((status, body.as_str()), (200, "200 from-upstream"));
        // Same server, but by a name the manifest does not allow.
        let (status, body) = get(&o, &format!("/probe/fetch?url=http://localhost:{port}/x")).await;
        assert_eq!(status, 502);
        assert!(body.contains("HttpRequestDenied"), "{body}");
        // In-process: the component reaches this server's own routes without a socket.
        let (status, body) = get(&o, "/probe/fetch?url=http://origo.internal/health").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.starts_with("200 {") && body.contains("\"status\":\"ok\""), "{body}");
        // A component calling itself in-process is stopped after a few hops.
        let (status, body) = get(&o, "/probe/fetch?url=http://origo.internal/probe/fetch?url=http://origo.internal/probe/fetch?url=http://origo.internal/probe/fetch?url=http://origo.internal/probe/fetch?url=http://origo.internal/probe/hello").await;
        assert_eq!(status, 200);
        assert!(body.contains("508") && body.contains("loop_detected"), "{body}");
    });
    assert!(o.log().contains("outbound request denied"), "{}", o.log());
}

#[test]
fn outbound_requests_reach_only_destinations_the_policy_allows() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let trusted_port = trusted.local_addr().unwrap().port();
    // Never accepted from: a refused request must not even connect.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    silent.set_nonblocking(true).unwrap();
    let port = silent.local_addr().unwrap().port();
    let trust = format!("outbound_trusted_hosts=127.0.0.1:{trusted_port}");
    let o = start(dir.path(), &dir.path().join("data"), &["https://*:*", "http://*:*"], &["--var", &trust]);
    rt().block_on(async {
        serve_on(trusted, "trusted");
        let (status, body) = get(&o, &format!("/probe/fetch?url=http://127.0.0.1:{trusted_port}/x")).await;
        assert_eq!((status, body.as_str()), (200, "200 trusted"));
        let refused = [
            (format!("http://127.0.0.1:{port}/x"), "HttpRequestDenied"),
            (format!("https://127.0.0.1:{port}/x?token=s3cret"), "DestinationIpProhibited"),
            (format!("https://2130706433:{port}/x"), "DestinationIpProhibited"),
            (format!("https://0x7f.1:{port}/x"), "DestinationIpProhibited"),
            (format!("https://[::ffff:127.0.0.1]:{port}/x"), "DestinationIpProhibited"),
            (format!("https://localhost:{port}/x"), "HttpRequestDenied"),
            // Only plain http names the in-process server; over https it is a local name.
            ("https://origo.internal/health".to_owned(), "HttpRequestDenied"),
        ];
        for (url, code) in refused {
            let (status, body) = get(&o, &format!("/probe/fetch?url={url}")).await;
            assert_eq!(status, 502, "{url}: {body}");
            assert!(body.contains(code), "{url}: {body}");
        }
    });
    match silent.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a refused request connected: {other:?}"),
    }
    let log = o.log();
    assert!(log.contains("refused by the destination policy"), "{log}");
    assert!(!log.contains("s3cret"), "query strings are never logged: {log}");
}

#[test]
fn request_ids_are_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let o = start(dir.path(), &dir.path().join("data"), &[], &[]);
    rt().block_on(async {
        let client = reqwest::Client::new();
        let res = client.get(o.url("/probe/hello")).header("x-request-id", "abc-123").send().await.unwrap();
        assert_eq!(res.headers()["x-request-id"], "abc-123");
        let res = client.get(o.url("/probe/hello")).send().await.unwrap();
        assert_eq!(res.headers()["x-request-id"].len(), 16);
        let res = client.get(o.url("/nope")).header("x-request-id", "bad id with spaces").send().await.unwrap();
        assert_ne!(res.headers()["x-request-id"], "bad id with spaces");
    });
}
