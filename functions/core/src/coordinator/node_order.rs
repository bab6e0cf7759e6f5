//! Orders the coordinator gives a media node, for what the room decided and the node must
//! enforce: a removed participant's sessions closed (and new ones refused while the ban
//! lasts), an admin's mute applied to what the node forwards. The host sends them to the
//! node's control API with the node secret (`POST …/participants/{identity}/close`, `PUT
//! …/participants/{identity}/mute`); and the links between the nodes serving the room
//! (`POST /v1/rooms/{org}/{room}/links`, see [`super::node_links`]).

use serde::{Deserialize, Serialize};

/// One order for one node, about one participant of the room or its links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "order", rename_all = "snake_case")]
pub enum NodeOrder {
    /// Close every session of `identity` in the room; refuse new ones until `ban_until_ms`.
    Close { node_id: String, identity: String, ban_until_ms: Option<u64>, reason: String },
    /// Forward none (`true`) or again (`false`) of `identity`'s audio / video; `None` leaves a
    /// kind as it is.
    Mute { node_id: String, identity: String, audio: Option<bool>, video: Option<bool> },
    /// Link to `peer_node` for the room (both serve it): each node's tracks then reach the
    /// other's subscribers, one copy per track. Idempotent: an open link is kept.
    Link { node_id: String, peer_node: String, peer_control_url: String },
}

impl NodeOrder {
    /// The node the order is for.
    pub fn node_id(&self) -> &str {
        match self {
            NodeOrder::Close { node_id, .. } | NodeOrder::Mute { node_id, .. } | NodeOrder::Link { node_id, .. } => {
                node_id
            }
        }
    }

    /// The control API path under the node's control URL, for the room `org`/`room`.
    pub fn path(&self, org: &str, room: &str) -> String {
        let enc = crate::percent_encoding::encode;
        let (identity, verb) = match self {
            NodeOrder::Close { identity, .. } => (identity, "close"),
            NodeOrder::Mute { identity, .. } => (identity, "mute"),
            NodeOrder::Link { .. } => return format!("/v1/rooms/{}/{}/links", enc(org), enc(room)),
        };
        format!("/v1/rooms/{}/{}/participants/{}/{verb}", enc(org), enc(room), enc(identity))
    }

    /// The HTTP method of the order.
    pub fn method(&self) -> &'static str {
        match self {
            NodeOrder::Close { .. } | NodeOrder::Link { .. } => "POST",
            NodeOrder::Mute { .. } => "PUT",
        }
    }

    /// The request for the node whose control API is at `control_url`, authenticated with
    /// `node_secret`.
    pub fn request(&self, control_url: &str, org: &str, room: &str, node_secret: &str) -> http::Request<bytes::Bytes> {
        let url = format!("{}{}", control_url.trim_end_matches('/'), self.path(org, room));
        let body = bytes::Bytes::from(self.body().to_string());
        http::Request::builder()
            .method(self.method())
            .uri(url)
            .header(http::header::AUTHORIZATION, format!("Bearer {node_secret}"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .unwrap_or_default()
    }

    /// The JSON body of the order.
    pub fn body(&self) -> serde_json::Value {
        match self {
            NodeOrder::Close { ban_until_ms, reason, .. } => {
                serde_json::json!({ "ban_until_ms": ban_until_ms, "reason": reason })
            }
            NodeOrder::Mute { audio, video, .. } => serde_json::json!({ "audio": audio, "video": video }),
            NodeOrder::Link { peer_node, peer_control_url, .. } => {
                serde_json::json!({ "peer_node": peer_node, "peer_control_url": peer_control_url })
            }
        }
    }
}
