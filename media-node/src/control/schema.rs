//! The JSON shapes of the control API for its OpenAPI document: SDP as browsers serialise an
//! `RTCSessionDescription`, and the response bodies the handlers write.
// Described, never built: the handlers write these shapes with `serde_json::json!`.
#![allow(dead_code)]

use utoipa::ToSchema;

use crate::sfu::TrackInfo;

#[derive(ToSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OfferType {
    Offer,
}

#[derive(ToSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerType {
    Answer,
}

/// An SDP offer: `{"type": "offer", "sdp": "v=0…"}`.
#[derive(ToSchema)]
#[schema(as = SdpOffer)]
pub struct SdpOfferSchema {
    r#type: OfferType,
    sdp: String,
}

/// An SDP answer: `{"type": "answer", "sdp": "v=0…"}`.
#[derive(ToSchema)]
#[schema(as = SdpAnswer)]
pub struct SdpAnswerSchema {
    r#type: AnswerType,
    sdp: String,
}

/// A session was opened.
#[derive(ToSchema)]
pub struct SessionCreated {
    /// Names the session in `PATCH`/`DELETE /v1/sessions/{id}`.
    session_id: String,
    answer: SdpAnswerSchema,
    /// This node.
    node_id: String,
}

/// What a `PATCH` produced.
#[derive(ToSchema)]
pub struct SessionUpdated {
    /// The node's answer to a client offer.
    answer: Option<SdpAnswerSchema>,
    /// The node's offer for changed subscriptions: answer it with `PATCH {"answer"}`.
    offer: Option<SdpOfferSchema>,
}

/// `GET /v1/sessions/{id}/tracks`.
#[derive(ToSchema)]
pub struct TrackList {
    tracks: Vec<TrackInfo>,
}

/// `GET /health`.
#[derive(ToSchema)]
pub struct Health {
    /// `ok`.
    status: String,
    /// `origo-media-node`.
    service: String,
    node_id: String,
    /// Sessions open on the node.
    sessions: u64,
    /// SFU shards (one UDP socket and task each).
    shards: u64,
}

/// `POST /v1/rooms/{org}/{room}/links`: the link is open (or connecting).
#[derive(ToSchema)]
pub struct LinkOpened {
    /// The link's session on this node.
    session: u64,
    peer_node: String,
    /// `false`: a link to that node for the room was open already.
    opened: bool,
}

/// `POST /v1/rooms/{org}/{room}/relays`: this node's answer to another node's link.
#[derive(ToSchema)]
pub struct RelayAccepted {
    answer: SdpAnswerSchema,
    /// The UDP address the link reaches this node at (`host:port`).
    udp: String,
}

/// `GET /v1/rooms/{org}/{room}/links`.
#[derive(ToSchema)]
pub struct LinkList {
    links: Vec<crate::sfu::RelayState>,
}
