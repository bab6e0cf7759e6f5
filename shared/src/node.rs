//! Media and TURN node descriptors, the heartbeat they send, and the node selector that routes
//! a participant to a node.
//!
//! The selector's rules, in order:
//! 1. only nodes of the wanted kind that are neither draining, stale nor full are candidates;
//! 2. room affinity: the node already serving the room wins while it is a candidate;
//! 3. otherwise the nearest region (to the participant) that has a candidate;
//! 4. inside it, the least loaded node (load / capacity), then the lower load, then the lower id.
//!
//! The result depends only on the inputs (never on their order), so every coordinator that sees
//! the same registry picks the same node.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::region::{GeoPoint, RegionCatalog};

/// What a node does.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// An SFU (`origo-media-node`).
    Media,
    /// A STUN/TURN server (`origo-turn`).
    Turn,
}

/// How clients and the edge reach a node.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeAddresses {
    /// Base URL of the node's HTTP API (media nodes: `POST {control_url}/v1/sessions`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_url: Option<String>,
    /// Public UDP `ip:port` addresses media flows to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub udp: Vec<String>,
    /// ICE server URLs a TURN node offers (`turn:host:3478?transport=udp`, `turns:host:5349`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ice_urls: Vec<String>,
}

/// What a node sends in `POST /v1/nodes/heartbeat`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeHeartbeat {
    /// The node's id, stable across restarts (see [`valid_node_id`]); a heartbeat with the id
    /// of a known node replaces its entry.
    pub id: String,
    /// The id of the region the node runs in; must be in the deployment's [`RegionCatalog`].
    pub region: String,
    /// Whether the node is a media node or a TURN server.
    pub kind: NodeKind,
    /// How to reach the node; at most 32 UDP addresses and ICE URLs together.
    #[serde(default)]
    pub addresses: NodeAddresses,
    /// How many units (participants for media, allocations for TURN) the node accepts.
    pub capacity: u32,
    /// Units in use now.
    pub load: u32,
    /// A draining node finishes its sessions but takes no new ones.
    #[serde(default)]
    pub draining: bool,
    /// A draining node whose deadline passed (or whose sessions ended): the participants still
    /// on it must move now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leaving: bool,
    /// The node software's version, for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Why [`NodeHeartbeat::validate`] refused a heartbeat (the registry answers 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeartbeatError {
    /// The node id is not 1-64 characters of `a-z`, `0-9`, `-`, `_`, `.`.
    #[error("node id must be 1-64 characters of a-z, 0-9, '-', '_' or '.'")]
    BadId,
    /// The region is not in the catalog; holds its first 64 characters.
    #[error("unknown region `{0}`")]
    UnknownRegion(String),
    /// More than 32 UDP addresses and ICE URLs together.
    #[error("too many addresses")]
    TooManyAddresses,
    /// A UDP address that is not `ip:port`, or a URL without an `http(s)://`, `turn:`,
    /// `turns:` or `stun:` scheme, over 512 bytes or with whitespace; holds its first 80
    /// characters.
    #[error("address `{0}` is not valid")]
    BadAddress(String),
}

/// A node id: 1-64 characters of `a-z`, `0-9`, `-`, `_`, `.`.
pub fn valid_node_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'))
}

impl NodeHeartbeat {
    /// Checks a heartbeat from the network before it enters the registry.
    pub fn validate(&self, catalog: &RegionCatalog) -> Result<(), HeartbeatError> {
        if !valid_node_id(&self.id) {
            return Err(HeartbeatError::BadId);
        }
        if catalog.get(&self.region).is_none() {
            return Err(HeartbeatError::UnknownRegion(self.region.chars().take(64).collect()));
        }
        let a = &self.addresses;
        if a.udp.len() + a.ice_urls.len() > 32 {
            return Err(HeartbeatError::TooManyAddresses);
        }
        for udp in &a.udp {
            if udp.parse::<std::net::SocketAddr>().is_err() {
                return Err(HeartbeatError::BadAddress(udp.chars().take(80).collect()));
            }
        }
        let urls = a.control_url.iter().chain(a.ice_urls.iter());
        for url in urls {
            let ok_scheme = ["http://", "https://", "turn:", "turns:", "stun:"].iter().any(|s| url.starts_with(s));
            if !ok_scheme || url.len() > 512 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(HeartbeatError::BadAddress(url.chars().take(80).collect()));
            }
        }
        Ok(())
    }

    /// The registry entry for this heartbeat, received at `now_ms`.
    pub fn into_descriptor(self, now_ms: u64) -> NodeDescriptor {
        NodeDescriptor {
            id: self.id,
            region: self.region,
            kind: self.kind,
            addresses: self.addresses,
            capacity: self.capacity,
            load: self.load,
            draining: self.draining,
            leaving: self.leaving,
            last_heartbeat_ms: now_ms,
            version: self.version,
            unreachable_since_ms: None,
        }
    }
}

