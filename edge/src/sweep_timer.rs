//! The sweep's timer in `origo`: every `sweep_interval_secs` (default 60; `0` turns it off)
//! the host calls the functions' `POST /v1/maintenance/sweep` with the node secret — what a
//! Cloudflare cron trigger does for the Worker and an EventBridge schedule for the Lambda
//! function — so expired records go without anyone asking.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;

/// The route the sweep is served on.
pub const PATH: &str = "/v1/maintenance/sweep";

/// When and how to call the sweep.
pub struct SweepTimer {
    pub every: Duration,
    secret: String,
}

impl SweepTimer {
    /// The timer the variables ask for: none without a `node_secret` or with an interval of 0.
    pub fn from_variables(vars: &HashMap<String, String>) -> Option<Self> {
        let secs: u64 = vars.get("sweep_interval_secs").and_then(|v| v.trim().parse().ok()).unwrap_or(60);
        let secret = vars.get("node_secret")?.split(',').map(str::trim).find(|s| !s.is_empty())?.to_owned();
        (secs > 0).then(|| SweepTimer { every: Duration::from_secs(secs), secret })
    }

    /// One call of the sweep.
    pub fn request(&self) -> http::Request<Body> {
        let mut req = http::Request::new(Body::from(String::new()));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = http::Uri::from_static(PATH);
        if let Ok(v) = http::HeaderValue::from_str(&format!("Bearer {}", self.secret)) {
            req.headers_mut().insert(http::header::AUTHORIZATION, v);
        }
        req
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timer_follows_the_variables() {
        let vars = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(SweepTimer::from_variables(&vars(&[])).is_none(), "no node secret: nobody may call it");
        let t = SweepTimer::from_variables(&vars(&[("node_secret", " s1, s2")])).unwrap();
        assert_eq!(t.every, Duration::from_secs(60));
        assert_eq!(t.request().headers()["authorization"], "Bearer s1");
        assert!(SweepTimer::from_variables(&vars(&[("node_secret", "s"), ("sweep_interval_secs", "0")])).is_none());
    }
}
