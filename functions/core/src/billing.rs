//! Billing for an organisation's owners and admins: its plan (`GET /v1/billing/plan`), its
//! usage in a month with the daily breakdown (`GET /v1/billing/usage?month=YYYY-MM`) and its
//! statement for a month (`GET /v1/billing/statements/{YYYY-MM}`, JSON; `….csv`, or
//! `Accept: text/csv`, CSV). Usage totals are kept per organisation in key-value under
//! `usage:{org}:{YYYY-MM}` by whoever records them: the room coordinators (`…:room:{room}`,
//! presence), the node registry for media nodes' reports (`…:media:{node}:{room}`) and for
//! TURN nodes' (`…:turn:{node}`). The plan is the operator's to choose ([`crate::operator`]).

use http::{Method, StatusCode};
use origo_shared::ApiError;

#[cfg(feature = "openapi")]
use crate::billing_views::{PlanView, UsageQuery, UsageView};
use crate::billing_views::{month_param, plan_view, statement_response, usage_view};
#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::platform::Platform;
use crate::principal::Principal;
use crate::rbac::Action;
use crate::reply::{self, respond};
#[cfg(feature = "openapi")]
use crate::statement::Statement;
use crate::{Request, Response};

/// The path of a statement.
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct StatementPath {
    /// `YYYY-MM`, optionally followed by `.csv` for CSV.
    #[param(value_type = String, pattern = "^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])(\\.csv)?$")]
    pub month: String,
}

/// Serves `/v1/billing/*`, and the operator API (`/v1/operator/*`, [`crate::operator`]).
pub async fn handle(req: Request, p: &impl Platform) -> Response {
    if req.uri().path().starts_with("/v1/operator/") {
        return crate::operator::handle(req, p).await;
    }
    respond(route(&req, p).await)
}

async fn route(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let segments = reply::segments(req);
    let known = matches!(segments.as_slice(), ["v1", "billing", "plan" | "usage"] | ["v1", "billing", "statements", _]);
    if !known {
        return Err(reply::not_found(req));
    }
    if req.method() != Method::GET {
        return Ok(reply::method_not_allowed(req, "GET"));
    }
    match segments.as_slice() {
        ["v1", "billing", "plan"] => plan(req, p).await,
        ["v1", "billing", "usage"] => usage(req, p).await,
        ["v1", "billing", "statements", month] => statement(req, p, month).await,
        _ => Err(reply::not_found(req)),
    }
}

async fn admin_org(req: &Request, p: &impl Platform) -> Result<String, ApiError> {
    let caller = Principal::from_request(req, p).await?;
    caller.require(Action::BillingRead)?;
    Ok(caller.org()?.to_owned())
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/billing/plan", tag = "billing",
    summary = "The organisation's plan: limits and prices (admin)",
    params(crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = PlanView),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 503, response = errors::Unavailable),
    )))]
async fn plan(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let org = admin_org(req, p).await?;
    Ok(reply::json(StatusCode::OK, &plan_view(p, &org).await?))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/billing/usage", tag = "billing",
    summary = "Usage in a month, with a daily breakdown (admin)",
    params(UsageQuery, crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = UsageView),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 503, response = errors::Unavailable),
    )))]
async fn usage(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let org = admin_org(req, p).await?;
    let month = month_param(req, p)?;
    Ok(reply::json(StatusCode::OK, &usage_view(p, &org, &month).await?))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/billing/statements/{month}", tag = "billing",
    summary = "The statement of a month: line items, total, daily usage (admin; `.csv` or Accept: text/csv for CSV)",
    params(StatementPath, crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The statement: JSON, or CSV (one row per line item, then the total)",
            content((Statement = "application/json"), (String = "text/csv"))),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn statement(req: &Request, p: &impl Platform, month: &str) -> Result<Response, ApiError> {
    let org = admin_org(req, p).await?;
    statement_response(req, p, &org, month).await
}