/// A node as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDescriptor {
    /// The node's id, as in its heartbeat.
    pub id: String,
    /// The id of the region the node runs in.
    pub region: String,
    /// Whether the node is a media node or a TURN server.
    pub kind: NodeKind,
    /// How to reach the node, from its last heartbeat.
    #[serde(default)]
    pub addresses: NodeAddresses,
    /// How many units (participants for media, allocations for TURN) the node accepts.
    pub capacity: u32,
    /// Units in use at the last heartbeat.
    pub load: u32,
    /// True when the node finishes its sessions but takes no new ones.
    #[serde(default)]
    pub draining: bool,
    /// True when a draining node asks for the participants still on it to be moved.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leaving: bool,
    /// When the registry last heard from the node (Unix milliseconds).
    pub last_heartbeat_ms: u64,
    /// The node software's version, for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When a room coordinator found the node unreachable (its participants lost their media
    /// and it did not answer): no new participant goes there. The node's next heartbeat
    /// replaces the record, so a node that comes back is used again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since_ms: Option<u64>,
}

impl NodeDescriptor {
    /// True while the node can take one more unit.
    pub fn has_room(&self) -> bool {
        self.load < self.capacity
    }

    /// True when the node has missed its heartbeats.
    pub fn is_stale(&self, now_ms: u64, stale_after_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_heartbeat_ms) > stale_after_ms
    }

    /// Compares load fractions exactly (`a.load/a.cap` vs `b.load/b.cap`) without floats.
    fn cmp_load(&self, other: &NodeDescriptor) -> Ordering {
        let lhs = u64::from(self.load) * u64::from(other.capacity.max(1));
        let rhs = u64::from(other.load) * u64::from(self.capacity.max(1));
        lhs.cmp(&rhs).then(self.load.cmp(&other.load))
    }
}

/// Where the participant is, as well as the edge could tell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Origin {
    /// Coordinates (from the CDN's geolocation or a trusted proxy header).
    Point {
        /// Latitude in degrees, -90 to 90 (north positive).
        lat: f64,
        /// Longitude in degrees, -180 to 180 (east positive).
        lon: f64,
    },
    /// A region id the client named.
    Region {
        /// The region's id (`eu-west`); an id the catalog does not know counts as no origin.
        id: String,
    },
    /// Nothing known: every region is equally near, so load decides.
    Unknown,
}

impl Origin {
    fn point(&self, catalog: &RegionCatalog) -> Option<GeoPoint> {
        match self {
            Origin::Point { lat, lon } => GeoPoint::new(*lat, *lon),
            Origin::Region { id } => catalog.get(id).map(|r| r.location),
            Origin::Unknown => None,
        }
    }
}

/// The selector's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectorConfig {
    /// A node whose last heartbeat is older than this is stale (heartbeat interval × misses).
    pub stale_after_ms: u64,
}

impl Default for SelectorConfig {
    /// Heartbeats every 5 s; three missed make a node stale.
    fn default() -> Self {
        SelectorConfig { stale_after_ms: 15_000 }
    }
}

/// One request for a node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRequest<'a> {
    /// The kind of node wanted.
    pub kind: NodeKind,
    /// Where the participant is; decides the nearest region.
    pub origin: Origin,
    /// The node already serving the participant's room, if any.
    pub room_node: Option<&'a str>,
}

/// Chooses nodes for participants.
#[derive(Debug, Clone, Default)]
pub struct NodeSelector {
    /// The regions distances are measured between; a node in a region it does not list counts
    /// as infinitely far.
    pub catalog: RegionCatalog,
    /// When a node counts as stale.
    pub config: SelectorConfig,
}

impl NodeSelector {
    /// A selector over `catalog` with `config`.
    pub fn new(catalog: RegionCatalog, config: SelectorConfig) -> Self {
        NodeSelector { catalog, config }
    }

    /// True when `node` may take a new participant of `kind` at `now_ms`.
    pub fn is_candidate(&self, node: &NodeDescriptor, kind: NodeKind, now_ms: u64) -> bool {
        node.kind == kind
            && !node.draining
            && node.unreachable_since_ms.is_none()
            && node.has_room()
            && !node.is_stale(now_ms, self.config.stale_after_ms)
    }

