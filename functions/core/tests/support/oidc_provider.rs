//! A small OpenID Connect provider of our own, for tests: discovery, an authorization step
//! (the user consenting, called directly by the test), a token endpoint that checks the code,
//! redirect URI, client credentials and PKCE verifier, and a JWKS. It can misbehave on request
//! to show that Origo refuses what it should.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use sha2::{Digest, Sha256};

pub const ISSUER: &str = "https://idp.test";
pub const CLIENT_ID: &str = "origo-client";
pub const CLIENT_SECRET: &str = "idp-client-secret";

/// Ways the provider can misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    None,
    WrongNonce,
    WrongAudience,
    WrongIssuer,
    Expired,
    SignedByAnotherKey,
}

pub struct User {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: String,
    sub: String,
}

pub struct Provider {
    key: ed25519_dalek::SigningKey,
    other_key: ed25519_dalek::SigningKey,
    codes: RefCell<HashMap<String, Grant>>,
    users: RefCell<HashMap<String, User>>,
    counter: Cell<u32>,
    pub tamper: Cell<Tamper>,
    pub now_secs: Cell<u64>,
    pub token_requests: Cell<u32>,
}

fn json(status: u16, v: serde_json::Value) -> http::Response<Bytes> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Bytes::from(serde_json::to_vec(&v).unwrap()))
        .unwrap()
}

pub fn query_of(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), origo_functions::percent_encoding::decode(v).unwrap()))
        .collect()
}

impl Provider {
    pub fn new() -> Self {
        Provider {
            key: ed25519_dalek::SigningKey::from_bytes(&[42u8; 32]),
            other_key: ed25519_dalek::SigningKey::from_bytes(&[43u8; 32]),
            codes: RefCell::default(),
            users: RefCell::default(),
            counter: Cell::new(0),
            tamper: Cell::new(Tamper::None),
            now_secs: Cell::new(1_800_000_000),
            token_requests: Cell::new(0),
        }
    }

    pub fn add_user(&self, user: User) {
        self.users.borrow_mut().insert(user.sub.clone(), user);
    }

    /// The user `sub` consents at the authorization URL Origo sent the browser to; returns the
    /// URL the provider redirects back to (with `code` and `state`), or an error text.
    pub fn authorize(&self, authorization_url: &str, sub: &str) -> Result<String, String> {
        if !authorization_url.starts_with(&format!("{ISSUER}/authorize?")) {
            return Err("not our authorization endpoint".into());
        }
        let q = query_of(authorization_url);
        let get = |k: &str| q.get(k).cloned().ok_or(format!("missing {k}"));
        if get("response_type")? != "code" || get("client_id")? != CLIENT_ID {
            return Err("bad response_type or client_id".into());
        }
        if get("code_challenge_method")? != "S256" || get("code_challenge")?.len() != 43 {
            return Err("PKCE S256 required".into());
        }
        if !get("scope")?.split(' ').any(|s| s == "openid") {
            return Err("scope must include openid".into());
        }
        self.counter.set(self.counter.get() + 1);
        let code = format!("code-{}", self.counter.get());
        let redirect_uri = get("redirect_uri")?;
        self.codes.borrow_mut().insert(
            code.clone(),
            Grant {
                client_id: get("client_id")?,
                redirect_uri: redirect_uri.clone(),
                challenge: get("code_challenge")?,
                nonce: get("nonce")?,
                sub: sub.to_owned(),
            },
        );
        Ok(format!("{redirect_uri}?code={code}&state={}", get("state")?))
    }

    fn jwk(key: &ed25519_dalek::SigningKey, kid: &str) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
        })
    }

    /// Serves the provider's HTTP endpoints.
    pub fn handle(&self, req: &http::Request<Bytes>) -> http::Response<Bytes> {
        match (req.method().as_str(), req.uri().path()) {
            ("GET", "/.well-known/openid-configuration") => json(
                200,
                serde_json::json!({
                    "issuer": ISSUER,
                    "authorization_endpoint": format!("{ISSUER}/authorize"),
                    "token_endpoint": format!("{ISSUER}/token"),
                    "jwks_uri": format!("{ISSUER}/jwks"),
                    "response_types_supported": ["code"],
                    "id_token_signing_alg_values_supported": ["EdDSA"],
                    "code_challenge_methods_supported": ["S256"],
                }),
            ),
            ("GET", "/jwks") => json(200, serde_json::json!({ "keys": [Self::jwk(&self.key, "idp-1")] })),
            ("POST", "/token") => self.token(req),
            _ => json(404, serde_json::json!({ "error": "not_found" })),
        }
    }

    fn token(&self, req: &http::Request<Bytes>) -> http::Response<Bytes> {
        self.token_requests.set(self.token_requests.get() + 1);
        let form = query_of(&format!("?{}", String::from_utf8_lossy(req.body())));
        let get = |k: &str| form.get(k).cloned().unwrap_or_default();
        let invalid = |why: &str| json(400, serde_json::json!({ "error": "invalid_grant", "error_description": why }));
        if get("grant_type") != "authorization_code" {
            return invalid("grant_type");
        }
        if get("client_id") != CLIENT_ID || get("client_secret") != CLIENT_SECRET {
            return json(401, serde_json::json!({ "error": "invalid_client" }));
        }
        let Some(grant) = self.codes.borrow_mut().remove(&get("code")) else { return invalid("unknown or used code") };
        if grant.client_id != get("client_id") || grant.redirect_uri != get("redirect_uri") {
            return invalid("redirect_uri mismatch");
        }
        if URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier").as_bytes())) != grant.challenge {
            return invalid("PKCE verifier does not match");
        }
        let users = self.users.borrow();
        let Some(user) = users.get(&grant.sub) else { return invalid("unknown user") };
        let now = self.now_secs.get();
        let t = self.tamper.get();
        let claims = serde_json::json!({
            "iss": if t == Tamper::WrongIssuer { "https://evil.test" } else { ISSUER },
            "sub": user.sub,
            "aud": if t == Tamper::WrongAudience { "someone-else" } else { CLIENT_ID },
            "iat": now - 5,
            "exp": if t == Tamper::Expired { now - 120 } else { now + 300 },
            "nonce": if t == Tamper::WrongNonce { "not-the-nonce".to_owned() } else { grant.nonce },
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name,
        });
        let key = if t == Tamper::SignedByAnotherKey { &self.other_key } else { &self.key };
        let der = key.to_pkcs8_der().unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some("idp-1".into());
        let id_token =
            jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes())).unwrap();
        json(
            200,
            serde_json::json!({ "access_token": "idp-access", "token_type": "Bearer", "id_token": id_token, "expires_in": 300 }),
        )
    }
}
