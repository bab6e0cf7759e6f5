//! Sign-in with an OpenID Connect provider: authorization code flow with PKCE (S256), `state`
//! and `nonce` checked (OIDC Core §3.1, RFC 7636).
//!
//! * `GET /v1/auth/oidc/start` → `302` to the provider (the URL is also in the JSON body).
//!   State, nonce and the PKCE verifier are kept for 10 minutes
//!   ([`store::oidc`](crate::store::oidc)).
//! * `GET /v1/auth/oidc/callback?code&state` → the state is consumed (single use), the code is
//!   exchanged with the verifier, the ID token is verified against the provider's JWKS
//!   (signature, issuer, audience, expiry, nonce), and the account linked to `(iss, sub)` —
//!   created on first sign-in — gets a session like a password login. A provider that vouches
//!   for the email (`email_verified`) links the identity to the account registered with it;
//!   one never verified becomes the address owner's first: its password, its sessions and
//!   the identities linked to it before are dropped ([`address_proof`](crate::address_proof)).
//!
//! Variables: `oidc_issuer` (discovery at `{issuer}/.well-known/openid-configuration`),
//! `oidc_client_id`, `oidc_client_secret` (optional: public clients rely on PKCE),
//! `oidc_redirect_uri` (default `{public_url}/v1/auth/oidc/callback`), `oidc_scopes`
//! (default `openid email profile`). The provider's hosts must be in the component's
//! `allowed_outbound_hosts`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Method, StatusCode, header};
use origo_shared::token::{self, Expectations, Jwks, KeySet, TokenKey};
use origo_shared::{ApiError, ErrorCode};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::address_proof::{self, Password};
use crate::email_address;
#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::names::MAX_NAME_CHARS;
use crate::percent_encoding::{decode, encode};
use crate::platform::{Platform, PlatformExt};
use crate::reply;
use crate::session;
use crate::store::account::{self as accounts, Account};
use crate::store::oidc::{self as stored, PendingSignIn};
use crate::variables::var;
use crate::{Request, Response};

/// How long a sign-in may take between start and callback.
pub const STATE_TTL_MS: u64 = 10 * 60 * 1000;

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    id_token: String,
}

struct Provider {
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
}

fn provider(p: &impl Platform) -> Result<Provider, ApiError> {
    let missing = || ApiError::not_found("OIDC sign-in is not configured on this deployment");
    Ok(Provider {
        issuer: var(p, "oidc_issuer").ok_or_else(missing)?.trim_end_matches('/').to_owned(),
        client_id: var(p, "oidc_client_id").ok_or_else(missing)?,
        client_secret: var(p, "oidc_client_secret"),
    })
}

fn bad_gateway(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadGateway, msg)
}

async fn fetch_json<T: serde::de::DeserializeOwned>(
    p: &impl Platform,
    req: http::Request<Bytes>,
) -> Result<T, ApiError> {
    let url = req.uri().to_string();
    let res = p.http_send(req).await.map_err(|e| bad_gateway(format!("the identity provider is unreachable: {e}")))?;
    if !res.status().is_success() {
        return Err(bad_gateway(format!("the identity provider answered {} at {url}", res.status().as_u16())));
    }
    serde_json::from_slice(res.body())
        .map_err(|e| bad_gateway(format!("unexpected answer from the identity provider: {e}")))
}

async fn discover(p: &impl Platform, provider: &Provider) -> Result<Discovery, ApiError> {
    let url = format!("{}/.well-known/openid-configuration", provider.issuer);
    let req = http::Request::get(url).body(Bytes::new()).map_err(|_| ApiError::internal("oidc_issuer is not a URL"))?;
    let d: Discovery = fetch_json(p, req).await?;
    if d.issuer.trim_end_matches('/') != provider.issuer {
        return Err(bad_gateway("the provider's discovery document names another issuer"));
    }
    Ok(d)
}

/// Serves `/v1/auth/oidc/{start,callback}`.
pub async fn route(req: &Request, p: &impl Platform, action: &str) -> Result<Response, ApiError> {
    match (action, req.method()) {
        ("start", &Method::GET) => start(req, p).await,
        ("callback", &Method::GET) => callback(req, p).await,
        ("start" | "callback", _) => Ok(reply::method_not_allowed(req, "GET")),
        _ => Err(reply::not_found(req)),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/auth/oidc/start", tag = "auth",
    summary = "Start an OIDC sign-in (redirects to the provider)",
    security(),
    responses(
        (status = 302, description = "Redirect to the provider; the URL is also in the body as `{authorization_url}`"),
        (status = 404, response = errors::NotFound),
        (status = 502, response = errors::BadGateway),
        (status = 503, response = errors::Unavailable),
    )))]
async fn start(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let provider = provider(p)?;
    let discovery = discover(p, &provider).await?;
    let redirect_uri = var(p, "oidc_redirect_uri")
        .unwrap_or_else(|| format!("{}/v1/auth/oidc/callback", reply::public_base(req, var(p, "public_url"))));
    let state = p.random_hex(16);
    let nonce = p.random_hex(16);
    let mut raw = [0u8; 32];
    p.random(&mut raw);
    let verifier = URL_SAFE_NO_PAD.encode(raw);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let pending = PendingSignIn {
        nonce: nonce.clone(),
        verifier,
        redirect_uri: redirect_uri.clone(),
        expires_at_ms: p.now_ms() + STATE_TTL_MS,
    };
    stored::put_pending(p, &state, &pending).await?;
    let scopes = var(p, "oidc_scopes").unwrap_or_else(|| "openid email profile".into());
    let sep = if discovery.authorization_endpoint.contains('?') { '&' } else { '?' };
    let url = format!(
        "{}{sep}response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&nonce={}&code_challenge={}&code_challenge_method=S256",
        discovery.authorization_endpoint,
        encode(&provider.client_id),
        encode(&redirect_uri),
        encode(&scopes),
        state,
        nonce,
        challenge,
    );
    let mut res = reply::json(StatusCode::FOUND, &serde_json::json!({ "authorization_url": url }));
    let location =
        http::HeaderValue::from_str(&url).map_err(|_| bad_gateway("the authorization endpoint is not a valid URL"))?;
    res.headers_mut().insert(header::LOCATION, location);
    Ok(res)
}

