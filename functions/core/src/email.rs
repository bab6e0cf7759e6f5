//! Outgoing email through the deployment's provider: one JSON `POST` per message.
//!
//! Variables: `email_api_url` (the provider's send endpoint, which must also be in the
//! component's `allowed_outbound_hosts`), `email_api_key` (sent as a bearer token),
//! `email_from`. Body: `{"from", "to", "subject", "text"}`, `"headers"` (an object of
//! extra message headers, such as `List-Unsubscribe`) when there are any, and
//! `"attachments"` (`[{"filename", "content_type", "content"}]`, the content in standard
//! base64) when there are any — a meeting invitation's `.ics`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header;
use origo_shared::{ApiError, ErrorCode};

use crate::platform::Platform;
use crate::variables::var;

/// True when the deployment can send email.
pub fn configured(p: &impl Platform) -> bool {
    var(p, "email_api_url").is_some()
}

/// Sends one message; a provider failure is a 502, a missing provider a 503.
pub async fn send(p: &impl Platform, to: &str, subject: &str, text: &str) -> Result<(), ApiError> {
    send_with_headers(p, to, subject, text, &[]).await
}

/// A file sent with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    /// Its media type (`text/calendar; method=REQUEST`).
    pub content_type: String,
    pub content: Vec<u8>,
}

/// Sends one message with extra message headers.
pub async fn send_with_headers(
    p: &impl Platform,
    to: &str,
    subject: &str,
    text: &str,
    headers: &[(&str, String)],
) -> Result<(), ApiError> {
    send_with_attachments(p, to, subject, text, headers, &[]).await
}

/// Sends one message with extra message headers and attachments.
pub async fn send_with_attachments(
    p: &impl Platform,
    to: &str,
    subject: &str,
    text: &str,
    headers: &[(&str, String)],
    attachments: &[Attachment],
) -> Result<(), ApiError> {
    let url = var(p, "email_api_url")
        .ok_or_else(|| ApiError::new(ErrorCode::Unavailable, "email delivery is not configured (email_api_url)"))?;
    let from = var(p, "email_from").unwrap_or_else(|| "Origo <no-reply@origo.invalid>".into());
    let mut message = serde_json::json!({ "from": from, "to": to, "subject": subject, "text": text });
    if !headers.is_empty() {
        let extra: serde_json::Map<String, serde_json::Value> =
            headers.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(v.as_str()))).collect();
        message["headers"] = serde_json::Value::Object(extra);
    }
    if !attachments.is_empty() {
        let files: Vec<serde_json::Value> = attachments
            .iter()
            .map(|a| {
                serde_json::json!({
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "content": BASE64.encode(&a.content),
                })
            })
            .collect();
        message["attachments"] = serde_json::Value::Array(files);
    }
    let body = serde_json::to_vec(&message).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut req = http::Request::post(&url).header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = var(p, "email_api_key") {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let req = req.body(Bytes::from(body)).map_err(|_| ApiError::internal("email_api_url is not a valid URL"))?;
    match p.http_send(req).await {
        Ok(res) if res.status().is_success() => Ok(()),
        Ok(res) => Err(ApiError::new(
            ErrorCode::BadGateway,
            format!("the email provider refused the message ({})", res.status().as_u16()),
        )),
        Err(e) => Err(ApiError::new(ErrorCode::BadGateway, format!("the email provider is unreachable: {e}"))),
    }
}