    /// The node for `req`, or `None` when no node can take it.
    pub fn select<'n>(
        &self,
        nodes: &'n [NodeDescriptor],
        req: &NodeRequest<'_>,
        now_ms: u64,
    ) -> Option<&'n NodeDescriptor> {
        self.rank(nodes, req, now_ms).into_iter().next()
    }

    /// Every candidate, best first: the fallback order if the first choice fails.
    pub fn rank<'n>(&self, nodes: &'n [NodeDescriptor], req: &NodeRequest<'_>, now_ms: u64) -> Vec<&'n NodeDescriptor> {
        let origin = req.origin.point(&self.catalog);
        let distance = |n: &NodeDescriptor| -> f64 {
            match (origin, self.catalog.get(&n.region)) {
                (Some(p), Some(r)) => r.location.distance_km(&p),
                // Unknown origin: all regions are equal. Unknown region: last resort.
                (None, Some(_)) => 0.0,
                (_, None) => f64::INFINITY,
            }
        };
        let mut ranked: Vec<(&NodeDescriptor, f64)> =
            nodes.iter().filter(|n| self.is_candidate(n, req.kind, now_ms)).map(|n| (n, distance(n))).collect();
        ranked.sort_by(|(a, da), (b, db)| {
            let affinity = |n: &NodeDescriptor| req.room_node != Some(n.id.as_str());
            affinity(a)
                .cmp(&affinity(b))
                .then(da.total_cmp(db))
                // Equal distances from a known origin: keep each region's nodes together.
                .then_with(|| if origin.is_some() { a.region.cmp(&b.region) } else { Ordering::Equal })
                .then_with(|| a.cmp_load(b))
                .then_with(|| a.id.cmp(&b.id))
        });
        ranked.into_iter().map(|(n, _)| n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_000_000;

    fn node(id: &str, region: &str, load: u32, capacity: u32) -> NodeDescriptor {
        NodeDescriptor {
            id: id.into(),
            region: region.into(),
            kind: NodeKind::Media,
            addresses: NodeAddresses::default(),
            capacity,
            load,
            draining: false,
            leaving: false,
            last_heartbeat_ms: NOW,
            version: None,
            unreachable_since_ms: None,
        }
    }

    fn paris() -> Origin {
        Origin::Point { lat: 48.8566, lon: 2.3522 }
    }

    fn req(origin: Origin) -> NodeRequest<'static> {
        NodeRequest { kind: NodeKind::Media, origin, room_node: None }
    }

    #[test]
    fn nearest_region_wins_then_least_loaded() {
        let sel = NodeSelector::default();
        let nodes = vec![
            node("fra-1", "eu-central", 50, 100),
            node("fra-2", "eu-central", 10, 100),
            node("dub-1", "eu-west", 0, 100),
            node("iad-1", "us-east", 0, 100),
        ];
        assert_eq!(sel.select(&nodes, &req(paris()), NOW).unwrap().id, "fra-2");
        let ranked: Vec<&str> = sel.rank(&nodes, &req(paris()), NOW).iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ranked, ["fra-2", "fra-1", "dub-1", "iad-1"]);
        // New York goes to Ashburn.
        let nyc = Origin::Point { lat: 40.71, lon: -74.0 };
        assert_eq!(sel.select(&nodes, &req(nyc), NOW).unwrap().id, "iad-1");
        // A named region works like its coordinates.
        let named = Origin::Region { id: "eu-west".into() };
        assert_eq!(sel.select(&nodes, &req(named), NOW).unwrap().id, "dub-1");
    }

    #[test]
    fn load_is_compared_as_a_fraction() {
        let sel = NodeSelector::default();
        // 30/100 = 30% beats 10/20 = 50% even though 10 < 30.
        let nodes = vec![node("a", "eu-central", 10, 20), node("b", "eu-central", 30, 100)];
        assert_eq!(sel.select(&nodes, &req(paris()), NOW).unwrap().id, "b");
    }

    #[test]
    fn full_region_spills_to_the_next_nearest() {
        let sel = NodeSelector::default();
        let nodes = vec![
            node("fra-1", "eu-central", 100, 100),
            node("dub-1", "eu-west", 99, 100),
            node("iad-1", "us-east", 0, 100),
        ];
        assert_eq!(sel.select(&nodes, &req(paris()), NOW).unwrap().id, "dub-1");
    }

    #[test]
    fn skips_draining_stale_full_and_other_kinds() {
        let sel = NodeSelector::default();
        let mut draining = node("drain", "eu-central", 0, 100);
        draining.draining = true;
        let mut stale = node("stale", "eu-central", 0, 100);
        stale.last_heartbeat_ms = NOW - 15_001;
        let full = node("full", "eu-central", 100, 100);
        let zero = node("zero", "eu-central", 0, 0);
        let mut turn = node("turn", "eu-central", 0, 100);
        turn.kind = NodeKind::Turn;
        let mut unreachable = node("gone", "eu-central", 0, 100);
        unreachable.unreachable_since_ms = Some(NOW - 1);
        let far = node("far", "ap-northeast", 99, 100);
        let nodes = vec![draining, stale, full, zero, turn, unreachable, far];
        assert_eq!(sel.select(&nodes, &req(paris()), NOW).unwrap().id, "far");
        let turn_req = NodeRequest { kind: NodeKind::Turn, origin: paris(), room_node: None };
        assert_eq!(sel.select(&nodes, &turn_req, NOW).unwrap().id, "turn");
        // Exactly at the threshold a node is still fresh.
        let mut edge = node("edge", "eu-central", 0, 100);
        edge.last_heartbeat_ms = NOW - 15_000;
        assert!(sel.is_candidate(&edge, NodeKind::Media, NOW));
        assert!(sel.select(&nodes[..6], &req(paris()), NOW).is_none());
    }

    #[test]
    fn room_affinity_wins_while_it_has_room() {
        let sel = NodeSelector::default();
        let mut nodes = vec![node("fra-1", "eu-central", 0, 100), node("iad-1", "us-east", 80, 100)];
        let r = NodeRequest { kind: NodeKind::Media, origin: paris(), room_node: Some("iad-1") };
        assert_eq!(sel.select(&nodes, &r, NOW).unwrap().id, "iad-1");
        nodes[1].load = 100;
        assert_eq!(sel.select(&nodes, &r, NOW).unwrap().id, "fra-1");
        nodes[1].load = 0;
        nodes[1].draining = true;
        assert_eq!(sel.select(&nodes, &r, NOW).unwrap().id, "fra-1");
        // A room node that is not in the registry at all is ignored.
        let gone = NodeRequest { kind: NodeKind::Media, origin: paris(), room_node: Some("nope") };
        assert_eq!(sel.select(&nodes, &gone, NOW).unwrap().id, "fra-1");
    }

    #[test]
    fn unknown_origin_uses_load_and_unknown_region_is_last_resort() {
        let sel = NodeSelector::default();
        let nodes = vec![
            node("mystery", "moon-1", 0, 100),
            node("tokyo", "ap-northeast", 50, 100),
            node("dublin", "eu-west", 10, 100),
        ];
        let ranked: Vec<&str> = sel.rank(&nodes, &req(Origin::Unknown), NOW).iter().map(|n| n.id.as_str()).collect();
        // Unknown origin: every known region is equally near, so the least loaded node wins.
        assert_eq!(ranked, ["dublin", "tokyo", "mystery"]);
        let bad_point = Origin::Point { lat: f64::NAN, lon: 0.0 };
        assert_eq!(sel.select(&nodes, &req(bad_point), NOW).unwrap().id, "dublin");
    }

    #[test]
    fn heartbeat_validation_and_wire_shape() {
        let cat = RegionCatalog::default();
        let json = r#"{"id":"fra-1","region":"eu-central","kind":"media","capacity":500,"load":3,
                       "addresses":{"control_url":"https://fra-1.media.example:8443","udp":["203.0.113.7:3480"]}}"#;
        let hb: NodeHeartbeat = serde_json::from_str(json).unwrap();
        assert_eq!(hb.validate(&cat), Ok(()));
        let d = hb.clone().into_descriptor(42);
        assert_eq!((d.last_heartbeat_ms, d.draining, d.load), (42, false, 3));

        let mut bad = hb.clone();
        bad.id = "FRA 1".into();
        assert_eq!(bad.validate(&cat), Err(HeartbeatError::BadId));
        let mut bad = hb.clone();
        bad.region = "atlantis".into();
        assert!(matches!(bad.validate(&cat), Err(HeartbeatError::UnknownRegion(_))));
        let mut bad = hb.clone();
        bad.addresses.udp = vec!["not-an-addr".into()];
        assert!(matches!(bad.validate(&cat), Err(HeartbeatError::BadAddress(_))));
        let mut bad = hb.clone();
        bad.addresses.control_url = Some("javascript:alert(1)".into());
        assert!(matches!(bad.validate(&cat), Err(HeartbeatError::BadAddress(_))));
        let mut bad = hb;
        bad.addresses.ice_urls = vec!["turn:a:3478".into(); 40];
        assert_eq!(bad.validate(&cat), Err(HeartbeatError::TooManyAddresses));
        assert!(
            serde_json::from_str::<NodeHeartbeat>(
                r#"{"id":"a","region":"eu-west","kind":"media","capacity":1,"load":0,"extra":1}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<NodeHeartbeat>(
                r#"{"id":"a","region":"eu-west","kind":"sfu","capacity":1,"load":0}"#
            )
            .is_err()
        );
    }

    const REGIONS: [&str; 6] = ["eu-central", "eu-west", "us-east", "ap-northeast", "sa-east", "moon-1"];

    fn arb_node() -> impl Strategy<Value = NodeDescriptor> {
        (0usize..12, 0usize..REGIONS.len(), 0u32..120, 0u32..120, any::<bool>(), 0u64..40_000, any::<bool>()).prop_map(
            |(id, region, load, capacity, draining, age, media)| NodeDescriptor {
                id: format!("n{id}"),
                region: REGIONS[region].into(),
                kind: if media { NodeKind::Media } else { NodeKind::Turn },
                addresses: NodeAddresses::default(),
                capacity,
                load,
                draining,
                leaving: false,
                last_heartbeat_ms: NOW - age,
                version: None,
                unreachable_since_ms: None,
            },
        )
    }

    fn arb_origin() -> impl Strategy<Value = Origin> {
        prop_oneof![
            (-90.0f64..=90.0, -180.0f64..=180.0).prop_map(|(lat, lon)| Origin::Point { lat, lon }),
            (0usize..REGIONS.len()).prop_map(|i| Origin::Region { id: REGIONS[i].into() }),
            Just(Origin::Unknown),
        ]
    }

    proptest! {
        #[test]
        fn selector_invariants(mut nodes in proptest::collection::vec(arb_node(), 0..16),
                               origin in arb_origin(), affinity in proptest::option::of(0usize..12),
                               seed in any::<u64>()) {
            // Ids are unique in a registry.
            nodes.sort_by(|a, b| a.id.cmp(&b.id));
            nodes.dedup_by(|a, b| a.id == b.id);
            let sel = NodeSelector::default();
            let room_node = affinity.map(|i| format!("n{i}"));
            let r = NodeRequest { kind: NodeKind::Media, origin: origin.clone(), room_node: room_node.as_deref() };
            let chosen = sel.select(&nodes, &r, NOW);
            let candidates: Vec<&NodeDescriptor> = nodes.iter().filter(|n| sel.is_candidate(n, NodeKind::Media, NOW)).collect();

            // Some node is chosen exactly when a candidate exists, and it is never stale, draining, full or of the wrong kind.
            prop_assert_eq!(chosen.is_some(), !candidates.is_empty());
            if let Some(c) = chosen {
                prop_assert!(!c.draining && c.has_room() && !c.is_stale(NOW, 15_000) && c.kind == NodeKind::Media);
                let aff = candidates.iter().find(|n| Some(n.id.as_str()) == room_node.as_deref());
                if let Some(a) = aff {
                    // Room affinity wins while its node can take people.
                    prop_assert_eq!(&c.id, &a.id);
                } else if let Some(p) = origin.point(&sel.catalog) {
                    // Nearest region with capacity wins.
                    let d = |n: &NodeDescriptor| sel.catalog.get(&n.region).map_or(f64::INFINITY, |r| r.location.distance_km(&p));
                    for n in &candidates {
                        prop_assert!(d(c) <= d(n));
                        if n.region == c.region {
                            prop_assert!(c.cmp_load(n) != Ordering::Greater);
                        }
                    }
                }
            }
            // Deterministic: the input order does not matter.
            let mut shuffled = nodes.clone();
            let len = shuffled.len();
            if len > 1 {
                shuffled.rotate_left((seed as usize) % len);
                shuffled.reverse();
            }
            let again = sel.select(&shuffled, &r, NOW).map(|n| n.id.clone());
            prop_assert_eq!(again, chosen.map(|n| n.id.clone()));
            // The ranking lists every candidate once.
            prop_assert_eq!(sel.rank(&nodes, &r, NOW).len(), candidates.len());
        }
    }
}
