//! The OpenAPI 3.1 document of every function endpoint, generated from the handlers'
//! annotations and the request/response types (`utoipa`). `origo` serves it at
//! `/openapi.json`.

use utoipa::openapi::RefOr;
use utoipa::openapi::Required;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{
    account, api_key, auth, billing, chat, chat_message, error_responses, invitation, maintenance,
    notification_settings, notify, oidc, operator, org, password_reset, phone, push_subscriptions, registry, room,
    room_participant, unsubscribe, webhook_deliveries,
};

/// The security schemes and the error responses every operation refers to.
struct Components;

impl Modify for Components {
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
        components.add_security_scheme(
            "operator",
            bearer("token", "The deployment operator's token (its SHA-256 is operator_secret_sha256)"),
        );
        components.responses.extend(error_responses::all().into_iter().map(|(name, r)| (name.to_owned(), r)));
    }
}

/// What the annotations cannot say of each operation.
struct Operations;

impl Modify for Operations {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            for op in
                [&mut item.get, &mut item.post, &mut item.patch, &mut item.put, &mut item.delete].into_iter().flatten()
            {
                if let Some(body) = op.request_body.as_mut() {
                    optional_body_is_absent(body);
                }
                // Path parameters are always required (a schema from `schema_with` leaves
                // `required` unset).
                for param in op.parameters.iter_mut().flatten() {
                    if param.parameter_in == ParameterIn::Path {
                        param.required = Required::True;
                    }
                }
                // Handlers in different modules share names (`list`, `create`): prefix the tag
                // so every operation id is unique.
                if let (Some(id), Some(tag)) = (op.operation_id.as_ref(), op.tags.as_ref().and_then(|t| t.first())) {
                    op.operation_id = Some(format!("{}_{id}", tag.replace('-', "_")));
                }
            }
        }
    }
}

/// An optional body (`Option<T>`) is one that may be left out, not one that may be `null`:
/// `oneOf: [null, T]` becomes `T`, and the body stays not required.
fn optional_body_is_absent(body: &mut RequestBody) {
    for content in body.content.values_mut() {
        if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
            let not_null: Vec<RefOr<Schema>> = one_of
                .items
                .iter()
                .filter(|s| !matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::new(Type::Null)))
                .cloned()
                .collect();
            if let [only] = not_null.as_slice() {
                content.schema = Some(only.clone());
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
        password_reset::request,
        password_reset::confirm,
        oidc::start,
        oidc::callback,
        jwks,
        health,
        openapi_json,
        room_socket,
        org::create,
        org::list,
        org::get_org,
        org::update,
        org::delete,
        org::list_members,
        invitation::invite,
        invitation::list,
        invitation::revoke,
        invitation::offer,
        invitation::accept,
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
        room_participant::remove,
        registry::heartbeat,
        registry::usage_report,
        maintenance::sweep,
        chat::post,
        chat::history,
        chat_message::get,
        chat_message::edit,
        chat_message::delete,
        chat_message::react,
        chat_message::unreact,
        notify::create,
        notify::list,
        notify::get,
        notify::update,
        notify::delete,
        notify::test,
        notify::rotate,
        webhook_deliveries::list,
        webhook_deliveries::get,
        webhook_deliveries::redeliver,
        webhook_deliveries::recover,
        push_subscriptions::vapid_public_key,
        push_subscriptions::register,
        push_subscriptions::list,
        push_subscriptions::remove,
        push_subscriptions::test,
        phone::start,
        phone::verify,
        phone::show,
        phone::remove,
        notification_settings::show,
        notification_settings::replace,
        unsubscribe::unsubscribe,
        billing::plan,
        billing::usage,
        billing::statement,
        operator::plans,
        operator::show,
        operator::assign,
        operator::usage,
        operator::statement,
    ),
    components(schemas(origo_shared::ErrorBody, crate::webhook_delivery::delivery_record::DeliveryStatus)),
    modifiers(&Components, &Operations),
    tags(
        (name = "edge", description = "The edge server itself"),
        (name = "auth", description = "Guest sign-in, accounts, OIDC, signing keys"),
        (name = "orgs", description = "Organisations and roles: owner, admin, member, guest"),
        (name = "api-keys", description = "Partner API keys and the participant tokens they mint"),
        (name = "rooms", description = "Rooms and joining them"),
        (name = "nodes", description = "The media and TURN node registry"),
        (name = "chat", description = "Room chat: history, replies, edits, tombstones, reactions"),
        (name = "webhooks", description = "Partner webhooks (Standard Webhooks signatures)"),
        (name = "notifications", description = "Notifications to people: web push subscriptions, phone numbers, preferences, unsubscribe"),
        (name = "billing", description = "The organisation's plan, usage and statements"),
        (name = "operator", description = "The deployment operator: plans and organisations' plans, usage and statements"),
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

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "edge", summary = "This OpenAPI 3.1 document", security(),
    responses((status = 200, description = "OpenAPI 3.1")))]
#[allow(dead_code)]
fn openapi_json() {}

/// The room coordinator's WebSocket (served by the edge server).
#[utoipa::path(get, path = "/v1/rooms/{room}/ws", tag = "rooms",
    summary = "The room's coordinator: a WebSocket of JSON frames (`origo_shared::signal`); first frame `{\"type\":\"join\",\"protocol\":1}`",
    params(crate::input_schemas::RoomPath,
        ("access_token" = Option<String>, Query, description = "The participant token from join (or send it as a bearer token)")),
    security(),
    responses(
        (status = 101, description = "Switching protocols"),
        (status = 400, response = error_responses::BadRequest),
        (status = 401, response = error_responses::Unauthorized),
        (status = 403, response = error_responses::Forbidden),
        (status = 404, response = error_responses::NotFound),
        (status = 503, response = error_responses::Unavailable),
    ))]
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
