//! Billing: the plan in force ([`Plan`], from the deployment's variables) and the usage
//! recorded against it. Usage totals are kept per organisation in key-value under `usage:{org}:{YYYY-MM}` by whoever
//! records them: the room coordinators (`…:room:{room}`, presence) and the node registry for
//! media nodes' reports (`…:media:{node}:{room}`, media connected). Owners and admins read them.

use http::{Method, StatusCode};
use origo_shared::ApiError;
use origo_shared::usage::month_of;

#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::plan::Plan;
use crate::platform::Platform;
use crate::principal::Principal;
use crate::rbac::Action;
use crate::reply::{self, respond};
use crate::store::usage_total::usage_of;
use crate::{Request, Response};

/// The query of `GET /v1/billing/usage`.
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `YYYY-MM` (default: this month).
    #[param(value_type = String, required = false, pattern = "^[0-9]{4}-[0-9]{2}$")]
    pub month: Option<String>,
}

/// Serves `/v1/billing/*`.
pub async fn handle(req: Request, p: &impl Platform) -> Response {
    respond(route(&req, p).await)
}

async fn route(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let path = req.uri().path();
    if path != "/v1/billing/plan" && path != "/v1/billing/usage" {
        return Err(reply::not_found(req));
    }
    if req.method() != Method::GET {
        return Ok(reply::method_not_allowed(req, "GET"));
    }
    if path == "/v1/billing/plan" { plan(req, p).await } else { usage(req, p).await }
}

async fn admin_org(req: &Request, p: &impl Platform) -> Result<String, ApiError> {
    let caller = Principal::from_request(req, p).await?;
    caller.require(Action::BillingRead)?;
    Ok(caller.org()?.to_owned())
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/billing/plan", tag = "billing",
    summary = "The plan in force (admin)",
    params(crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Plan),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 503, response = errors::Unavailable),
    )))]
async fn plan(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    admin_org(req, p).await?;
    Ok(reply::json(StatusCode::OK, &Plan::from_platform(p)))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/billing/usage", tag = "billing",
    summary = "Usage in a month (admin)",
    params(UsageQuery, crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`{month, usage, plan}`"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 503, response = errors::Unavailable),
    )))]
async fn usage(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let org = admin_org(req, p).await?;
    let month = match reply::query_param(req, "month") {
        Some(m)
            if m.len() == 7
                && m.as_bytes()[4] == b'-'
                && m.bytes().enumerate().all(|(i, b)| i == 4 || b.is_ascii_digit()) =>
        {
            m.to_owned()
        }
        Some(_) => return Err(ApiError::bad_request("month must be YYYY-MM")),
        None => month_of(p.now_ms()),
    };
    let usage = usage_of(p, &org, &month).await?;
    Ok(reply::json(
        StatusCode::OK,
        &serde_json::json!({ "month": month, "usage": usage, "plan": Plan::from_platform(p) }),
    ))
}
