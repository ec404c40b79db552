#!/usr/bin/env bash
# Writes the seed corpora into fuzz/corpus/<target>/ from the cases of the test suite
# (tests/attacks.rs, tests/refresh.rs, tests/protected.rs). Placeholders such as @RT@ are
# replaced by each target with a genuine token (see src/lib.rs).
set -euo pipefail
cd "$(dirname "$0")"

seed() { # target name bytes (printf format)
  mkdir -p "corpus/$1"
  printf "$3" > "corpus/$1/$2"
}

t=authorization_header
seed $t genuine 'Bearer @AT@'
seed $t lowercase 'bearer @AT@'
seed $t two-spaces 'Bearer  @AT@'
seed $t tab 'Bearer\t@AT@'
seed $t trailing 'Bearer @AT@ x'
seed $t two-headers 'Bearer @AT@\nBearer @AT@'
seed $t cookie 'cookie:theme=dark; at=@AT@'
seed $t header-and-cookie 'Bearer @AT@\ncookie:at=@AT@'
seed $t cookie-twice 'cookie:at=@AT@; at=@AT@'
seed $t basic 'Basic dXNlcjpwYXNz'
seed $t empty 'Bearer '
seed $t non-ascii 'Bearer \xc3\xa9t\xc3\xa9'
seed $t padded 'Bearer @AT@=='

t=access_token
seed $t genuine '@AT@'
seed $t forged '{"alg":"HS256","typ":"at+jwt","kid":"@KID@"}\n{"sub":"u","sid":"@SID@","jti":"j","iat":@NOW@,"exp":@EXP@}'
seed $t none '{"alg":"none","typ":"at+jwt","kid":"@KID@"}\n{"sub":"u","sid":"@SID@","jti":"j","iat":@NOW@,"exp":@EXP@}'
seed $t crit '{"alg":"HS256","typ":"at+jwt","kid":"@KID@","crit":["exp"]}\n{"sub":"u","sid":"@SID@","jti":"j","iat":@NOW@,"exp":@EXP@}'
seed $t jku '{"alg":"HS256","typ":"at+jwt","kid":"@KID@","jku":"http://127.0.0.1/jwks","x5u":"http://127.0.0.1/x5u"}\n{"sub":"u","sid":"@SID@","jti":"j","iat":@NOW@,"exp":@EXP@}'
seed $t kid-path '{"alg":"HS256","typ":"at+jwt","kid":"../../etc/passwd"}\n{"sub":"u","sid":"@SID@","jti":"j","iat":@NOW@,"exp":@EXP@}'
seed $t dup-keys '{"alg":"HS256","typ":"at+jwt","kid":"@KID@"}\n{"sub":"u","sub":"admin","sid":"@SID@","jti":"j","iat":@NOW@,"exp":@EXP@}'
seed $t exp-string '{"alg":"HS256","typ":"at+jwt","kid":"@KID@"}\n{"sub":"u","sid":"@SID@","jti":"j","iat":@NOW@,"exp":"@EXP@"}'
seed $t nested '{"alg":"HS256","typ":"at+jwt","kid":"@KID@"}\n{"sub":"u","sid":"@SID@","jti":"j","iat":@NOW@,"exp":@EXP@,"x":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}'

t=access_token_fast_path
# Byte 0: key set (mode % 3) and form (mode / 3 % 4: token, header+claims, ours, ours under
# the other key); byte 1: the clock, 128 = @NOW@.
claims='{"sub":"u","sid":"@SID@","jti":"j","iat":@NOW@,"exp":@EXP@,"iss":"https://issuer.example","aud":"api"}'
seed $t genuine-one-key "\x06\x80$claims"
seed $t genuine-two-keys "\x07\x80$claims"
seed $t same-kid "\x08\x80$claims"
seed $t other-key "\x0a\x80$claims"
seed $t expired "\x06\x00"'{"sub":"u","sid":"@SID@","jti":"j","iat":1,"exp":2}'
seed $t aud-list "\x07\x80"'{"sub":"u","sid":"@SID@","jti":"j","iat":@NOW@,"exp":@EXP@,"iss":"https://issuer.example","aud":["api"]}'
seed $t exp-float "\x06\x80"'{"sub":"u","sid":"@SID@","jti":"j","iat":@NOW@,"exp":@EXP@.5}'
seed $t escaped-iss "\x07\x80"'{"sub":"u","sid":"@SID@","jti":"j","iat":@NOW@,"exp":@EXP@,"iss":"https:\\/\\/issuer.example","aud":"api"}'
seed $t header-claims "\x03\x80"'{"alg":"HS256","typ":"at+jwt","kid":"k1"}\n'"$claims"
seed $t raw-genuine '\x00\x80@AT@'

t=refresh_token
seed $t genuine '@RT@'
seed $t doubled '@RT@@RT@'
seed $t access '@AT@'
seed $t garbage 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'

t=refresh_sequence
# (op, a, b) triples: rotate, replay inside the window, past it, on a skewed instance, logout.
seed $t rotate-replay '\x00\x00\x00\x00\x00\x01'
seed $t replay-after-grace '\x00\x00\x00\x03\x65\x00\x00\x00\x01'
seed $t skewed-instance '\x00\x01\x00\x05\x01\x1e'
seed $t step-back '\x00\x02\x00\x04\x32\x00\x00\x02\x01'
seed $t garbled-logout '\x01\x00\x07\x02\x00\x00\x00\x00\x00'

