//! Prometheus metrics of the edge (`GET /metrics`, OpenMetrics text format).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabel {
    pub component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub component: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TrapLabels {
    pub component: String,
    pub kind: String,
}

fn latency() -> Histogram {
    // 50 µs … ~3.3 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
}

type Latency = Family<ComponentLabel, Histogram, fn() -> Histogram>;

/// Every metric the edge exports.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Latency,
    pub instantiations: Family<ComponentLabel, Counter>,
    pub instantiate_seconds: Latency,
    pub traps: Family<TrapLabels, Counter>,
    pub in_flight: Gauge,
    pub turned_away: Family<ShareLabels, Counter>,
    /// Webhook delivery attempts, by outcome (`delivered`, `retried`, `failed`).
    pub webhook_attempts: Family<OutcomeLabel, Counter>,
    /// Deliveries waiting for an attempt, over the organisations this process dispatches for.
    pub webhook_pending: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

/// A component and the share of the instance pool that turned its request away.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShareLabels {
    pub component: String,
    pub share: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("origo");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds: Latency = Family::new_with_constructor(latency);
        let instantiations = Family::<ComponentLabel, Counter>::default();
        let instantiate_seconds: Latency = Family::new_with_constructor(latency);
        let traps = Family::<TrapLabels, Counter>::default();
        let in_flight = Gauge::default();
        registry.register(
            "function_requests",
            "Requests served by each function component, by status",
            requests.clone(),
        );
        registry.register(
            "function_request_duration_seconds",
            "Time to serve a function request",
            request_seconds.clone(),
        );
        registry.register(
            "function_instantiations",
            "Component instances created (one per request)",
            instantiations.clone(),
        );
        registry.register(
            "function_instantiate_duration_seconds",
            "Time to instantiate a component from its pre-instance",
            instantiate_seconds.clone(),
        );
        registry.register("function_traps", "Requests that ended in a trap, by kind", traps.clone());
        registry.register("function_requests_in_flight", "Function requests being served now", in_flight.clone());
        let turned_away = Family::<ShareLabels, Counter>::default();
        registry.register(
            "function_turned_away",
            "Requests refused a function instance, by the share that was full (pool, component, client)",
            turned_away.clone(),
        );
        let webhook_attempts = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts, by outcome (delivered, retried, failed)",
            webhook_attempts.clone(),
        );
        let webhook_pending = Gauge::default();
        registry.register(
            "webhook_pending_deliveries",
            "Webhook deliveries waiting for an attempt in this process's dispatchers",
            webhook_pending.clone(),
        );
        Metrics {
            webhook_attempts,
            webhook_pending,
            registry,
            requests,
            request_seconds,
            instantiations,
            instantiate_seconds,
            traps,
            in_flight,
            turned_away,
        }
    }
}

impl Metrics {
    pub fn label(component: &str) -> ComponentLabel {
        ComponentLabel { component: component.to_owned() }
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
