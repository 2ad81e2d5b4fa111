"""Verify a jwtledger token with Debian's python3-jwt (PyJWT) and the
server's JWKS: jwt.PyJWKClient fetches the key named by the token's kid.
Run by interop_test.go with /usr/bin/python3.

Usage: pyjwt_verify.py JWKS_URI ISSUER AUDIENCE TOKEN
Prints the verified claims as JSON; exits 1 with the reason otherwise.
"""
import json
import sys

import jwt


def main():
    jwks_uri, issuer, audience, token = sys.argv[1:5]
    key = jwt.PyJWKClient(jwks_uri).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["ES256", "ES384", "ES512", "EdDSA", "RS256", "PS256"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud"]},
    )
    json.dump({"pyjwt": jwt.__version__, "claims": claims}, sys.stdout)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line for the Go test's failure message
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
