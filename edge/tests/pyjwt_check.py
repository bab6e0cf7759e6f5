"""Checks Origo tokens with PyJWT, an implementation independent of ours.

  pyjwt_check.py verify JWKS_URL TOKEN...   -> JSON list of the verified claims (exit 1 on any failure)
  pyjwt_check.py forge KID CLAIMS_JSON       -> a token signed by a fresh Ed25519 key under KID
  pyjwt_check.py forge-hs KID CLAIMS_JSON    -> a token HMAC-signed with a guessed secret under KID
"""
import json
import sys

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def main() -> int:
    mode = sys.argv[1]
    if mode == "verify":
        client = jwt.PyJWKClient(sys.argv[2])
        out = []
        for token in sys.argv[3:]:
            key = client.get_signing_key_from_jwt(token)
            out.append(jwt.decode(token, key.key, algorithms=["EdDSA"], audience="origo", issuer="origo"))
        print(json.dumps(out))
        return 0
    if mode == "forge":
        key = Ed25519PrivateKey.generate()
        print(jwt.encode(json.loads(sys.argv[3]), key, algorithm="EdDSA", headers={"kid": sys.argv[2]}))
        return 0
    if mode == "forge-hs":
        secret = "guessed-secret-guessed-secret-guessed"
        print(jwt.encode(json.loads(sys.argv[3]), secret, algorithm="HS256", headers={"kid": sys.argv[2]}))
        return 0
    print(f"unknown mode {mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
