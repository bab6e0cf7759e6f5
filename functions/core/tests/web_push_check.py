"""An independent reading of a web push request Origo built: decrypts the body with the
`http_ece` package (RFC 8188/8291 `aes128gcm`) using the subscription's own private key and
auth secret, and verifies the VAPID JWT (RFC 8292) with PyJWT and `cryptography`.

Usage: web_push_check.py BODY_B64URL UA_PRIVATE_B64URL AUTH_B64URL AUTHORIZATION AUDIENCE NOW
Prints the plaintext; exits non-zero when anything does not check out."""

import base64
import sys

import http_ece
import jwt
from cryptography.hazmat.primitives.asymmetric import ec


def b64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def main():
    body, ua_private, auth, authorization, audience, now = sys.argv[1:7]
    private_key = ec.derive_private_key(int.from_bytes(b64(ua_private), "big"), ec.SECP256R1())
    plaintext = http_ece.decrypt(b64(body), private_key=private_key, auth_secret=b64(auth), version="aes128gcm")

    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid", f"scheme {scheme!r}"
    fields = dict(p.strip().split("=", 1) for p in params.split(","))
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64(fields["k"]))
    claims = jwt.decode(fields["t"], public_key, algorithms=["ES256"], audience=audience,
                        options={"require": ["aud", "exp", "sub"], "verify_exp": False})
    assert 0 < claims["exp"] - int(now) <= 24 * 3600, f"exp {claims['exp']} is not within a day of {now}"
    assert claims["sub"].startswith(("mailto:", "https:")), claims["sub"]
    assert jwt.get_unverified_header(fields["t"])["alg"] == "ES256"
    sys.stdout.write(plaintext.decode())


if __name__ == "__main__":
    main()
