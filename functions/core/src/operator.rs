//! The operator API: what the people who run an Origo deployment do for its organisations,
//! apart from any organisation's roles — an organisation's admin reads its plan but never
//! chooses it. Authenticated by `Authorization: Bearer <operator token>`; the deployment
//! keeps only the token's SHA-256 (`operator_secret_sha256`, lowercase hex; several, comma
//! separated, while one is replaced), compared in constant time.
//!
//! * `GET /v1/operator/plans`: the plans document in force;
//! * `GET /v1/operator/orgs/{org}/plan`, `PUT` with `{"plan": "pro"}`: an organisation's plan;
//! * `GET /v1/operator/orgs/{org}/usage?month=YYYY-MM`, `GET /v1/operator/orgs/{org}/statements/{YYYY-MM}[.csv]`.

use http::{Method, StatusCode};
use origo_shared::{ApiError, ErrorCode};
use serde::Deserialize;

use crate::billing_views::{self as views, month_param};
#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::names::valid_org_id;
use crate::plan::PlanBook;
use crate::platform::Platform;
use crate::reply::{self, respond};
use crate::secret_digest::{digest_eq, secret_digest};
use crate::store::org as orgs;
use crate::store::org_plan::{self, OrgPlan};
use crate::variables::{guest_org, var};
use crate::{Request, Response};

/// The body of `PUT /v1/operator/orgs/{org}/plan`.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssignPlan {
    /// The id of a plan of the plans document.
    pub plan: String,
}

/// The path naming an organisation.
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgPath {
    /// The organisation's id.
    #[param(schema_with = crate::input_schemas::org_id)]
    pub org: String,
}

/// The path of an organisation's statement.
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgStatementPath {
    /// The organisation's id.
    #[param(schema_with = crate::input_schemas::org_id)]
    pub org: String,
    /// `YYYY-MM`, optionally followed by `.csv`.
    #[param(value_type = String, pattern = "^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])(\\.csv)?$")]
    pub month: String,
}

/// Serves `/v1/operator/*`.
pub async fn handle(req: Request, p: &impl Platform) -> Response {
    respond(route(&req, p).await)
}

async fn route(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let segments = reply::segments(req);
    let allowed = match segments.as_slice() {
        ["v1", "operator", "plans"] => "GET",
        ["v1", "operator", "orgs", _, "plan"] => "GET, PUT",
        ["v1", "operator", "orgs", _, "usage"] | ["v1", "operator", "orgs", _, "statements", _] => "GET",
        _ => return Err(reply::not_found(req)),
    };
    if !allowed.split(", ").any(|m| m == req.method().as_str()) {
        return Ok(reply::method_not_allowed(req, allowed));
    }
    authenticate(req, p)?;
    match (segments.as_slice(), req.method().clone()) {
        (["v1", "operator", "plans"], _) => plans(p),
        (["v1", "operator", "orgs", org, rest @ ..], method) => {
            let org = known_org(p, org).await?;
            match (rest, method) {
                (["plan"], Method::PUT) => assign(req, p, &org).await,
                (["plan"], _) => show(p, &org).await,
                (["usage"], _) => usage(req, p, &org).await,
                (["statements", month], _) => statement(req, p, &org, month).await,
                _ => Err(reply::not_found(req)),
            }
        }
        _ => Err(reply::not_found(req)),
    }
}

/// The request carries the operator token.
fn authenticate(req: &Request, p: &impl Platform) -> Result<(), ApiError> {
    let digests = var(p, "operator_secret_sha256").filter(|v| !v.trim().is_empty()).ok_or_else(|| {
        ApiError::new(ErrorCode::Unavailable, "the operator API is not configured (operator_secret_sha256)")
    })?;
    let digest = secret_digest(reply::bearer(req)?);
    let mut ok = false;
    for d in digests.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        ok |= digest_eq(&d.to_ascii_lowercase(), &digest);
    }
    if !ok {
        return Err(ApiError::unauthorized("invalid operator token"));
    }
    Ok(())
}

/// `org` when it names an organisation (or the meeting links' one).
async fn known_org(p: &impl Platform, org: &str) -> Result<String, ApiError> {
    if valid_org_id(org) && (org == guest_org(p) || orgs::exists(p, org).await?) {
        return Ok(org.to_owned());
    }
    Err(ApiError::not_found(format!("no organisation {org}")))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/operator/plans", tag = "operator",
    summary = "The plans document in force",
    security(("operator" = [])),
    responses(
        (status = 200, body = PlanBook),
        (status = 401, response = errors::Unauthorized),
        (status = 503, response = errors::Unavailable),
    )))]
fn plans(p: &impl Platform) -> Result<Response, ApiError> {
    Ok(reply::json(StatusCode::OK, &PlanBook::of(p)?))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/operator/orgs/{org}/plan", tag = "operator",
    summary = "An organisation's plan",
    params(OrgPath), security(("operator" = [])),
    responses(
        (status = 200, body = views::PlanView),
        (status = 401, response = errors::Unauthorized),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn show(p: &impl Platform, org: &str) -> Result<Response, ApiError> {
    Ok(reply::json(StatusCode::OK, &views::plan_view(p, org).await?))
}

#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/v1/operator/orgs/{org}/plan", tag = "operator",
    summary = "Move an organisation to a plan (from now on; earlier months keep theirs)",
    request_body = AssignPlan, params(OrgPath), security(("operator" = [])),
    responses(
        (status = 200, body = views::PlanView),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 404, response = errors::NotFound),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn assign(req: &Request, p: &impl Platform, org: &str) -> Result<Response, ApiError> {
    let body: AssignPlan = reply::parse_json(req)?;
    let book = PlanBook::of(p)?;
    if book.get(&body.plan).is_none() {
        return Err(ApiError::bad_request(format!("no plan {:?}; the plans are {}", body.plan, book.ids().join(", "))));
    }
    if org == guest_org(p) {
        return Err(ApiError::bad_request(format!(
            "the meeting links' organisation is always on the document's guest_plan ({})",
            book.guest_plan
        )));
    }
    let current = org_plan::get(p, org).await?;
    if current.as_ref().is_none_or(|c| c.plan != body.plan) {
        org_plan::put(p, org, &OrgPlan::reassigned(current, &body.plan, p.now_ms())).await?;
    }
    Ok(reply::json(StatusCode::OK, &views::plan_view(p, org).await?))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/operator/orgs/{org}/usage", tag = "operator",
    summary = "An organisation's usage in a month, with a daily breakdown",
    params(OrgPath, views::UsageQuery), security(("operator" = [])),
    responses(
        (status = 200, body = views::UsageView),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn usage(req: &Request, p: &impl Platform, org: &str) -> Result<Response, ApiError> {
    let month = month_param(req, p)?;
    Ok(reply::json(StatusCode::OK, &views::usage_view(p, org, &month).await?))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/operator/orgs/{org}/statements/{month}", tag = "operator",
    summary = "An organisation's statement of a month (JSON, or CSV)",
    params(OrgStatementPath), security(("operator" = [])),
    responses(
        (status = 200, description = "The statement: JSON, or CSV (one row per line item, then the total)",
            content((crate::statement::Statement = "application/json"), (String = "text/csv"))),
        (status = 401, response = errors::Unauthorized),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn statement(req: &Request, p: &impl Platform, org: &str, month: &str) -> Result<Response, ApiError> {
    views::statement_response(req, p, org, month).await
}
