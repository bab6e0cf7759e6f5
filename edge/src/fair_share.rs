//! Fair use of the function instance pool. Every request takes three places before it gets an
//! instance: one in the whole pool (`--max-instances`), one in its component's share
//! (`--max-instances-per-component`, half the pool by default), and one of its client's
//! (`--max-in-flight-per-client`; the client as [`resolve`] finds it behind `trusted_proxies`).
//! A request waits at most `--queue-timeout-ms` for them, then gets a 503 with `Retry-After`:
//! one component whose instances wait on slow outbound calls, or one client sending many slow
//! requests, cannot hold every instance, so login and join keep being served.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use origo_functions::client_address::{listed, resolve};
use origo_shared::{ApiError, ErrorCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most clients tracked at once (each with requests in flight); beyond, new clients wait their
/// turn in the shared pool only.
const MAX_CLIENTS: usize = 100_000;

/// Why a request was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Pool,
    Component,
    Client,
}

impl Refusal {
    pub fn as_str(&self) -> &'static str {
        match self {
            Refusal::Pool => "pool",
            Refusal::Component => "component",
            Refusal::Client => "client",
        }
    }
}

/// The three shares, and how long a request may wait for them.
pub struct FairShare {
    pool: Arc<Semaphore>,
    components: HashMap<String, Arc<Semaphore>>,
    per_component: usize,
    clients: Clients,
    per_client: u32,
    queue_timeout: Duration,
    trusted_proxies: String,
}

/// The places one request holds, given back when it is dropped.
pub struct Ticket {
    _pool: OwnedSemaphorePermit,
    _component: OwnedSemaphorePermit,
    _client: ClientPlace,
}

type Clients = Arc<Mutex<HashMap<IpAddr, u32>>>;

/// A client's place: given back when dropped.
struct ClientPlace(Option<(Clients, IpAddr)>);

impl Drop for ClientPlace {
    fn drop(&mut self) {
        if let Some((clients, ip)) = self.0.take()
            && let Ok(mut map) = clients.lock()
            && let Some(n) = map.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                map.remove(&ip);
            }
        }
    }
}

impl FairShare {
    /// Shares of a pool of `pool` instances among `components`.
    pub fn new(
        pool: usize,
        components: impl IntoIterator<Item = String>,
        per_component: usize,
        per_client: u32,
        queue_timeout: Duration,
        trusted_proxies: String,
    ) -> Self {
        let pool = pool.max(1);
        let per_component = if per_component == 0 { pool.div_ceil(2) } else { per_component.min(pool) };
        let components = components.into_iter().map(|c| (c, Arc::new(Semaphore::new(per_component)))).collect();
        FairShare {
            pool: Arc::new(Semaphore::new(pool)),
            components,
            per_component,
            clients: Arc::new(Mutex::new(HashMap::new())),
            per_client: per_client.max(1),
            queue_timeout,
            trusted_proxies,
        }
    }

    /// The client a request counts for: the peer the server saw (`spin-client-addr`), or the one
    /// the deployment's trusted proxies name.
    pub fn client_of(&self, headers: &http::HeaderMap) -> Option<IpAddr> {
        let raw = headers.get("spin-client-addr")?.to_str().ok()?;
        let peer = raw.parse::<std::net::SocketAddr>().map(|a| a.ip()).or_else(|_| raw.parse()).ok()?;
        Some(resolve(peer, headers, |ip| listed(&self.trusted_proxies, ip)))
    }

    /// Takes the places for a request to `component` from `client`, waiting at most the queue
    /// timeout.
    pub async fn admit(&self, component: &str, client: Option<IpAddr>) -> Result<Ticket, (Refusal, ApiError)> {
        let busy = |r: Refusal, what: &str| {
            (r, ApiError::new(ErrorCode::Unavailable, format!("{what}; retry shortly")).with_retry_after(1))
        };
        let client = match client {
            Some(ip) => {
                let mut map = self.clients.lock().map_err(|_| busy(Refusal::Pool, "the function host is failing"))?;
                let n = map.get(&ip).copied().unwrap_or(0);
                if n >= self.per_client {
                    return Err(busy(Refusal::Client, "too many of your requests are being served at once"));
                }
                if n == 0 && map.len() >= MAX_CLIENTS {
                    None
                } else {
                    map.insert(ip, n + 1);
                    Some((self.clients.clone(), ip))
                }
            }
            None => None,
        };
        // Given back if anything below fails.
        let client = ClientPlace(client);
        let share =
            self.components.get(component).cloned().unwrap_or_else(|| Arc::new(Semaphore::new(self.per_component)));
        let deadline = tokio::time::Instant::now() + self.queue_timeout;
        let component_permit = tokio::time::timeout_at(deadline, share.acquire_owned())
            .await
            .map_err(|_| busy(Refusal::Component, "this function's instances are all busy"))?
            .map_err(|_| busy(Refusal::Pool, "the function host is shutting down"))?;
        let pool_permit = tokio::time::timeout_at(deadline, self.pool.clone().acquire_owned())
            .await
            .map_err(|_| busy(Refusal::Pool, "all function instances are busy"))?
            .map_err(|_| busy(Refusal::Pool, "the function host is shutting down"))?;
        Ok(Ticket { _pool: pool_permit, _component: component_permit, _client: client })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(pool: usize, per_component: usize, per_client: u32) -> FairShare {
        FairShare::new(
            pool,
            ["auth".to_owned(), "notify".to_owned()],
            per_component,
            per_client,
            Duration::from_millis(50),
            "10.0.0.0/8".into(),
        )
    }

    #[tokio::test]
    async fn one_component_cannot_take_the_whole_pool() {
        let s = share(4, 2, 100);
        let _a = s.admit("notify", None).await.unwrap();
        let _b = s.admit("notify", None).await.unwrap();
        let (why, e) = s.admit("notify", None).await.err().unwrap();
        assert_eq!((why, e.retry_after_secs), (Refusal::Component, Some(1)));
        assert!(s.admit("auth", None).await.is_ok(), "another component is still served");
    }

    #[tokio::test]
    async fn one_client_cannot_take_every_place_and_places_come_back() {
        let s = share(8, 8, 2);
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        let a = s.admit("auth", Some(ip)).await.unwrap();
        let _b = s.admit("auth", Some(ip)).await.unwrap();
        assert_eq!(s.admit("auth", Some(ip)).await.err().unwrap().0, Refusal::Client);
        assert!(s.admit("auth", Some("198.51.100.1".parse().unwrap())).await.is_ok());
        drop(a);
        assert!(s.admit("auth", Some(ip)).await.is_ok(), "a finished request gives its place back");
    }

    #[tokio::test]
    async fn a_full_pool_refuses_after_the_queue_timeout_and_keeps_no_client_place() {
        let s = share(1, 1, 5);
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        let _a = s.admit("auth", Some(ip)).await.unwrap();
        assert_eq!(s.admit("auth", Some(ip)).await.err().unwrap().0, Refusal::Component);
        assert_eq!(s.clients.lock().unwrap()[&ip], 1, "the refused request gave its client place back");
    }

    #[test]
    fn clients_behind_a_trusted_proxy_count_apart() {
        let s = share(4, 0, 4);
        let mut h = http::HeaderMap::new();
        h.insert("spin-client-addr", "10.1.2.3:80".parse().unwrap());
        h.insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
        assert_eq!(s.client_of(&h), Some("203.0.113.9".parse().unwrap()));
        h.insert("spin-client-addr", "198.51.100.7:80".parse().unwrap());
        assert_eq!(s.client_of(&h), Some("198.51.100.7".parse().unwrap()), "not a proxy: its header is ignored");
    }
}
