//! The OpenAPI 3.1 document of the control API, generated from the handlers' annotations and
//! the request/response types (`utoipa`), served at `/openapi.json`.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{links, moderation, observability, sessions};

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".to_owned());
        http.description = Some(
            "The participant token from `POST /v1/rooms/{room}/join` on the edge, issued for this node".to_owned(),
        );
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
        let mut secret = Http::new(HttpAuthScheme::Bearer);
        secret.description =
            Some("The node secret (`--node-secret`), which the edge's room coordinators present".to_owned());
        components.add_security_scheme("node_secret", SecurityScheme::Http(secret));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Origo media node", description = "The control API of an Origo media node (SFU): WebRTC sessions over HTTP with the participant token the edge issued for this node; media then flows over UDP (ICE-lite, DTLS-SRTP). Errors are `{\"error\": {\"code\", \"message\"}}`."),
    paths(sessions::create, sessions::update, sessions::remove, sessions::tracks, moderation::close, moderation::mute, links::open, links::accept, links::list, observability::health, observability::metrics, serve),
    modifiers(&BearerToken),
    tags(
        (name = "sessions", description = "WebRTC sessions: offers and answers, subscriptions, quality"),
        (name = "moderation", description = "Kicks and mutes, called by the edge's room coordinators with the node secret"),
        (name = "links", description = "Links between nodes serving one room (cascading), ordered by the room's coordinator with the node secret"),
        (name = "node", description = "The node itself"),
    )
)]
struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "node", summary = "This OpenAPI 3.1 document", security(),
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json")))]
pub async fn serve() -> Response {
    let json = document().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    ([(header::CONTENT_TYPE, "application/json")], json).into_response()
}
