//! Webhook registration refuses destinations that are not public `https` endpoints, unless the
//! deployment trusts the host (`outbound_trusted_hosts`).

mod support;

use http::{Method, StatusCode};
use serde_json::json;
use support::*;

fn register(p: &TestPlatform, token: &str, url: &str) -> origo_functions::Response {
    call(p, Method::POST, "/v1/webhooks", Some(token), Some(json!({ "url": url })))
}

#[test]
fn private_loopback_metadata_and_plain_http_endpoints_are_refused_with_the_reason() {
    let p = TestPlatform::new();
    let (t, _, _) = owner(&p, "ada@acme.test");
    let cases = [
        ("http://hooks.partner.test/in", "https"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://2130706433/hook", "loopback"),
        ("https://0x7f.1/hook", "loopback"),
        ("https://0177.0.0.1/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("https://[fd00::1]/hook", "private"),
        ("https://169.254.169.254/latest/meta-data/", "cloud_metadata"),
        ("https://[64:ff9b::a9fe:a9fe]/", "cloud_metadata"),
        ("https://100.64.0.1/", "cgnat"),
        ("https://[fe80::1]/", "link_local"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://localhost/hook", "local name"),
        ("https://hooks.localhost/hook", "local name"),
        ("https://printer.local/hook", "local name"),
        ("https://origo.internal/internal/v1/rooms", "local name"),
        ("https://metadata.google.internal/", "local name"),
    ];
    for (url, why) in cases {
        let message = assert_error(&register(&p, &t, url), 400, "bad_request");
        assert!(message.contains(why), "{url}: {message}");
        assert!(message.starts_with("url is refused"), "{url}: {message}");
    }
    assert_eq!(ok_json(call(&p, Method::GET, "/v1/webhooks", Some(&t), None), StatusCode::OK)["webhooks"], json!([]));
}

#[test]
fn public_https_endpoints_are_accepted() {
    let p = TestPlatform::new();
    let (t, _, _) = owner(&p, "ada@acme.test");
    for url in ["https://hooks.partner.test/in", "https://8.8.8.8:8443/in", "https://[2606:4700:4700::1111]/in"] {
        ok_json(register(&p, &t, url), StatusCode::CREATED);
    }
}

#[test]
fn trusted_hosts_may_be_plain_http_and_local() {
    let mut p = TestPlatform::new();
    p.set("outbound_trusted_hosts", "127.0.0.1:8099, receiver.internal");
    let (t, _, _) = owner(&p, "ada@acme.test");
    ok_json(register(&p, &t, "http://127.0.0.1:8099/hook"), StatusCode::CREATED);
    ok_json(register(&p, &t, "http://receiver.internal/hook"), StatusCode::CREATED);
    // Only the port named.
    let message = assert_error(&register(&p, &t, "http://127.0.0.1:8100/hook"), 400, "bad_request");
    assert!(message.contains("https"), "{message}");
    assert_error(&register(&p, &t, "https://127.0.0.2/hook"), 400, "bad_request");
}
