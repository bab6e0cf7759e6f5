//! What a notification provider's answer means — the email provider, the SMS provider, a
//! browser's push service: taken, worth another try later (429, 5xx, no answer at all), or
//! refused for good (another status, a host this deployment may not call). The same judgement
//! serves a message sent while a person waits and one retried by the sweep
//! ([`notification_retry`](crate::notification_retry)).

use bytes::Bytes;
use origo_shared::{ApiError, ErrorCode};

use crate::platform::PlatformError;
use crate::retry_schedule::retry_after_ms;

/// One attempt's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The provider took the message.
    Accepted,
    /// Worth another try, no sooner than `retry_after_ms` from now when the provider said.
    Later { reason: String, retry_after_ms: Option<u64> },
    /// Refused for good: trying again would change nothing.
    Refused { reason: String },
    /// This deployment cannot send it (not configured, the host is not allowed).
    Unavailable { reason: String },
}

impl Answer {
    /// Why the message did not go out (empty when it did).
    pub fn reason(&self) -> &str {
        match self {
            Answer::Accepted => "",
            Answer::Later { reason, .. } | Answer::Refused { reason } | Answer::Unavailable { reason } => reason,
        }
    }

    /// The answer for a caller that waits for it: a refusal or a provider's failure is a 502,
    /// a deployment that cannot send a 503.
    pub fn into_result(self) -> Result<(), ApiError> {
        match self {
            Answer::Accepted => Ok(()),
            Answer::Later { reason, .. } | Answer::Refused { reason } => {
                Err(ApiError::new(ErrorCode::BadGateway, reason))
            }
            Answer::Unavailable { reason } => Err(ApiError::new(ErrorCode::Unavailable, reason)),
        }
    }
}

/// Judges the result of sending one message to `provider` ("email provider", "SMS
/// provider"), answered (or not) at `now_ms`.
pub fn judge(result: Result<http::Response<Bytes>, PlatformError>, provider: &str, now_ms: u64) -> Answer {
    match result {
        Ok(res) => {
            let status = res.status().as_u16();
            match status {
                200..=299 => Answer::Accepted,
                429 | 500..=599 => Answer::Later {
                    reason: format!("the {provider} refused the message ({status})"),
                    retry_after_ms: res
                        .headers()
                        .get(http::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry_after_ms(v, now_ms)),
                },
                _ => Answer::Refused { reason: format!("the {provider} refused the message ({status})") },
            }
        }
        Err(PlatformError::HostNotAllowed) => {
            Answer::Unavailable { reason: format!("this deployment does not allow requests to the {provider}'s host") }
        }
        Err(e) => Answer::Later { reason: format!("the {provider} is unreachable: {e}"), retry_after_ms: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, retry_after: Option<&str>) -> Result<http::Response<Bytes>, PlatformError> {
        let mut res = http::Response::builder().status(status);
        if let Some(v) = retry_after {
            res = res.header("retry-after", v);
        }
        Ok(res.body(Bytes::new()).unwrap())
    }

    #[test]
    fn taken_later_or_never() {
        assert_eq!(judge(answered(202, None), "email provider", 0), Answer::Accepted);
        assert_eq!(
            judge(answered(503, Some("30")), "email provider", 0),
            Answer::Later {
                reason: "the email provider refused the message (503)".into(),
                retry_after_ms: Some(30_000)
            }
        );
        assert!(matches!(judge(answered(429, None), "SMS provider", 0), Answer::Later { retry_after_ms: None, .. }));
        assert!(matches!(judge(answered(400, None), "SMS provider", 0), Answer::Refused { .. }));
        assert!(matches!(judge(answered(401, Some("5")), "SMS provider", 0), Answer::Refused { .. }));
        assert!(matches!(
            judge(Err(PlatformError::Http("connection refused".into())), "SMS provider", 0),
            Answer::Later { .. }
        ));
        let denied = judge(Err(PlatformError::HostNotAllowed), "SMS provider", 0);
        assert_eq!(denied.clone().into_result().unwrap_err().code, ErrorCode::Unavailable);
        assert_eq!(denied.reason(), "this deployment does not allow requests to the SMS provider's host");
    }
}
