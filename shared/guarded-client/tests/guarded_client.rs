//! The guarded client against real loopback listeners. Every address any test resolves to or
//! names is a loopback address, so no test can send a packet elsewhere, whatever the client
//! does; refusals of other ranges are covered by `origo_shared::outbound_destination`'s tests.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use bytes::Bytes;
use origo_guarded_client::{DestinationError, GuardedClient, Refusal, StaticResolver, TrustedHosts};
use origo_shared::destination_policy::DenyReason;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A listener that accepts nothing: after a refused request, it must have no connection
/// waiting (a refused request returns before any connect is attempted).
struct Silent(TcpListener);

impl Silent {
    fn new() -> Self {
        let l = TcpListener::bind((LOOPBACK, 0)).unwrap();
        l.set_nonblocking(true).unwrap();
        Silent(l)
    }

    fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }

    #[track_caller]
    fn assert_untouched(&self) {
        match self.0.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("the listener was connected to, from {peer}"),
            Err(e) => panic!("accept failed: {e}"),
        }
    }
}

/// A real HTTP receiver on loopback: `/hook` answers 200, `/redirect` a 302 to `location`,
/// `/big` a 4 KiB body.
async fn receiver(location: String) -> u16 {
    let app = Router::new()
        .route("/hook", get(|| async { "delivered" }).post(|| async { "delivered" }))
        .route("/redirect", get(move || async move { (StatusCode::FOUND, [(header::LOCATION, location)], "moved") }))
        .route("/big", get(|| async { vec![b'x'; 4096] }));
    let listener = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

fn client(trusted: &str, resolver: StaticResolver) -> GuardedClient {
    GuardedClient::new(TrustedHosts::parse(trusted).unwrap(), Arc::new(resolver)).unwrap()
}

fn get_req(url: &str) -> http::Request<Bytes> {
    http::Request::get(url).body(Bytes::new()).unwrap()
}

fn hooks_on_loopback() -> StaticResolver {
    StaticResolver::new().with("hooks.example", [LOOPBACK])
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_before_any_connection() {
    let silent = Silent::new();
    let c = client("", hooks_on_loopback());
    let err = c.send(get_req(&format!("https://hooks.example:{}/hook?token=abc", silent.port()))).await.unwrap_err();
    assert_eq!(err, DestinationError::Refused(Refusal::Address(DenyReason::Loopback)));
    silent.assert_untouched();

    // Every address is checked: one loopback address among them refuses the name.
    let resolver = StaticResolver::new().with("hooks.example", [LOOPBACK, "::ffff:127.0.0.1".parse().unwrap()]);
    let err = client("", resolver).send(get_req(&format!("https://hooks.example:{}/", silent.port()))).await;
    assert!(err.unwrap_err().is_refused());
    silent.assert_untouched();
}

#[tokio::test]
async fn loopback_written_as_an_address_is_refused_in_every_spelling() {
    let silent = Silent::new();
    let c = client("", StaticResolver::new());
    let port = silent.port();
    for url in [
        format!("https://127.0.0.1:{port}/"),
        format!("https://2130706433:{port}/"),
        format!("https://0x7f.1:{port}/"),
        format!("https://[::ffff:127.0.0.1]:{port}/"),
        format!("https://localhost:{port}/"),
    ] {
        let err = c.send(get_req(&url)).await.unwrap_err();
        assert!(err.is_refused(), "{url}: {err}");
    }
    silent.assert_untouched();
}

#[tokio::test]
async fn plain_http_to_an_untrusted_host_is_refused() {
    let silent = Silent::new();
    let c = client("other.example", hooks_on_loopback());
    let err = c.send(get_req(&format!("http://hooks.example:{}/hook", silent.port()))).await.unwrap_err();
    assert_eq!(err, DestinationError::Refused(Refusal::PlainHttp));
    silent.assert_untouched();
}

#[tokio::test]
async fn a_trusted_host_is_reached_over_http_at_its_resolved_address() {
    let port = receiver(String::new()).await;
    let c = client(&format!("hooks.example:{port}"), hooks_on_loopback());
    let res = c.send(http::Request::post(format!("http://hooks.example:{port}/hook")).body(Bytes::from("{}")).unwrap());
    let res = res.await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.body().as_ref(), b"delivered");

    // Trusting the host on one port does not trust it on another.
    let err = c.send(get_req(&format!("http://hooks.example:{}/hook", port.wrapping_add(1)))).await.unwrap_err();
    assert_eq!(err, DestinationError::Refused(Refusal::PlainHttp));

    // A trusted address literal.
    let by_address = client("127.0.0.1", StaticResolver::new());
    let res = by_address.send(get_req(&format!("http://127.0.0.1:{port}/hook"))).await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_redirect_is_returned_not_followed() {
    let target = Silent::new();
    let port = receiver(format!("http://127.0.0.1:{}/elsewhere", target.port())).await;
    // Both the receiver and the redirect's target are trusted: still not followed.
    let c = client(&format!("hooks.example:{port},127.0.0.1"), hooks_on_loopback());
    let res = c.send(get_req(&format!("http://hooks.example:{port}/redirect"))).await.unwrap();
    assert_eq!(res.status(), 302);
    assert!(res.headers()[header::LOCATION].to_str().unwrap().ends_with("/elsewhere"));
    target.assert_untouched();
}

#[tokio::test]
async fn response_bodies_are_capped() {
    let port = receiver(String::new()).await;
    let c = client("127.0.0.1", StaticResolver::new()).with_max_response_bytes(1024);
    let err = c.send(get_req(&format!("http://127.0.0.1:{port}/big"))).await.unwrap_err();
    assert_eq!(err, DestinationError::ResponseTooLarge(1024));
    let ok = c.send(get_req(&format!("http://127.0.0.1:{port}/hook"))).await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn an_unknown_name_is_a_network_error_not_a_refusal() {
    let c = client("nowhere.example", StaticResolver::new());
    let err = c.send(get_req("http://nowhere.example:9/")).await.unwrap_err();
    assert!(matches!(err, DestinationError::Network(_)), "{err:?}");
}
