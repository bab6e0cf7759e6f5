//! The OpenAPI 3.1 document of every function endpoint, generated from the handlers'
//! annotations and the request/response types (`utoipa`). `origo` serves it at
//! `/openapi.json`.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{account, api_key, auth, billing, chat, notify, oidc, org, registry, room};

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |format: &str, description: &str| {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.bearer_format = Some(format.to_owned());
            http.description = Some(description.to_owned());
            SecurityScheme::Http(http)
        };
        components.add_security_scheme(
            "bearer",
            bearer(
                "JWT",
                "An account access token (send `X-Origo-Org` to pick the organisation) or a participant token",
            ),
        );
        components.add_security_scheme("api_key", bearer("osk_<id>_<secret>", "A partner API key"));
        components.add_security_scheme("node_secret", bearer("secret", "The deployment's node secret"));
        // Handlers in different modules share names (`list`, `create`): prefix the tag so
        // every operation id is unique.
        for item in doc.paths.paths.values_mut() {
            for op in
                [&mut item.get, &mut item.post, &mut item.patch, &mut item.put, &mut item.delete].into_iter().flatten()
            {
                if let (Some(id), Some(tag)) = (op.operation_id.as_ref(), op.tags.as_ref().and_then(|t| t.first())) {
                    op.operation_id = Some(format!("{}_{id}", tag.replace('-', "_")));
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Origo API", description = "Accounts, organisations, partner keys, rooms and joins, chat, webhooks and billing of an Origo deployment. Errors are `{\"error\": {\"code\", \"message\"}}`."),
    paths(
        auth::guest,
        account::signup,
        account::verify_get,
        account::verify_post,
        account::login,
        account::refresh,
        account::logout,
        oidc::start,
        oidc::callback,
        jwks,
        health,
        metrics,
        openapi_json,
        room_socket,
        org::create,
        org::list,
        org::get_org,
        org::update,
        org::delete,
        org::list_members,
        org::add_member,
        org::set_role,
        org::remove,
        api_key::create,
        api_key::list,
        api_key::revoke,
        api_key::mint,
        room::create,
        room::list,
        room::get,
        room::update,
        room::delete,
        room::join,
        registry::heartbeat,
        registry::usage_report,
        chat::post,
        chat::history,
        notify::create,
        notify::list,
        notify::delete,
        notify::test,
        billing::plan,
        billing::usage,
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "edge", description = "The edge server itself"),
        (name = "auth", description = "Guest sign-in, accounts, OIDC, signing keys"),
        (name = "orgs", description = "Organisations and roles: owner, admin, member, guest"),
        (name = "api-keys", description = "Partner API keys and the participant tokens they mint"),
        (name = "rooms", description = "Rooms and joining them"),
        (name = "nodes", description = "The media and TURN node registry"),
        (name = "chat", description = "Room chat history"),
        (name = "webhooks", description = "Partner webhooks (Standard Webhooks signatures)"),
        (name = "billing", description = "Plan and usage"),
    )
)]
struct ApiDoc;

/// The public signing keys (documented here: served by the auth function's router).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", summary = "Public token signing keys (JWKS)", security(),
    responses((status = 200, body = origo_shared::token::Jwks)))]
#[allow(dead_code)]
fn jwks() {}

/// Liveness and the state of storage (served by the edge server).
#[utoipa::path(get, path = "/health", tag = "edge", summary = "Liveness, storage checks, components", security(),
    responses((status = 200, description = "`{status: ok, ...}`"), (status = 503, description = "Degraded")))]
#[allow(dead_code)]
fn health() {}

/// Prometheus metrics (served by the edge server).
#[utoipa::path(get, path = "/metrics", tag = "edge", summary = "Prometheus / OpenMetrics text", security(),
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
#[allow(dead_code)]
fn metrics() {}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "edge", summary = "This OpenAPI 3.1 document", security(),
    responses((status = 200, description = "OpenAPI 3.1")))]
#[allow(dead_code)]
fn openapi_json() {}

/// The room coordinator's WebSocket (served by the edge server).
#[utoipa::path(get, path = "/v1/rooms/{room}/ws", tag = "rooms",
    summary = "The room's coordinator: a WebSocket of JSON frames (`origo_shared::signal`); first frame `{\"type\":\"join\",\"protocol\":1}`",
    params(("room" = String, Path), ("access_token" = String, Query, description = "The participant token from join")),
    security(),
    responses((status = 101, description = "Switching protocols"), (status = 401, description = "Missing or bad token", body = origo_shared::ErrorBody),
        (status = 403, description = "The token may not join this room", body = origo_shared::ErrorBody)))]
#[allow(dead_code)]
fn room_socket() {}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as JSON.
pub fn json() -> String {
    document().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
