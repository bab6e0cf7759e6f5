//! Outgoing text messages through the deployment's SMS provider, in the Twilio-compatible
//! form: `POST {sms_api_url}/2010-04-01/Accounts/{sms_account_sid}/Messages.json`, the form
//! fields `To`, `From` and `Body`, HTTP Basic authentication `sms_account_sid:sms_auth_token`.
//! The provider's host must also be in the component's `allowed_outbound_hosts`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::header;
use origo_shared::ApiError;

use crate::percent_encoding::encode;
use crate::platform::Platform;
use crate::provider_answer::{self, Answer};
use crate::variables::var;

/// Longest message body Origo sends, in characters (ten concatenated segments).
pub const MAX_BODY_CHARS: usize = 1600;

/// True when the deployment can send text messages.
pub fn configured(p: &impl Platform) -> bool {
    ["sms_api_url", "sms_account_sid", "sms_auth_token", "sms_from"].iter().all(|v| var(p, v).is_some())
}

/// The provider's request for one message to `to` (E.164).
pub fn request(
    api_url: &str,
    sid: &str,
    token: &str,
    from: &str,
    to: &str,
    body: &str,
) -> Result<http::Request<Bytes>, ApiError> {
    let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", api_url.trim_end_matches('/'), encode(sid));
    let form = format!("To={}&From={}&Body={}", encode(to), encode(from), encode(body));
    let credentials = B64.encode(format!("{sid}:{token}"));
    http::Request::post(&url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Basic {credentials}"))
        .body(Bytes::from(form))
        .map_err(|_| ApiError::internal("sms_api_url is not a valid URL"))
}

/// Sends `body` to `to`; a provider failure is a 502, a missing provider a 503.
pub async fn send(p: &impl Platform, to: &str, body: &str) -> Result<(), ApiError> {
    attempt(p, to, body).await.into_result()
}

/// One attempt at sending `body` to `to`, and what the provider's answer means.
pub async fn attempt(p: &impl Platform, to: &str, body: &str) -> Answer {
    if !configured(p) {
        return Answer::Unavailable {
            reason: "text messages are not configured (sms_api_url, sms_account_sid, sms_auth_token, sms_from)".into(),
        };
    }
    let get = |name| var(p, name).unwrap_or_default();
    let body: String = body.chars().take(MAX_BODY_CHARS).collect();
    let req = match request(
        &get("sms_api_url"),
        &get("sms_account_sid"),
        &get("sms_auth_token"),
        &get("sms_from"),
        to,
        &body,
    ) {
        Ok(req) => req,
        Err(e) => return Answer::Unavailable { reason: e.message },
    };
    provider_answer::judge(p.http_send(req).await, "SMS provider", p.now_ms())
}

/// True for E.164 numbers: `+`, a country code that does not start with 0, 8 to 15 digits.
pub fn valid_e164(number: &str) -> bool {
    number
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_providers_form() {
        let req = request("https://sms.test/", "AC1", "tok", "+15550000000", "+4915112345678", "code: 1 & 2").unwrap();
        assert_eq!(req.uri(), "https://sms.test/2010-04-01/Accounts/AC1/Messages.json");
        assert_eq!(req.headers()["authorization"], format!("Basic {}", B64.encode("AC1:tok")));
        assert_eq!(req.body(), "To=%2B4915112345678&From=%2B15550000000&Body=code%3A%201%20%26%202");
    }

    #[test]
    fn e164_numbers() {
        for ok in ["+4915112345678", "+14155550100", "+12345678"] {
            assert!(valid_e164(ok), "{ok}");
        }
        for bad in
            ["4915112345678", "+0123456789", "+1234567", "+1234567890123456", "+49 151 1234", "+49151a2345678", "+"]
        {
            assert!(!valid_e164(bad), "{bad}");
        }
    }
}
