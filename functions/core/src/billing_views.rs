//! What the billing endpoints and the operator API both answer about an organisation: its
//! plan, a month's usage, a month's statement (JSON or CSV), and the `month` they name.

use http::StatusCode;
use origo_shared::ApiError;
use origo_shared::usage::month_of;
use serde::Serialize;

use crate::plan::{Plan, plan_at, plan_of};
use crate::platform::Platform;
use crate::reply;
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

/// The `month` query parameter (`YYYY-MM`), this month when absent; a 400 for one that is
/// no month.
pub fn month_param(req: &Request, p: &impl Platform) -> Result<String, ApiError> {
    match reply::query_param(req, "month") {
        Some(m) if month_bounds(m).is_some() => Ok(m.to_owned()),
        Some(_) => Err(ApiError::bad_request("month must be YYYY-MM")),
        None => Ok(month_of(p.now_ms())),
    }
}

/// `org`'s plan as its admins and the operator see it.
pub async fn plan_view(p: &impl Platform, org: &str) -> Result<PlanView, ApiError> {
    let (book, plan) = plan_of(p, org).await?;
    let assigned = org_plan::get(p, org).await?.filter(|a| a.plan == plan.id).map(|a| a.since_ms);
    let Plan { id, name, monthly_fee, limits, prices } = plan;
    Ok(PlanView { id, name, monthly_fee, limits, prices, currency: book.currency, assigned_since_ms: assigned })
}

/// `org`'s usage in `month` and its plan now.
pub async fn usage_view(p: &impl Platform, org: &str, month: &str) -> Result<UsageView, ApiError> {
    let usage = usage_of(p, org, month).await?;
    let (_, plan) = plan_of(p, org).await?;
    Ok(UsageView { month: month.to_owned(), usage, plan })
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
