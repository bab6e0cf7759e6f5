//! Outgoing email through the deployment's provider: one JSON `POST` per message.
//!
//! Variables: `email_api_url` (the provider's send endpoint, which must also be in the
//! component's `allowed_outbound_hosts`), `email_api_key` (sent as a bearer token),
//! `email_from`. Body: `{"from", "to", "subject", "text"}`, `"headers"` (an object of
//! extra message headers, such as `List-Unsubscribe`) when there are any, and
//! `"attachments"` (`[{"filename", "content_type", "content"}]`, the content in standard
//! base64) when there are any — a meeting invitation's `.ics`.

use bytes::Bytes;
use http::header;
use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use crate::platform::Platform;
use crate::provider_answer::{self, Answer};
use crate::variables::var;

/// True when the deployment can send email.
pub fn configured(p: &impl Platform) -> bool {
    var(p, "email_api_url").is_some()
}

/// Sends one message; a provider failure is a 502, a missing provider a 503.
pub async fn send(p: &impl Platform, to: &str, subject: &str, text: &str) -> Result<(), ApiError> {
    send_with_headers(p, to, subject, text, &[]).await
}

/// A file sent with a message (stored with its content in standard base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub filename: String,
    /// Its media type (`text/calendar; method=REQUEST`).
    pub content_type: String,
    #[serde(with = "base64_content")]
    pub content: Vec<u8>,
}

/// One message, as sent and as kept for another try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// Extra message headers (`List-Unsubscribe`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

impl Email {
    pub fn new(to: &str, subject: &str, text: &str) -> Self {
        Email {
            to: to.into(),
            subject: subject.into(),
            text: text.into(),
            headers: Vec::new(),
            attachments: Vec::new(),
        }
    }
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
    let email = Email {
        headers: headers.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        attachments: attachments.to_vec(),
        ..Email::new(to, subject, text)
    };
    attempt(p, &email).await.into_result()
}

/// One attempt at sending `email`, and what the provider's answer means.
pub async fn attempt(p: &impl Platform, email: &Email) -> Answer {
    let Some(url) = var(p, "email_api_url") else {
        return Answer::Unavailable { reason: "email delivery is not configured (email_api_url)".into() };
    };
    let req = match request(p, &url, email) {
        Ok(req) => req,
        Err(e) => return Answer::Unavailable { reason: e.message },
    };
    provider_answer::judge(p.http_send(req).await, "email provider", p.now_ms())
}

/// The provider's request for `email`.
fn request(p: &impl Platform, url: &str, email: &Email) -> Result<http::Request<Bytes>, ApiError> {
    let from = var(p, "email_from").unwrap_or_else(|| "Origo <no-reply@origo.invalid>".into());
    let mut message = serde_json::json!({ "from": from, "to": email.to, "subject": email.subject, "text": email.text });
    if !email.headers.is_empty() {
        let extra: serde_json::Map<String, serde_json::Value> =
            email.headers.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str()))).collect();
        message["headers"] = serde_json::Value::Object(extra);
    }
    if !email.attachments.is_empty() {
        message["attachments"] =
            serde_json::to_value(&email.attachments).map_err(|e| ApiError::internal(e.to_string()))?;
    }
    let body = serde_json::to_vec(&message).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut req = http::Request::post(url).header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = var(p, "email_api_key") {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    req.body(Bytes::from(body)).map_err(|_| ApiError::internal("email_api_url is not a valid URL"))
}

/// An attachment's content as standard base64, the way the provider takes it.
mod base64_content {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        BASE64.decode(text).map_err(serde::de::Error::custom)
    }
}
