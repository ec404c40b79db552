// A standard DPoP client against a running example server: panva's `dpop` (RFC 9449) makes
// the key pairs and the proofs; nothing here comes from this repository's own code.
//
// Run with: BASE_URL=http://127.0.0.1:3000 node tests/interop/dpop-client.mjs
// (the server with DPOP=optional or required). Prints one line per check; exits non-zero at
// the first one that fails.
import * as DPoP from 'dpop';

const base = process.env.BASE_URL;
if (!base) {
  console.error('BASE_URL is not set');
  process.exit(2);
}

function check(what, ok, detail) {
  if (!ok) {
    console.error(`FAIL ${what}: ${detail}`);
    process.exit(1);
  }
  console.log(`ok ${what}`);
}

async function json(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { text };
  }
}

async function scenario(alg, user, password) {
  const keys = await DPoP.generateKeyPair(alg, { extractable: false });
  const url = (path) => new URL(path, base).href;

  // Login: the proof binds the new session to this key.
  let response = await fetch(url('/login'), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      dpop: await DPoP.generateProof(keys, url('/login'), 'POST'),
    },
    body: JSON.stringify({ username: user, password }),
  });
  let body = await json(response);
  check(`${alg} login`, response.status === 200 && body.tokenType === 'DPoP',
    `${response.status} ${JSON.stringify(body)}`);
  let { accessToken, refreshToken } = body;

  // A protected request: the DPoP scheme, a proof with the token's hash.
  const proof = await DPoP.generateProof(keys, url('/api/dashboard'), 'GET', undefined, accessToken);
  response = await fetch(url('/api/dashboard'), {
    headers: { authorization: `DPoP ${accessToken}`, dpop: proof },
  });
  body = await json(response);
  check(`${alg} protected request`, response.status === 200 && String(body.message).includes(user),
    `${response.status} ${JSON.stringify(body)}`);

  // The same proof again is a replay.
  response = await fetch(url('/api/dashboard'), {
    headers: { authorization: `DPoP ${accessToken}`, dpop: proof },
  });
  const challenge = response.headers.get('www-authenticate') || '';
  check(`${alg} replayed proof refused`,
    response.status === 401 && challenge.includes('DPoP') && challenge.includes('invalid_dpop_proof'),
    `${response.status} ${challenge}`);

  // The bound token as a bearer token is refused.
  response = await fetch(url('/api/dashboard'), {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  check(`${alg} bound token as Bearer refused`, response.status === 401, `${response.status}`);

  // Refresh with a proof: a new bound pair.
  response = await fetch(url('/token'), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      dpop: await DPoP.generateProof(keys, url('/token'), 'POST'),
    },
    body: JSON.stringify({ refreshToken }),
  });
  body = await json(response);
  check(`${alg} refresh`, response.status === 200 && body.tokenType === 'DPoP',
    `${response.status} ${JSON.stringify(body)}`);
  ({ accessToken, refreshToken } = body);

  // The renewed token works with a fresh proof.
  response = await fetch(url('/api/dashboard'), {
    headers: {
      authorization: `DPoP ${accessToken}`,
      dpop: await DPoP.generateProof(keys, url('/api/dashboard'), 'GET', undefined, accessToken),
    },
  });
  check(`${alg} renewed token`, response.status === 200, `${response.status}`);

  // Another key cannot refresh the session; the session survives it.
  const other = await DPoP.generateKeyPair(alg);
  response = await fetch(url('/token'), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      dpop: await DPoP.generateProof(other, url('/token'), 'POST'),
    },
    body: JSON.stringify({ refreshToken }),
  });
  body = await json(response);
  check(`${alg} refresh with another key refused`,
    response.status === 400 && body.error === 'invalid_dpop_proof', `${response.status} ${JSON.stringify(body)}`);
  response = await fetch(url('/token'), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      dpop: await DPoP.generateProof(keys, url('/token'), 'POST'),
    },
    body: JSON.stringify({ refreshToken }),
  });
  check(`${alg} the owner still refreshes`, response.status === 200, `${response.status}`);
}

await scenario('ES256', 'user1', 'password1');
await scenario('Ed25519', 'user2', 'password2');
console.log('interop: all checks passed');
