//! Billing for an organisation's owners and admins: its plan (`GET /v1/billing/plan`), its
//! usage in a month with the daily breakdown (`GET /v1/billing/usage?month=YYYY-MM`) and its
//! statement for a month (`GET /v1/billing/statements/{YYYY-MM}`, JSON; `….csv`, or
//! `Accept: text/csv`, CSV). Usage totals are kept per organisation in key-value under
//! `usage:{org}:{YYYY-MM}` by whoever records them: the room coordinators (`…:room:{room}`,
//! presence), the node registry for media nodes' reports (`…:media:{node}:{room}`) and for
//! TURN nodes' (`…:turn:{node}`). The plan is the operator's to choose ([`crate::operator`]).

use http::{Method, StatusCode};
use origo_shared::ApiError;
use origo_shared::usage::month_of;
use serde::Serialize;

#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::plan::{Plan, plan_at, plan_of};
use crate::platform::Platform;
use crate::principal::Principal;
use crate::rbac::Action;
use crate::reply::{self, respond};
use crate::statement::{Statement, month_bounds};
use crate::store::org_plan;
use crate::store::usage::Usage;
use crate::store::usage_total::usage_of;
use crate::{Request, Response};

/// The query of `GET /v1/billing/usage`.
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `YYYY-MM` (default: this month).
    #[param(value_type = String, required = false, pattern = "^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])$")]
    pub month: Option<String>,
}

/// The path of a statement.
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct StatementPath {
    /// `YYYY-MM`, optionally followed by `.csv` for CSV.
    #[param(value_type = String, pattern = "^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])(\\.csv)?$")]
    pub month: String,
}

/// An organisation's plan, as its admins see it: the plan's fields, its currency and since
/// when it was assigned.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanView {
    pub id: String,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub monthly_fee: crate::money::Money,
    pub limits: crate::plan::Limits,
    pub prices: crate::plan::Prices,
    /// The currency of every price.
    pub currency: String,
    /// Since when the operator assigned it; absent for the deployment's default plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_since_ms: Option<u64>,
}

/// An organisation's usage in a month.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageView {
    pub month: String,
    pub usage: Usage,
    pub plan: Plan,
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

/// `org`'s plan as its admins and the operator see it.
pub async fn plan_view(p: &impl Platform, org: &str) -> Result<PlanView, ApiError> {
    let (book, plan) = plan_of(p, org).await?;
    let assigned = org_plan::get(p, org).await?.filter(|a| a.plan == plan.id).map(|a| a.since_ms);
    let Plan { id, name, monthly_fee, limits, prices } = plan;
    Ok(PlanView { id, name, monthly_fee, limits, prices, currency: book.currency, assigned_since_ms: assigned })
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
    let month = match reply::query_param(req, "month") {
        Some(m) if month_bounds(m).is_some() => m.to_owned(),
        Some(_) => return Err(ApiError::bad_request("month must be YYYY-MM")),
        None => month_of(p.now_ms()),
    };
    Ok(reply::json(StatusCode::OK, &usage_view(p, &org, &month).await?))
}

/// `org`'s usage in `month` and its plan now.
pub async fn usage_view(p: &impl Platform, org: &str, month: &str) -> Result<UsageView, ApiError> {
    let usage = usage_of(p, org, month).await?;
    let (_, plan) = plan_of(p, org).await?;
    Ok(UsageView { month: month.to_owned(), usage, plan })
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

/// `org`'s statement of `month` (`YYYY-MM`, or `YYYY-MM.csv`), as JSON or CSV.
pub async fn statement_response(
    req: &Request,
    p: &impl Platform,
    org: &str,
    month: &str,
) -> Result<Response, ApiError> {
    let (month, csv_suffix) = match month.strip_suffix(".csv") {
        Some(m) => (m, true),
        None => (month, false),
    };
    let Some((_, end)) = month_bounds(month) else {
        return Err(ApiError::not_found(format!("no statement {month}: a month is YYYY-MM")));
    };
    let now = p.now_ms();
    if month > month_of(now).as_str() {
        return Err(ApiError::not_found(format!("no statement for {month} yet")));
    }
    let is_final = now >= end;
    let (book, plan) = plan_at(p, org, if is_final { end - 1 } else { now }).await?;
    let usage = usage_of(p, org, month).await?;
    let s = Statement::of(org, month, &book.currency, &plan, &usage, is_final);
    let wants_csv = csv_suffix
        || req
            .headers()
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"));
    if wants_csv {
        let disposition = format!("attachment; filename=\"origo-{org}-{month}.csv\"");
        return http::Response::builder()
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "text/csv; charset=utf-8")
            .header(http::header::CONTENT_DISPOSITION, disposition)
            .body(bytes::Bytes::from(s.to_csv()))
            .map_err(|e| ApiError::internal(e.to_string()));
    }
    Ok(reply::json(StatusCode::OK, &s))
}
