//! What the Lambda host's tests run against: a real `redis-server`, the real `origo` binary
//! as the room coordinators, and Lambda events built from the fixtures in `tests/events/`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use origo_functions_lambda::coordinator_endpoint::CoordinatorEndpoint;
use origo_functions_lambda::outbound::Outbound;
use origo_functions_lambda::redis_store::RedisStore;
use origo_functions_lambda::{Deployment, LambdaPlatform, Services, dispatch};
use serde_json::{Value, json};

pub const SIGNING_KEYS: &str = "k1:0707070707070707070707070707070707070707070707070707070707070707";
pub const TURN_SECRET: &str = "turn-secret-for-lambda-tests";
pub const NODE_SECRET: &str = "node-secret-for-lambda-tests";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn repo_root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../..")
}

/// A `redis-server` of our own on a free loopback port, stopped on drop.
pub struct Redis {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// Keeping nothing on disk.
    pub fn start() -> Redis {
        Redis::start_with(&["--save", "", "--appendonly", "no"], false)
    }

    /// With `args` added; `tls`: on a TLS port only (`rediss://`), `args` naming the certificates.
    pub fn start_with(args: &[&str], tls: bool) -> Redis {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port().to_string();
        let ports: Vec<&str> = if tls { vec!["--port", "0", "--tls-port", &port] } else { vec!["--port", &port] };
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1"])
            .args(ports)
            .args(args)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (tests/run installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let scheme = if tls { "rediss" } else { "redis" };
        Redis { child, url: format!("{scheme}://127.0.0.1:{port}/0"), _dir: dir }
    }
}

/// A throwaway CA and a server certificate it signed for 127.0.0.1 and localhost, as PEM files
/// in `dir`: (CA certificate, server certificate, server key).
pub fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use base64::Engine as _;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let pem = |label: &str, der: &[u8]| {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Origo test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    server.distinguished_name.push(DnType::CommonName, "localhost");
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();
    let paths = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server-key.pem"));
    std::fs::write(&paths.0, pem("CERTIFICATE", ca_cert.der())).unwrap();
    std::fs::write(&paths.1, pem("CERTIFICATE", server_cert.der())).unwrap();
    std::fs::write(&paths.2, pem("PRIVATE KEY", &server_key.serialize_der())).unwrap();
    paths
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `origo edge --redis URL` with the same secrets as the Lambda deployment, stopped on drop.
pub struct Coordinators {
    child: Child,
    pub base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The `origo` binary: `ORIGO_BIN`, else the one `cargo build -p origo-edge` puts beside the
/// test binaries.
fn origo_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ORIGO_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("origo");
    assert!(bin.exists(), "{} is missing: run `cargo build -p origo-edge` before these tests", bin.display());
    bin
}

impl Coordinators {
    pub fn start(redis: &Redis) -> Coordinators {
        for f in ["auth", "room", "chat", "notify", "billing"] {
            let wasm = repo_root().join(format!("functions/wasm/origo_fn_{f}.wasm"));
            assert!(wasm.exists(), "{} is missing: run `functions/build` first", wasm.display());
        }
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("origo.log");
        let manifest = repo_root().join("spin.toml");
        let mut child = Command::new(origo_bin())
            .args(["edge", "--listen", "127.0.0.1:0", "--redis", &redis.url])
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--manifest")
            .arg(&manifest)
            .env("ORIGO_VAR_TOKEN_SIGNING_KEYS", SIGNING_KEYS)
            .env("ORIGO_VAR_TURN_SECRET", TURN_SECRET)
            .env("ORIGO_VAR_NODE_SECRET", NODE_SECRET)
            .env("ORIGO_VAR_PUBLIC_URL", "http://127.0.0.1")
            .env("ORIGO_CACHE_DIR", std::env::temp_dir().join("origo-test-component-cache"))
            .env_remove("ORIGO_LISTEN")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn origo");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(l) if !l.is_empty() => l,
            _ => panic!("origo did not start:\n{}", std::fs::read_to_string(&log).unwrap_or_default()),
        };
        let base = line.trim().strip_prefix("origo listening on ").expect("the listening line").to_owned();
        Coordinators { child, base, log, _dir: dir }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Coordinators {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment of a Lambda deployment on `redis_url` with coordinators at `internal`.
pub fn lambda_env(redis_url: &str, internal: &str, public_ws: &str) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs: Vec<(String, String)> = [
        ("ORIGO_VAR_TOKEN_SIGNING_KEYS", SIGNING_KEYS),
        ("ORIGO_VAR_TURN_SECRET", TURN_SECRET),
        ("ORIGO_VAR_NODE_SECRET", NODE_SECRET),
        ("ORIGO_VAR_COORDINATOR_URL", public_ws),
        ("ORIGO_VAR_COORDINATOR_INTERNAL_URL", internal),
        ("ORIGO_REDIS_URL", redis_url),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// The Lambda function as its runtime would run it: configuration, services, `serve`.
pub struct Lambda {
    pub deployment: Deployment,
    pub services: Arc<Services>,
}

impl Lambda {
    pub async fn start(env: impl Fn(&str) -> Option<String>) -> Lambda {
        let deployment = Deployment::from_env(env).expect("a complete configuration");
        let store =
            RedisStore::connect(&deployment.redis_url, deployment.redis_ca_file.as_deref()).await.expect("redis");
        let coordinator: CoordinatorEndpoint = deployment.coordinator.clone();
        let services = Arc::new(Services {
            store,
            outbound: Outbound::new(deployment.trusted_hosts.clone()).unwrap(),
            coordinator,
        });
        Lambda { deployment, services }
    }

    /// Invokes the function with `event` (JSON as Lambda delivers it); returns status and body.
    pub async fn invoke(&self, event: &Value) -> (u16, http::HeaderMap, Value) {
        let req = lambda_http::request::from_str(&event.to_string()).expect("lambda_http decodes the event");
        let services = self.services.clone();
        let res = dispatch::serve(&self.deployment, req, |c| LambdaPlatform::new(services, c.clone())).await;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = match res.into_body() {
            lambda_http::Body::Text(t) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
            lambda_http::Body::Binary(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        (status, headers, body)
    }
}

/// Which kind of event carries a request.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// API Gateway HTTP API, payload format 2.0.
    ApiGatewayV2,
    /// An Application Load Balancer target group.
    Alb,
}

/// An event of `source` for `method path_and_query` with `headers` and a JSON `body`.
pub fn event(
    source: Source,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let pairs: serde_json::Map<String, Value> = query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_owned(), json!(v))
        })
        .collect();
    let mut e: Value = match source {
        Source::ApiGatewayV2 => serde_json::from_str(include_str!("../events/apigw_v2.json")).unwrap(),
        Source::Alb => serde_json::from_str(include_str!("../events/alb.json")).unwrap(),
    };
    match source {
        Source::ApiGatewayV2 => {
            e["rawPath"] = json!(path);
            e["rawQueryString"] = json!(query);
            e["requestContext"]["http"]["method"] = json!(method);
            e["requestContext"]["http"]["path"] = json!(path);
            if !pairs.is_empty() {
                e["queryStringParameters"] = Value::Object(pairs);
            }
        }
        Source::Alb => {
            e["httpMethod"] = json!(method);
            e["path"] = json!(path);
            e["queryStringParameters"] = Value::Object(pairs);
        }
    }
    for (k, v) in headers {
        e["headers"][k.to_ascii_lowercase()] = json!(v);
    }
    if let Some(b) = body {
        e["body"] = json!(b);
        e["headers"]["content-type"] = json!("application/json");
        e["headers"]["content-length"] = json!(b.len().to_string());
    }
    e
}
