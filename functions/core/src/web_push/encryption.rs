//! Message encryption for web push (RFC 8291) in the `aes128gcm` content coding (RFC 8188).
//!
//! The sender makes an ephemeral P-256 key pair per message, agrees a secret with the
//! browser's subscription key (`p256dh`) by ECDH, mixes in the subscription's `auth` secret
//! with HKDF-SHA256, and seals the payload as one AES-128-GCM record. The body is the RFC 8188
//! header — salt (16 bytes), record size (u32, big-endian), key id length (65) and key id (the
//! ephemeral public key, uncompressed) — followed by that record.
//!
//! Pure: the caller passes the ephemeral secret and the salt (from [`Platform::random`]).
//!
//! [`Platform::random`]: crate::Platform::random

use aes_gcm::aead::Aead;
use aes_gcm::{Aes128Gcm, KeyInit, Nonce};
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// The record size Origo writes: one record of at most this many bytes.
pub const RECORD_SIZE: u32 = 4096;
/// Bytes of the RFC 8188 header: salt, record size, key id length, key id.
pub const HEADER_BYTES: usize = 16 + 4 + 1 + PUBLIC_KEY_BYTES;
/// An uncompressed P-256 public key.
pub const PUBLIC_KEY_BYTES: usize = 65;
/// The subscription's authentication secret.
pub const AUTH_SECRET_BYTES: usize = 16;
const TAG_BYTES: usize = 16;
/// The largest payload one record carries (RFC 8291 §4: push services take 4096-byte bodies).
pub const MAX_PAYLOAD_BYTES: usize = RECORD_SIZE as usize - TAG_BYTES - 1 - HEADER_BYTES;

/// Why a message could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncryptionError {
    #[error("the subscription's p256dh is not an uncompressed P-256 public key")]
    BadSubscriptionKey,
    #[error("the subscription's auth secret must be 16 bytes")]
    BadAuthSecret,
    #[error("the ephemeral secret is not a valid P-256 scalar")]
    BadEphemeralSecret,
    #[error("the payload is {0} bytes; at most {MAX_PAYLOAD_BYTES} fit one push message")]
    TooLarge(usize),
}

/// What the sender picks per message: its ephemeral secret key and the salt.
#[derive(Clone)]
pub struct Ephemeral {
    /// A P-256 secret scalar, big-endian (random bytes are valid with overwhelming probability).
    pub secret: [u8; 32],
    pub salt: [u8; 16],
}

/// Encrypts `plaintext` for the subscription keys `ua_public` (`p256dh`, 65 bytes) and
/// `auth_secret` (`auth`, 16 bytes): the whole request body, `Content-Encoding: aes128gcm`.
pub fn encrypt(
    plaintext: &[u8],
    ua_public: &[u8],
    auth_secret: &[u8],
    ephemeral: &Ephemeral,
) -> Result<Vec<u8>, EncryptionError> {
    if plaintext.len() > MAX_PAYLOAD_BYTES {
        return Err(EncryptionError::TooLarge(plaintext.len()));
    }
    if ua_public.len() != PUBLIC_KEY_BYTES || ua_public[0] != 0x04 {
        return Err(EncryptionError::BadSubscriptionKey);
    }
    let ua_key = PublicKey::from_sec1_bytes(ua_public).map_err(|_| EncryptionError::BadSubscriptionKey)?;
    if auth_secret.len() != AUTH_SECRET_BYTES {
        return Err(EncryptionError::BadAuthSecret);
    }
    let as_secret = SecretKey::from_slice(&ephemeral.secret).map_err(|_| EncryptionError::BadEphemeralSecret)?;
    let as_public = as_secret.public_key().to_encoded_point(false);
    let as_public = as_public.as_bytes();

    let shared = p256::ecdh::diffie_hellman(as_secret.to_nonzero_scalar(), ua_key.as_affine());
    // RFC 8291 §3.4: IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" 0 ua_public as_public, 32).
    let mut key_info = Vec::with_capacity(14 + 2 * PUBLIC_KEY_BYTES);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth_secret), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .map_err(|_| EncryptionError::BadAuthSecret)?;
    // RFC 8188 §2.2 and §2.3: the content key and the nonce from the salt and IKM.
    let prk = Hkdf::<Sha256>::new(Some(&ephemeral.salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).map_err(|_| EncryptionError::BadAuthSecret)?;
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce).map_err(|_| EncryptionError::BadAuthSecret)?;

    // One record, the last: the payload, then the delimiter 2, no padding.
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(2);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| EncryptionError::BadAuthSecret)?;
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), record.as_slice())
        .map_err(|_| EncryptionError::TooLarge(plaintext.len()))?;

    let mut body = Vec::with_capacity(HEADER_BYTES + sealed.len());
    body.extend_from_slice(&ephemeral.salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(PUBLIC_KEY_BYTES as u8);
    body.extend_from_slice(as_public);
    body.extend_from_slice(&sealed);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        B64.decode(s).unwrap()
    }

    /// RFC 8291 Appendix A: the published example, byte for byte.
    #[test]
    fn the_rfc_8291_example() {
        let plaintext = b64("V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24");
        assert_eq!(plaintext, b"When I grow up, I want to be a watermelon");
        let ephemeral = Ephemeral {
            secret: b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw").try_into().unwrap(),
            salt: b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap(),
        };
        let ua_public = b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        let auth = b64("BTBZMqHH6r4Tts7J_aSIgg");
        let body = encrypt(&plaintext, &ua_public, &auth, &ephemeral).unwrap();
        assert_eq!(
            B64.encode(&body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn refuses_bad_keys_and_oversized_payloads() {
        let ephemeral = Ephemeral { secret: [7; 32], salt: [1; 16] };
        let ua = SecretKey::from_slice(&[9; 32]).unwrap().public_key().to_encoded_point(false);
        let ua = ua.as_bytes();
        assert!(encrypt(b"hi", ua, &[0; 16], &ephemeral).is_ok());
        assert_eq!(encrypt(b"hi", &ua[..33], &[0; 16], &ephemeral), Err(EncryptionError::BadSubscriptionKey));
        let mut off_curve = ua.to_vec();
        off_curve[64] ^= 1;
        assert_eq!(encrypt(b"hi", &off_curve, &[0; 16], &ephemeral), Err(EncryptionError::BadSubscriptionKey));
        assert_eq!(encrypt(b"hi", ua, &[0; 15], &ephemeral), Err(EncryptionError::BadAuthSecret));
        let zero = Ephemeral { secret: [0; 32], salt: [1; 16] };
        assert_eq!(encrypt(b"hi", ua, &[0; 16], &zero), Err(EncryptionError::BadEphemeralSecret));
        let big = vec![b'x'; MAX_PAYLOAD_BYTES + 1];
        assert_eq!(encrypt(&big, ua, &[0; 16], &ephemeral), Err(EncryptionError::TooLarge(MAX_PAYLOAD_BYTES + 1)));
        let full = encrypt(&big[1..], ua, &[0; 16], &ephemeral).unwrap();
        assert_eq!(full.len(), RECORD_SIZE as usize, "the largest payload fills a 4096-byte body");
    }
}
