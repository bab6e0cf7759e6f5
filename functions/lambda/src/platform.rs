//! `LambdaPlatform`: [`Platform`] for one request on Lambda — Redis for key-value, `reqwest`
//! for outbound HTTP within the routed component's allowed hosts, its variables, the system
//! clock and random source, and the coordinator stub as a call to the `origo` coordinators.

use std::sync::Arc;

use bytes::Bytes;
use origo_functions::coordinator::{RoomCommand, RoomCommandOutcome};
use origo_functions::webhook_delivery::{DispatchCommand, DispatchOutcome};
use origo_functions::{Platform, PlatformError};
use origo_shared::RoomKey;

use crate::coordinator_endpoint::CoordinatorEndpoint;
use crate::deployment::ComponentConfig;
use crate::outbound::Outbound;
use crate::redis_store::RedisStore;

/// What every request of one Lambda instance shares: the store, the HTTP client and the
/// coordinators' endpoint.
pub struct Services {
    pub store: RedisStore,
    pub outbound: Outbound,
    pub coordinator: CoordinatorEndpoint,
}

/// The platform of one request, for the component its route names.
#[derive(Clone)]
pub struct LambdaPlatform {
    services: Arc<Services>,
    component: Arc<ComponentConfig>,
}

impl LambdaPlatform {
    pub fn new(services: Arc<Services>, component: Arc<ComponentConfig>) -> Self {
        LambdaPlatform { services, component }
    }
}

impl Platform for LambdaPlatform {
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        self.services.store.get(key).await
    }

    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError> {
        self.services.store.set(key, value).await
    }

    async fn kv_delete(&self, key: &str) -> Result<(), PlatformError> {
        self.services.store.delete(key).await
    }

    async fn kv_keys(&self, prefix: &str) -> Result<Vec<String>, PlatformError> {
        self.services.store.keys(prefix).await
    }

    async fn counter_add(&self, key: &str, delta: u64, ttl_ms: u64) -> Result<u64, PlatformError> {
        self.services.store.counter_add(key, delta, ttl_ms).await
    }

    async fn http_send(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, PlatformError> {
        self.services.outbound.send(&self.component.allowed_hosts, req).await
    }

    fn variable(&self, name: &str) -> Option<String> {
        self.component.variables.get(name).cloned()
    }

    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }

    fn random(&self, buf: &mut [u8]) {
        // The operating system's generator; without it no token or secret can be made safely.
        if let Err(e) = getrandom03::fill(buf) {
            panic!("the system random source failed: {e}");
        }
    }

    async fn coordinator_send(
        &self,
        room: &RoomKey,
        command: &RoomCommand,
    ) -> Result<RoomCommandOutcome, PlatformError> {
        let req = self.services.coordinator.request(room, command)?;
        let res = self.services.outbound.fetch(req).await.map_err(|e| PlatformError::Coordinator(e.to_string()))?;
        CoordinatorEndpoint::outcome(&res)
    }

    async fn dispatcher_send(&self, org: &str, command: &DispatchCommand) -> Result<DispatchOutcome, PlatformError> {
        let req = self.services.coordinator.dispatcher_request(org, command)?;
        let res = self.services.outbound.fetch(req).await.map_err(|e| PlatformError::Coordinator(e.to_string()))?;
        origo_functions::platform::dispatcher_answer(res.status().as_u16(), res.body())
    }
}
