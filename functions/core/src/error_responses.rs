//! The error responses of the OpenAPI document, declared once as `#/components/responses/…`
//! and referenced from each operation by status (`(status = 400, response = BadRequest)`).
//! Every error has the JSON body `{"error": {"code", "message"}}`.

use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, response::Response};

/// Declares unit types implementing [`utoipa::ToResponse`]: the component name is the type's.
macro_rules! error_responses {
    ($($(#[doc = $doc:literal])+ $name:ident;)+) => {
        $(
            $(#[doc = $doc])+
            pub struct $name;

            impl<'s> utoipa::ToResponse<'s> for $name {
                fn response() -> (&'s str, RefOr<Response>) {
                    (stringify!($name), error(concat!($($doc),+).trim()).into())
                }
            }
        )+

        /// Every error response, for `components(responses(...))`.
        pub fn all() -> Vec<(&'static str, RefOr<Response>)> {
            vec![$(<$name as utoipa::ToResponse<'static>>::response()),+]
        }
    };
}

error_responses! {
    /// Bad input: malformed JSON, unknown or missing fields, or values out of range; or an
    /// account in several organisations without `X-Origo-Org`.
    BadRequest;
    /// Missing, forged or expired credentials.
    Unauthorized;
    /// The caller's role or grants do not allow this, or a limit of the plan is reached.
    Forbidden;
    /// Not found, or not visible to the caller.
    NotFound;
    /// Conflicts with the current state (the resource exists, or the change would leave an
    /// organisation without an owner).
    Conflict;
    /// The body is larger than 64 KiB.
    PayloadTooLarge;
    /// The body is not `application/json`.
    UnsupportedMediaType;
    /// Too many attempts; retry later (the message says when).
    RateLimited;
    /// An upstream provider (identity provider, email provider) failed.
    BadGateway;
    /// Storage or a service the operation needs is unavailable or not configured, or no node
    /// can take the participant; retry.
    Unavailable;
}

fn error(description: &str) -> Response {
    let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
    ResponseBuilder::new().description(description).content("application/json", body).build()
}
