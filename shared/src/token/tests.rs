use super::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::Algorithm;

const NOW: u64 = 1_800_000_000;
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-origo";

fn hs_keys() -> KeySet {
    KeySet::new().with_key(TokenKey::hs256("hs-1", SECRET).unwrap())
}

fn ed_keys() -> KeySet {
    KeySet::new().with_key(TokenKey::ed25519_from_seed("ed-1", [7u8; 32]).unwrap())
}

fn expect() -> Expectations {
    Expectations::new("origo", "origo-room").with_leeway(0)
}

fn claims() -> Claims {
    Claims::new("origo", "origo-room", "alice", NOW, 600).with_name("Alice").with_grants(Grants::participant("standup"))
}

/// Builds a token from raw JSON parts and an HS256 secret, bypassing our issuer.
fn forge(header: &str, payload: &str, hmac_key: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let signing_input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(hmac_key).unwrap();
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(mac.finalize().into_bytes()))
}

fn payload_json(c: &Claims) -> String {
    serde_json::to_string(c).unwrap()
}

#[test]
fn hs256_round_trip_carries_every_grant() {
    let keys = hs_keys();
    let mut c = claims().with_metadata("{\"role\":\"host\"}").with_jti("t-1");
    c.grants.room_admin = true;
    c.grants.room_create = true;
    c.grants.hidden = true;
    let token = keys.issue(&c).unwrap();
    let back = verify(&token, &keys, &expect(), NOW + 1).unwrap();
    assert_eq!(back, c);
    assert!(back.grants.can_join("standup"));
    assert!(!back.grants.can_join("other"));
    assert!(back.grants.can_admin("standup"));
}

#[test]
fn header_names_the_key_and_algorithm() {
    let token = ed_keys().issue(&claims()).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some("ed-1"));
}

#[test]
fn eddsa_round_trip_and_jwks_verifies() {
    let keys = ed_keys();
    let token = keys.issue(&claims()).unwrap();
    assert_eq!(verify(&token, &keys, &expect(), NOW).unwrap(), claims());
    // A verifier that only has the published JWKS accepts it too.
    let jwks = keys.jwks();
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(jwks.keys[0].crv.as_deref(), Some("Ed25519"));
    let json = serde_json::to_string(&jwks).unwrap();
    let parsed: Jwks = serde_json::from_str(&json).unwrap();
    let public_only = KeySet::new().with_key(TokenKey::from_public_jwk(&parsed.keys[0]).unwrap());
    assert!(public_only.active_key().is_none(), "a public key never signs");
    assert_eq!(verify(&token, &public_only, &expect(), NOW).unwrap(), claims());
    assert_eq!(public_only.issue(&claims()), Err(TokenError::CannotSign("no signing key")));
}

#[test]
fn pkcs8_pem_key_matches_seed_key() {
    // `openssl genpkey -algorithm ed25519` output for the seed [7; 32].
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let pem = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).to_pkcs8_pem(Default::default()).unwrap();
    let from_pem = TokenKey::ed25519_from_pkcs8_pem("ed-1", &pem).unwrap();
    assert_eq!(from_pem.public_jwk(), ed_keys().get("ed-1").unwrap().public_jwk());
    assert!(TokenKey::ed25519_from_pkcs8_pem("x", "-----BEGIN NOTHING-----").is_err());
}

#[test]
fn hs256_secret_is_never_published_or_printed() {
    let keys = hs_keys();
    assert!(keys.jwks().keys.is_empty());
    let debug = format!("{keys:?}");
    assert!(!debug.contains("0123456789abcdef"), "{debug}");
}

#[test]
fn short_hmac_secret_is_refused() {
    assert!(matches!(TokenKey::hs256("k", b"short"), Err(TokenError::InvalidKey(_))));
}

#[test]
fn refuses_alg_none() {
    let c = claims();
    for alg in ["none", "None", "NONE"] {
        let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
        let unsigned = format!("{}.{}.", B64.encode(header), B64.encode(payload_json(&c)));
        assert_eq!(verify(&unsigned, &hs_keys(), &expect(), NOW), Err(TokenError::UnsupportedAlgorithm(alg.into())));
    }
}

#[test]
fn refuses_other_algorithms() {
    let header = r#"{"alg":"HS512","kid":"hs-1"}"#;
    let token = forge(header, &payload_json(&claims()), SECRET);
    assert_eq!(verify(&token, &hs_keys(), &expect(), NOW), Err(TokenError::UnsupportedAlgorithm("HS512".into())));
}

