// DPoP (RFC 9449): the tokens are bound to a key this browser holds. The key is made by
// WebCrypto as non-extractable (the private half can sign, but no script can read it out)
// and kept in IndexedDB, so it survives reloads. Every call to the server carries a proof
// signed with it: a token copied out of this page is useless anywhere else. An injected
// script could still sign proofs while the page is open (see SECURITY.md).
const Dpop = (() => {
  const DB = 'dpop';
  const STORE = 'keys';
  const ID = 'device-key';

  const done = (request) => new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

  function open() {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    return done(request);
  }

  let keys = null;
  // The key pair, made once per browser profile and reused.
  function keyPair() {
    if (keys === null) {
      keys = (async () => {
        const db = await open();
        const found = await done(db.transaction(STORE).objectStore(STORE).get(ID));
        if (found) return found;
        const made = await crypto.subtle.generateKey(
          { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
        await done(db.transaction(STORE, 'readwrite').objectStore(STORE).put(made, ID));
        return made;
      })();
    }
    return keys;
  }

  const bytes = (text) => new TextEncoder().encode(text);
  const b64url = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

  // A proof for one request (RFC 9449 §4.2): the public key in the header, the method and
  // URL (no query or fragment), the time, a fresh jti, and with an access token its hash.
  // The signature is ES256 as WebCrypto makes it: r || s, which is what JWS wants.
  async function proof(method, url, accessToken) {
    const pair = await keyPair();
    const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
    const header = { typ: 'dpop+jwt', alg: 'ES256',
      jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } };
    const htu = new URL(url, window.location.href);
    htu.search = '';
    htu.hash = '';
    const claims = {
      jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
      htm: method,
      htu: htu.href,
      iat: Math.floor(Date.now() / 1000),
    };
    if (accessToken) {
      claims.ath = b64url(await crypto.subtle.digest('SHA-256', bytes(accessToken)));
    }
    const input = b64url(bytes(JSON.stringify(header))) + '.' +
      b64url(bytes(JSON.stringify(claims)));
    const signature = await crypto.subtle.sign(
      { name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, bytes(input));
    return input + '.' + b64url(signature);
  }

  // `headers` with a `DPoP` proof added; unchanged where WebCrypto is not available (a
  // page served over plain HTTP from another host than localhost), so the server decides.
  async function sign(method, url, headers, accessToken) {
    if (!window.crypto || !crypto.subtle || !window.indexedDB) return headers;
    return Object.assign({}, headers, { DPoP: await proof(method, url, accessToken) });
  }

  return { sign };
})();