fn query(req: &Request, name: &str) -> Option<String> {
    reply::query_param(req, name).and_then(decode)
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/auth/oidc/callback", tag = "auth",
    summary = "Finish an OIDC sign-in",
    params(("code" = String, Query, max_length = 2048), ("state" = String, Query, max_length = 128)), security(),
    responses(
        (status = 200, body = crate::session::Session),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 404, response = errors::NotFound),
        (status = 409, response = errors::Conflict),
        (status = 502, response = errors::BadGateway),
        (status = 503, response = errors::Unavailable),
    )))]
async fn callback(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let provider = provider(p)?;
    if let Some(err) = query(req, "error") {
        let err: String = err.chars().filter(|c| !c.is_control()).take(100).collect();
        return Err(ApiError::unauthorized(format!("the identity provider refused the sign-in: {err}")));
    }
    let state =
        query(req, "state").filter(|s| s.len() <= 128).ok_or_else(|| ApiError::bad_request("state is missing"))?;
    let code =
        query(req, "code").filter(|c| c.len() <= 2048).ok_or_else(|| ApiError::bad_request("code is missing"))?;
    // Single use, whatever happens next.
    let pending = stored::take_pending(p, &state)
        .await?
        .ok_or_else(|| ApiError::bad_request("unknown or already used sign-in state; start again"))?;
    if pending.expires_at_ms <= p.now_ms() {
        return Err(ApiError::bad_request("the sign-in took too long; start again"));
    }
    let discovery = discover(p, &provider).await?;

    let mut form = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&client_id={}&code_verifier={}",
        encode(&code),
        encode(&pending.redirect_uri),
        encode(&provider.client_id),
        encode(&pending.verifier)
    );
    if let Some(secret) = &provider.client_secret {
        form.push_str(&format!("&client_secret={}", encode(secret)));
    }
    let token_req = http::Request::post(&discovery.token_endpoint)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(Bytes::from(form))
        .map_err(|_| bad_gateway("the token endpoint is not a valid URL"))?;
    let answer: TokenAnswer = fetch_json(p, token_req).await?;

    let jwks_req =
        http::Request::get(&discovery.jwks_uri).body(Bytes::new()).map_err(|_| bad_gateway("bad jwks_uri"))?;
    let jwks: Jwks = fetch_json(p, jwks_req).await?;
    let mut keys = KeySet::new();
    for jwk in &jwks.keys {
        if let Ok(k) = TokenKey::from_public_jwk(jwk) {
            keys.insert(k);
        }
    }
    let expect = Expectations::new(provider.issuer.clone(), provider.client_id.clone()).with_leeway(60);
    let id = token::verify_id_token(&answer.id_token, &keys, &expect, p.now_secs())
        .map_err(|e| ApiError::unauthorized(format!("the ID token was refused: {e}")))?;
    if id.nonce.as_deref() != Some(pending.nonce.as_str()) {
        return Err(ApiError::unauthorized("the ID token was refused: nonce does not match this sign-in"));
    }

    let account = match stored::linked_account(p, &id.iss, &id.sub).await? {
        Some(acct) => accounts::load(p, &acct).await?,
        None => None,
    };
    let account = match account {
        Some(a) => a,
        None => {
            let email =
                id.email.as_deref().ok_or_else(|| bad_gateway("the provider returned no email (scope email)"))?;
            let email =
                email_address::normalize(email).map_err(|_| bad_gateway("the provider returned an invalid email"))?;
            let verified = id.email_verified == Some(true);
            let a = match accounts::find_by_email(p, &email).await? {
                // Link to an existing account only when the provider vouches for the address;
                // one never verified becomes the address owner's (its password and sessions go).
                Some(existing) if verified && existing.verified => existing,
                Some(existing) if verified => address_proof::proved(p, existing, Password::Clear).await?,
                Some(_) => {
                    return Err(ApiError::new(
                        ErrorCode::Conflict,
                        "an account with this email exists and the provider has not verified the address",
                    ));
                }
                None => {
                    let a = Account {
                        id: format!("acct_{}", p.random_hex(10)),
                        email,
                        name: id.name.clone().filter(|n| n.chars().count() <= MAX_NAME_CHARS),
                        password_hash: None,
                        verified,
                        created_at_ms: p.now_ms(),
                        ..Account::default()
                    };
                    accounts::insert(p, &a).await?;
                    a
                }
            };
            let mut a = a;
            let digest = stored::link(p, &id.iss, &id.sub, &a.id).await?;
            if !a.oidc_links.contains(&digest) {
                a.oidc_links.push(digest);
                accounts::save(p, &a).await?;
            }
            a
        }
    };
    let session = session::start(p, &account).await?;
    Ok(reply::json(StatusCode::OK, &session))
}
