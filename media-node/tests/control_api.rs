//! The control API's own description: `GET /openapi.json` is an OpenAPI 3.1 document listing
//! every route with its bearer auth and JSON error body, valid for an independent validator
//! (`openapi-spec-validator`, when the test venv has it), and every operation it lists is
//! routed (none answers 404 or 405).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

struct Node {
    child: Child,
    base: String,
    _state: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Node {
    start_with(&[])
}

fn node_command(state: &tempfile::TempDir, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_origo-media-node"));
    c.args(["--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--node-id", "media-doc", "--shards", "1"])
        .args(["--state-dir", state.path().to_str().unwrap()])
        .args(["--token-signing-keys", "k1:0909090909090909090909090909090909090909090909090909090909090909"])
        .args(extra)
        .env("ORIGO_LOG", "warn");
    c
}

fn start_with(extra: &[&str]) -> Node {
    let state = tempfile::tempdir().unwrap();
    let mut child = node_command(&state, extra).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let rest = line.trim().strip_prefix("origo-media-node listening on ").unwrap_or_else(|| panic!("{line}"));
    let base = rest.split_once(" (udp ").unwrap().0.to_owned();
    Node { child, base, _state: state }
}

/// (status, body) of `method url`, without credentials.
fn request(method: &str, url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/stdout", "-w", "\n%{http_code}", "-X", method, "-H", "content-type: application/json"])
        .args(["--data-binary", if method == "GET" || method == "DELETE" { "" } else { "{}" }, url])
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

/// The test venv's Python (tests/run makes it), if it has `openapi_spec_validator`.
fn validator_python() -> Option<String> {
    let candidates = [
        std::env::var("ORIGO_PYTHON").ok(),
        std::env::var("HOME").ok().map(|h| format!("{h}/.cache/origo/venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|py| {
        Command::new(py).args(["-c", "import openapi_spec_validator"]).output().is_ok_and(|o| o.status.success())
    })
}

#[test]
fn the_openapi_document_describes_every_route_and_is_valid() {
    let node = start();
    let (status, body) = request("GET", &format!("{}/openapi.json", node.base));
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/v1/sessions", "post"),
        ("/v1/sessions/{id}", "patch"),
        ("/v1/sessions/{id}", "delete"),
        ("/v1/sessions/{id}/tracks", "get"),
        ("/v1/rooms/{org}/{room}/participants/{identity}/close", "post"),
        ("/v1/rooms/{org}/{room}/participants/{identity}/mute", "put"),
        ("/v1/rooms/{org}/{room}/links", "post"),
        ("/v1/rooms/{org}/{room}/links", "get"),
        ("/v1/rooms/{org}/{room}/relays", "post"),
        ("/health", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ];
    for (path, method) in expected {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is documented: {body}");
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, expected.len(), "nothing else is documented: {body}");

    // Bearer auth on the session routes, none on the node's own.
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer", "{body}");
    assert_eq!(paths["/v1/sessions"]["post"]["security"], serde_json::json!([{"bearer": []}]));
    assert_eq!(paths["/health"]["get"]["security"], serde_json::json!([]));
    // The node secret on the room coordinators' calls.
    assert_eq!(doc["components"]["securitySchemes"]["node_secret"]["scheme"], "bearer", "{body}");
    let close = &paths["/v1/rooms/{org}/{room}/participants/{identity}/close"]["post"];
    assert_eq!(close["security"], serde_json::json!([{"node_secret": []}]), "{body}");
    // The JSON error body.
    let unauthorized = &paths["/v1/sessions/{id}"]["patch"]["responses"]["401"]["content"]["application/json"];
    assert_eq!(unauthorized["schema"]["$ref"], "#/components/schemas/ErrorBody", "{body}");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert!(error["properties"]["error"].is_object(), "{body}");

    // An independent validator agrees it is OpenAPI 3.1.
    match validator_python() {
        Some(py) => {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("openapi.json");
            std::fs::write(&file, &body).unwrap();
            let out = Command::new(py)
                .args([
                    "-c",
                    "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))",
                ])
                .arg(&file)
                .output()
                .unwrap();
            assert!(out.status.success(), "invalid OpenAPI document: {}", String::from_utf8_lossy(&out.stderr));
        }
        None => eprintln!("openapi-spec-validator not installed (tests/run installs it): not validated"),
    }

    // Every documented operation is routed: without a token the session and moderation routes
    // say 401 with the JSON error body, the node's own routes answer.
    for (path, method) in expected {
        let path_here =
            path.replace("{id}", "1").replace("{org}", "o").replace("{room}", "r").replace("{identity}", "i");
        let url = format!("{}{}", node.base, path_here);
        let (status, answer) = request(&method.to_uppercase(), &url);
        if path.starts_with("/v1/") {
            assert_eq!(status, 401, "{method} {path}: {answer}");
            let e: Value = serde_json::from_str(&answer).unwrap();
            assert_eq!(e["error"]["code"], "unauthorized", "{answer}");
        } else {
            assert_eq!(status, 200, "{method} {path}: {answer}");
        }
    }
}

/// A self-signed certificate for `names` in `dir`: (certificate, key) paths.
fn certificate(dir: &std::path::Path, names: &[&str]) -> (String, String) {
    let c = rcgen::generate_simple_self_signed(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    (cert.to_str().unwrap().to_owned(), key.to_str().unwrap().to_owned())
}

#[test]
fn with_a_certificate_the_control_api_speaks_only_https_under_the_certificates_name() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), &["*.media.test", "fra-1.media.test", "127.0.0.1"]);
    let node = start_with(&["--tls-cert", &cert, "--tls-key", &key]);
    // Advertised under the certificate's first (non-wildcard) DNS name, with the bound port.
    let port =
        node.base.strip_prefix("https://fra-1.media.test:").unwrap_or_else(|| panic!("advertised {}", node.base));
    // curl, an independent TLS client, trusting only that certificate and resolving the name
    // to loopback.
    let curl = |url: &str, extra: &[&str]| {
        let out = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{http_version}",
                "--max-time",
                "10",
                "--cacert",
                &cert,
            ])
            .args(["--resolve", &format!("fra-1.media.test:{port}:127.0.0.1")])
            .args(extra)
            .arg(url)
            .output()
            .unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = curl(&format!("{}/health", node.base), &["--http2"]);
    assert_eq!(ok, "200 2", "{err}");
    let (ok, err) = curl(
        &format!("{}/v1/sessions", node.base),
        &["-X", "POST", "-H", "content-type: application/json", "--data", "{}"],
    );
    assert!(ok.starts_with("401 "), "{ok} {err}");
    // Plain HTTP on the same port gets no answer.
    let (plain, _) = curl(&format!("http://127.0.0.1:{port}/health"), &[]);
    assert!(!plain.starts_with("200"), "{plain}");
}

#[test]
fn a_certificate_without_a_dns_name_needs_an_advertised_url() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), &["127.0.0.1"]);
    let state = tempfile::tempdir().unwrap();
    let out = node_command(&state, &["--tls-cert", &cert, "--tls-key", &key]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--advertise-url"), "{err}");
    let out = node_command(&state, &["--tls-cert", &cert]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}
