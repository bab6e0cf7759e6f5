//! A participant's side of the room WebSocket, for the tests: connect, send frames, read them.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the room socket at `url` (`ws://…/v1/rooms/{room}/ws`) with a participant token.
pub async fn connect(url: &str, token: &str) -> Ws {
    let sep = if url.contains('?') { '&' } else { '?' };
    tokio_tungstenite::connect_async(format!("{url}{sep}access_token={token}")).await.expect("websocket").0
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next JSON frame (skipping pongs), or `None` on close/timeout.
pub async fn next(ws: &mut Ws, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] != "pong" {
                    return Some(v);
                }
            }
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Err(_) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Frames until one matches `pred`.
pub async fn until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = next(ws, Duration::from_secs(10)).await.expect("a frame before the timeout");
        if pred(&v) {
            return v;
        }
    }
}

/// The close code the server ends with, reading past any frames.
pub async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => return Some(u16::from(f.code)),
            Ok(Some(Ok(Message::Close(None)))) | Ok(None) | Err(_) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Sends the `join` frame and waits for `joined`.
pub async fn join(ws: &mut Ws, last_seq: Option<u64>) -> Value {
    let mut frame = json!({"type": "join", "protocol": 1});
    if let Some(s) = last_seq {
        frame["last_seq"] = json!(s);
    }
    send(ws, frame).await;
    until(ws, |v| v["type"] == "joined").await
}
