//! A server on a `TlsListener`: answers over HTTPS while clients that never finish their
//! handshake hold their connections open, closes those at the deadline, and gives handlers
//! the peer's address.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use origo_tls_listener::{CertificateFiles, TlsListener};
use tokio::io::AsyncReadExt as _;

struct Served {
    addr: SocketAddr,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn serve(deadline: Duration, at_once: usize) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let c = rcgen::generate_simple_self_signed(vec!["node.origo.test".to_owned()]).unwrap();
    let files = CertificateFiles { cert: dir.path().join("cert.pem"), key: dir.path().join("key.pem") };
    std::fs::write(&files.cert, c.cert.pem()).unwrap();
    std::fs::write(&files.key, c.signing_key.serialize_pem()).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener = TlsListener::with_limits(tcp, files.acceptor().unwrap(), deadline, at_once).unwrap();
    let addr = axum::serve::Listener::local_addr(&listener).unwrap();
    let router = axum::Router::new()
        .route("/peer", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }));
    // `tap_io` gives the listener axum's `ConnectInfo<SocketAddr>`.
    let listener = listener.tap_io(|_| {});
    tokio::spawn(
        async move { axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await },
    );
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(c.cert.pem().as_bytes()).unwrap())
        .resolve("node.origo.test", addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Served { addr, client, _dir: dir }
}

#[tokio::test]
async fn clients_stuck_in_their_handshake_delay_nobody_and_are_closed_at_the_deadline() {
    // Handshakes one after another would keep the real client waiting 3 × 3 s.
    let s = serve(Duration::from_secs(3), 8).await;
    // Three connections that send nothing, then a real client.
    let mut stuck = Vec::new();
    for _ in 0..3 {
        stuck.push(tokio::net::TcpStream::connect(s.addr).await.unwrap());
    }
    let url = format!("https://node.origo.test:{}/peer", s.addr.port());
    let answer = s
        .client
        .get(&url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .expect("served while others hang in their handshake");
    assert_eq!(answer.status(), 200);
    let peer: SocketAddr = answer.text().await.unwrap().parse().unwrap();
    assert!(peer.ip().is_loopback(), "{peer}");
    // The stuck ones are closed once their deadline passes.
    for mut c in stuck {
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await.expect("closed by the deadline");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    }
}

#[tokio::test]
async fn plain_http_and_wrong_names_get_no_answer() {
    let s = serve(Duration::from_secs(5), 8).await;
    let plain =
        reqwest::Client::new().get(format!("http://{}/peer", s.addr)).timeout(Duration::from_secs(5)).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    // A name the certificate does not hold fails verification.
    let wrong = s.client.get(format!("https://{}/peer", s.addr)).send().await;
    assert!(wrong.is_err(), "{wrong:?}");
}

#[tokio::test]
async fn when_every_slot_is_taken_new_connections_wait_for_one() {
    let s = serve(Duration::from_millis(800), 1).await;
    let _stuck = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = format!("https://node.origo.test:{}/peer", s.addr.port());
    let started = std::time::Instant::now();
    assert_eq!(s.client.get(&url).send().await.unwrap().status(), 200);
    // The only slot was the stuck client's until its deadline.
    assert!(started.elapsed() >= Duration::from_millis(500), "{:?}", started.elapsed());
}
