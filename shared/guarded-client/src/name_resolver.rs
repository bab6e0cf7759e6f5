//! How the [`GuardedClient`](crate::GuardedClient) turns names into addresses: the system's
//! resolver, or a fixed table (a deployment pinning names, tests mapping names to the
//! addresses they want judged).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;

/// What a resolution yields.
pub type ResolveFuture = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Resolves a host name (never an address literal: those are judged as written) to its
/// addresses. Every address it returns is checked before the client connects to any.
pub trait NameResolver: Send + Sync + 'static {
    /// The addresses of `name` (lower case; a trailing dot may be present).
    fn resolve(&self, name: &str) -> ResolveFuture;
}

/// The operating system's resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl NameResolver for SystemResolver {
    fn resolve(&self, name: &str) -> ResolveFuture {
        let name = name.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((name.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// A fixed table of names and their addresses; a name not in it does not resolve.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    names: HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `name` (any case, with or without a trailing dot) to `addrs`.
    pub fn with(mut self, name: &str, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        self.names.insert(normalize(name), addrs.into_iter().collect());
        self
    }
}

impl NameResolver for StaticResolver {
    fn resolve(&self, name: &str) -> ResolveFuture {
        let found = self.names.get(&normalize(name)).cloned();
        Box::pin(async move { found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host")) })
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}
