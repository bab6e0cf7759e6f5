//! `origo dev`'s mailbox: with no email provider configured, the functions' emails (sign-up,
//! password reset, invitations) are delivered in-process to this mailbox instead, so every
//! account flow works on one machine. The last [`KEPT`] messages are listed at `GET /dev/mail`
//! (newest first) to callers on this machine only — the messages carry sign-in links. Nothing
//! is written to disk or to the log.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Json, Response};
use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use crate::http_error::HttpError;
use crate::outbound::InProcessCall;

/// Where the functions deliver (through `http://origo.internal`).
pub const DELIVER_PATH: &str = "/internal/dev/mail";
/// Where a developer reads them.
pub const LIST_PATH: &str = "/dev/mail";
/// The `email_api_url` that reaches the mailbox.
pub const EMAIL_API_URL: &str = "http://origo.internal/internal/dev/mail";
/// Messages kept.
pub const KEPT: usize = 100;
/// Largest message accepted.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// One delivered message, as the email provider interface sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mail {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    /// Extra message headers (`List-Unsubscribe`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    /// Attached files (a meeting invitation's `.ics`), content in base64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<MailAttachment>,
}

/// A file attached to a message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailAttachment {
    pub filename: String,
    pub content_type: String,
    pub content: String,
}

/// The messages delivered so far, newest last.
#[derive(Default)]
pub struct DevMailbox(Mutex<VecDeque<Mail>>);

impl DevMailbox {
    pub fn new() -> Arc<Self> {
        Arc::new(DevMailbox::default())
    }

    fn push(&self, mail: Mail) {
        if let Ok(mut kept) = self.0.lock() {
            kept.push_back(mail);
            while kept.len() > KEPT {
                kept.pop_front();
            }
        }
    }
}

/// `POST /internal/dev/mail`: only from this process's functions.
pub async fn deliver(State(mailbox): State<Arc<DevMailbox>>, req: Request) -> Response {
    if req.extensions().get::<InProcessCall>().is_none() {
        return HttpError::from(ApiError::not_found("no such route")).into_response();
    }
    let Ok(body) = axum::body::to_bytes(req.into_body(), MAX_MESSAGE_BYTES).await else {
        return HttpError::from(ApiError::payload_too_large("a message is at most 64 KiB")).into_response();
    };
    match serde_json::from_slice::<Mail>(&body) {
        Ok(mail) => {
            tracing::info!("development: an email was delivered to the mailbox at {LIST_PATH}");
            mailbox.push(mail);
            axum::http::StatusCode::ACCEPTED.into_response()
        }
        Err(e) => HttpError::from(ApiError::bad_request(format!("not a message: {e}"))).into_response(),
    }
}

/// `GET /dev/mail`: the messages, newest first, to a caller on this machine.
pub async fn list(State(mailbox): State<Arc<DevMailbox>>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    if !peer.ip().is_loopback() {
        return HttpError::from(ApiError::not_found("no such route")).into_response();
    }
    let kept: Vec<Mail> = mailbox.0.lock().map(|k| k.iter().rev().cloned().collect()).unwrap_or_default();
    Json(serde_json::json!({ "messages": kept })).into_response()
}