#[test]
fn refuses_wrong_key() {
    let other = KeySet::new().with_key(TokenKey::hs256("hs-1", &[9u8; 32]).unwrap());
    let token = other.issue(&claims()).unwrap();
    assert_eq!(verify(&token, &hs_keys(), &expect(), NOW), Err(TokenError::BadSignature));

    let other_ed = KeySet::new().with_key(TokenKey::ed25519_from_seed("ed-1", [8u8; 32]).unwrap());
    let token = other_ed.issue(&claims()).unwrap();
    assert_eq!(verify(&token, &ed_keys(), &expect(), NOW), Err(TokenError::BadSignature));
}

#[test]
fn refuses_unknown_kid() {
    let token = KeySet::new().with_key(TokenKey::hs256("hs-9", SECRET).unwrap()).issue(&claims()).unwrap();
    assert_eq!(verify(&token, &hs_keys(), &expect(), NOW), Err(TokenError::UnknownKey));
}

#[test]
fn refuses_tampered_payload() {
    let token = hs_keys().issue(&claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut c = claims();
    c.grants.room_admin = true;
    let tampered = format!("{}.{}.{}", parts[0], B64.encode(payload_json(&c)), parts[2]);
    assert_eq!(verify(&tampered, &hs_keys(), &expect(), NOW), Err(TokenError::BadSignature));
}

#[test]
fn refuses_expired() {
    let token = hs_keys().issue(&claims()).unwrap();
    assert_eq!(verify(&token, &hs_keys(), &expect(), NOW + 600), Err(TokenError::Expired));
    assert_eq!(verify(&token, &hs_keys(), &expect(), NOW + 10_000), Err(TokenError::Expired));
    // Leeway stretches the window, and only by its amount.
    let lenient = expect().with_leeway(30);
    assert!(verify(&token, &hs_keys(), &lenient, NOW + 620).is_ok());
    assert_eq!(verify(&token, &hs_keys(), &lenient, NOW + 630), Err(TokenError::Expired));
}

#[test]
fn refuses_not_yet_valid() {
    let mut c = claims();
    c.nbf = NOW + 100;
    let token = hs_keys().issue(&c).unwrap();
    assert_eq!(verify(&token, &hs_keys(), &expect(), NOW), Err(TokenError::NotYetValid));
    assert!(verify(&token, &hs_keys(), &expect(), NOW + 100).is_ok());
}

#[test]
fn refuses_wrong_audience_and_issuer() {
    let token = hs_keys().issue(&claims()).unwrap();
    let wrong_aud = Expectations::new("origo", "origo-billing").with_leeway(0);
    assert_eq!(verify(&token, &hs_keys(), &wrong_aud, NOW), Err(TokenError::WrongAudience));
    let wrong_iss = Expectations::new("someone-else", "origo-room").with_leeway(0);
    assert_eq!(verify(&token, &hs_keys(), &wrong_iss, NOW), Err(TokenError::WrongIssuer));
}

#[test]
fn refuses_algorithm_confusion() {
    // The classic attack: take the server's *public* Ed25519 key and use it as an HMAC secret,
    // naming the Ed25519 key's kid with alg HS256.
    let keys = ed_keys();
    let jwk = keys.jwks().keys[0].clone();
    let public = B64.decode(jwk.x.unwrap()).unwrap();
    for secret in [public.clone(), jwk.kid.as_bytes().to_vec()] {
        let token = forge(r#"{"alg":"HS256","kid":"ed-1"}"#, &payload_json(&claims()), &secret);
        assert_eq!(verify(&token, &keys, &expect(), NOW), Err(TokenError::AlgorithmMismatch));
    }
    // And the other way round: an EdDSA header naming an HS256 key.
    let hs = hs_keys();
    let ed_token =
        KeySet::new().with_key(TokenKey::ed25519_from_seed("hs-1", [1; 32]).unwrap()).issue(&claims()).unwrap();
    assert_eq!(verify(&ed_token, &hs, &expect(), NOW), Err(TokenError::AlgorithmMismatch));
}

#[test]
fn refuses_malformed_tokens() {
    let keys = hs_keys();
    for bad in ["", "abc", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln"] {
        let got = verify(bad, &keys, &expect(), NOW);
        assert!(matches!(got, Err(TokenError::Malformed) | Err(TokenError::BadSignature)), "{bad:?} -> {got:?}");
    }
    // A correctly signed token whose claims lack `exp` is malformed.
    let token = forge(r#"{"alg":"HS256","kid":"hs-1"}"#, r#"{"iss":"origo","aud":"origo-room","sub":"a"}"#, SECRET);
    assert_eq!(verify(&token, &keys, &expect(), NOW), Err(TokenError::Malformed));
}

#[test]
fn rotation_keeps_old_tokens_valid_until_retired() {
    let mut keys = hs_keys();
    let old = keys.issue(&claims()).unwrap();
    keys.insert(TokenKey::ed25519_from_seed("ed-2", [3; 32]).unwrap());
    keys.activate("ed-2").unwrap();
    let new = keys.issue(&claims()).unwrap();
    assert_eq!(jsonwebtoken::decode_header(&new).unwrap().kid.as_deref(), Some("ed-2"));
    assert!(verify(&old, &keys, &expect(), NOW).is_ok());
    assert!(verify(&new, &keys, &expect(), NOW).is_ok());
    keys.retire("hs-1");
    assert_eq!(verify(&old, &keys, &expect(), NOW), Err(TokenError::UnknownKey));
    assert!(verify(&new, &keys, &expect(), NOW).is_ok());
    assert_eq!(keys.active_key().unwrap().kid(), "ed-2");
}

#[test]
fn token_without_kid_uses_the_active_key_only() {
    let token = forge(r#"{"alg":"HS256"}"#, &payload_json(&claims()), SECRET);
    assert!(verify(&token, &hs_keys(), &expect(), NOW).is_ok());
    assert_eq!(verify(&token, &KeySet::new(), &expect(), NOW), Err(TokenError::UnknownKey));
}

#[test]
fn public_jwk_validation() {
    let mut jwk = ed_keys().jwks().keys[0].clone();
    jwk.x = Some(B64.encode([1u8; 5]));
    assert!(TokenKey::from_public_jwk(&jwk).is_err());
    jwk.crv = Some("X25519".into());
    assert!(TokenKey::from_public_jwk(&jwk).is_err());
    let rsa = PublicJwk {
        kty: "RSA".into(),
        kid: "rsa-1".into(),
        alg: "RS256".into(),
        key_use: Some("sig".into()),
        crv: None,
        x: None,
        n: Some(B64.encode([0xC5u8; 256])),
        e: Some("AQAB".into()),
    };
    let key = TokenKey::from_public_jwk(&rsa).unwrap();
    assert_eq!(key.algorithm(), KeyAlgorithm::RS256);
    let mut unsupported = rsa.clone();
    unsupported.alg = "PS512".into();
    assert!(TokenKey::from_public_jwk(&unsupported).is_err());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn arb_grants() -> impl Strategy<Value = Grants> {
        (proptest::option::of("[a-z0-9-]{1,24}"), any::<[bool; 7]>()).prop_map(|(room, b)| Grants {
            room,
            join: b[0],
            publish: b[1],
            subscribe: b[2],
            publish_data: b[3],
            room_admin: b[4],
            room_create: b[5],
            hidden: b[6],
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn claims_round_trip(identity in "\\PC{1,40}", name in proptest::option::of("\\PC{0,40}"),
                             metadata in proptest::option::of("\\PC{0,80}"), ttl in 1u64..86_400,
                             grants in arb_grants()) {
            let mut c = Claims::new("origo", "origo-room", identity, NOW, ttl).with_grants(grants);
            c.name = name;
            c.metadata = metadata;
            for keys in [hs_keys(), ed_keys()] {
                let token = keys.issue(&c).unwrap();
                prop_assert_eq!(verify(&token, &keys, &expect(), NOW).unwrap(), c.clone());
                prop_assert_eq!(verify(&token, &keys, &expect(), NOW + ttl), Err(TokenError::Expired));
            }
        }

        #[test]
        fn garbage_never_verifies(s in "\\PC{0,200}") {
            prop_assert!(verify(&s, &hs_keys(), &expect(), NOW).is_err());
        }
    }
}

#[test]
fn the_room_session_cap_travels_only_when_set() {
    let keys = hs_keys();
    let plain = claims();
    assert!(!payload_json(&plain).contains("room_sessions"), "absent unless set");
    let capped = claims().with_room_sessions(25);
    assert!(payload_json(&capped).contains("\"room_sessions\":25"));
    let back = verify(&keys.issue(&capped).unwrap(), &keys, &expect(), NOW + 1).unwrap();
    assert_eq!(back.room_sessions, Some(25));
    assert_eq!(verify(&keys.issue(&plain).unwrap(), &keys, &expect(), NOW + 1).unwrap().room_sessions, None);
}