t=dpop_proof
# Byte 0: bit 0 the protected request (else POST /token), bit 1 `header\ncomponents` signed
# by the world's key (else the DPoP header's value itself).
H='{"typ":"dpop+jwt","alg":"ES256","jwk":@JWK@}'
seed $t genuine-grant '\x00@PROOF@'
seed $t genuine-protected '\x01@PROOF@'
seed $t two-proofs '\x00@PROOF@.@PROOF@'
seed $t trailing-space '\x00@PROOF@ '
seed $t signed-grant "\\x02$H\\n{\"jti\":\"j1\",\"htm\":\"POST\",\"htu\":\"@HTU@\",\"iat\":@NOW@}"
seed $t signed-protected "\\x03$H\\n{\"jti\":\"j1\",\"htm\":\"GET\",\"htu\":\"@HTU@\",\"iat\":@NOW@,\"ath\":\"@ATH@\"}"
seed $t no-ath "\\x03$H\\n{\"jti\":\"j1\",\"htm\":\"GET\",\"htu\":\"@HTU@\",\"iat\":@NOW@}"
seed $t fractional-iat "\\x02$H\\n{\"jti\":\"j1\",\"htm\":\"POST\",\"htu\":\"@HTU@\",\"iat\":@NOW@.9}"
seed $t stale-iat "\\x02$H\\n{\"jti\":\"j1\",\"htm\":\"POST\",\"htu\":\"@HTU@\",\"iat\":1}"
seed $t wrong-htm "\\x02$H\\n{\"jti\":\"j1\",\"htm\":\"GET\",\"htu\":\"@HTU@\",\"iat\":@NOW@}"
seed $t htu-query "\\x02$H\\n{\"jti\":\"j1\",\"htm\":\"POST\",\"htu\":\"@HTU@?a=b\",\"iat\":@NOW@}"
seed $t htu-case '\x02{"typ":"dpop+jwt","alg":"ES256","jwk":@JWK@}\n{"jti":"j1","htm":"POST","htu":"HTTPS://API.EXAMPLE.COM:443/./token","iat":@NOW@}'
seed $t empty-jti "\\x02$H\\n{\"jti\":\"\",\"htm\":\"POST\",\"htu\":\"@HTU@\",\"iat\":@NOW@}"
seed $t typ-jwt '\x02{"typ":"JWT","alg":"ES256","jwk":@JWK@}\n{"jti":"j1","htm":"POST","htu":"@HTU@","iat":@NOW@}'
seed $t alg-none '\x02{"typ":"dpop+jwt","alg":"none","jwk":@JWK@}\n{"jti":"j1","htm":"POST","htu":"@HTU@","iat":@NOW@}'
seed $t alg-hs256 '\x02{"typ":"dpop+jwt","alg":"HS256","jwk":{"kty":"oct","k":"c2VjcmV0"}}\n{"jti":"j1","htm":"POST","htu":"@HTU@","iat":@NOW@}'
seed $t alg-eddsa-ec-key '\x02{"typ":"dpop+jwt","alg":"EdDSA","jwk":@JWK@}\n{"jti":"j1","htm":"POST","htu":"@HTU@","iat":@NOW@}'
seed $t crit '\x02{"typ":"dpop+jwt","alg":"ES256","jwk":@JWK@,"crit":["exp"]}\n{"jti":"j1","htm":"POST","htu":"@HTU@","iat":@NOW@}'
seed $t no-jwk '\x02{"typ":"dpop+jwt","alg":"ES256"}\n{"jti":"j1","htm":"POST","htu":"@HTU@","iat":@NOW@}'
seed $t other-key '\x02{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis","y":"y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE"}}\n{"jti":"j1","htm":"POST","htu":"@HTU@","iat":@NOW@}'
seed $t private-d '\x02{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis","y":"y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE","d":"AAAA"}}\n{"jti":"j1","htm":"POST","htu":"@HTU@","iat":@NOW@}'
seed $t not-json '\x02{"typ":"dpop+jwt"\n}{'
seed $t garbage '\x00eyJ.eyJ.sig'

for t in refresh_body logout_body; do
  seed $t json-genuine '\x00{"refreshToken":"@RT@"}'
  seed $t json-charset '\x0a{"refreshToken":"@RT@"}'
  seed $t json-extra '\x00{"refreshToken":"@RT@","extra":[1,{"a":null}]}'
  seed $t json-wrong-type '\x00{"refreshToken":42}'
  seed $t json-dup '\x00{"refreshToken":"@RT@","refreshToken":"@RT@"}'
  seed $t json-bom '\x00\xef\xbb\xbf{"refreshToken":"@RT@"}'
  seed $t json-array '\x00["@RT@"]'
  seed $t json-escaped '\x00{"refreshToken":"\\u0040RT@"}'
  seed $t no-type '\x05{"refreshToken":"@RT@"}'
  seed $t text-plain '\x04{"refreshToken":"@RT@"}'
  seed $t lying-length '\x10{"refreshToken":"@RT@"}'
done
t=refresh_body
seed $t form-genuine '\x01grant_type=refresh_token&refresh_token=@RT@'
seed $t form-twice '\x01grant_type=refresh_token&refresh_token=@RT@&refresh_token=@RT@'
seed $t form-grant '\x01grant_type=password&refresh_token=@RT@'
seed $t form-encoded '\x0bgrant_type=refresh%5Ftoken&refresh_token=@RT@'
t=logout_body
seed $t form-genuine '\x01token=@RT@&token_type_hint=refresh_token'
seed $t form-twice '\x01token=@RT@&token=@RT@'
seed $t form-access '\x01token=@AT@&token_type_hint=access_token'
