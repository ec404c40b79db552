// Body mode keeps both tokens in localStorage; cookie mode keeps the refresh token in an
// HttpOnly cookie and only the access token, per tab, in sessionStorage.
const cookieMode = () => localStorage.getItem('refreshToken') === null;
const accessToken = () =>
  cookieMode() ? sessionStorage.getItem('accessToken') : localStorage.getItem('accessToken');

// When this tab last renewed its access token without asking, shown on the page.
const RENEWED = 'lastRenewal';

function storeTokens(pair) {
  localStorage.setItem('tokenType', pair.tokenType || 'Bearer');
  if (pair.refreshToken) {
    localStorage.setItem('accessToken', pair.accessToken);
    localStorage.setItem('refreshToken', pair.refreshToken);
  } else {
    sessionStorage.setItem('accessToken', pair.accessToken);
  }
}

function forgetTokens() {
  localStorage.removeItem('tokenType');
  localStorage.removeItem('accessToken');
  localStorage.removeItem('refreshToken');
  sessionStorage.removeItem('accessToken');
  sessionStorage.removeItem(RENEWED);
}

function toLogin() {
  forgetTokens();
  window.location.replace('/login.html');
}

const statusMessage = document.getElementById('statusMessage');

// The server cannot answer now: its session store is down (503 with Retry-After) or it
// is out of reach. That is no sign-out: the tokens stay, and the page tries again.
class Unavailable extends Error {
  constructor(response) {
    super('temporarily unavailable');
    const seconds = Number(response ? response.headers.get('Retry-After') : 1);
    this.delay = Math.min(Math.max(Number.isFinite(seconds) ? seconds : 1, 1), 30) * 1000;
  }
}

// fetch, with every server error and network failure thrown as Unavailable.
async function send(url, request) {
  let response;
  try {
    // Every call carries a DPoP proof for its method and URL (RFC 9449 §4), with the
    // access token's hash when it carries one.
    const method = request.method || 'GET';
    request = Object.assign({}, request, {
      headers: await Dpop.sign(method, url, request.headers || {}, request.accessToken),
    });
    delete request.accessToken;
    response = await fetch(url, request);
  } catch (e) {
    throw new Unavailable(null);
  }
  if (response.status >= 500) throw new Unavailable(response);
  return response;
}

// POST /token: the refresh token in the body, or in cookie mode the cookie plus the
// header that proves the request came from script on this origin (CSRF defence).
async function refresh() {
  const request = cookieMode()
    ? { method: 'POST', credentials: 'same-origin',
        headers: { 'X-Requested-With': 'XMLHttpRequest' } }
    : { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refreshToken: localStorage.getItem('refreshToken') }) };
  const response = await send('/token', request);
  if (!response.ok) return false;
  storeTokens(await response.json());
  sessionStorage.setItem(RENEWED, new Date().toISOString());
  return true;
}

// The access token with its scheme: `DPoP` for a session bound to this browser's key
// (its proofs carry the token's hash), `Bearer` otherwise.
const withAccessToken = (request) => {
  const token = accessToken();
  if (!token) return request;
  const scheme = localStorage.getItem('tokenType') === 'DPoP' ? 'DPoP' : 'Bearer';
  return Object.assign({}, request, {
    headers: Object.assign({}, request.headers, { 'Authorization': scheme + ' ' + token }),
    accessToken: scheme === 'DPoP' ? token : undefined,
  });
};

function callApi() {
  return send('/api/dashboard', withAccessToken({ method: 'GET' }));
}

// A call with the access token that renews it once on a 401 and retries once; null when
// the session cannot be renewed (the page has gone to the login page).
async function withToken(url, method) {
  let response = await send(url, withAccessToken({ method }));
  if (response.status === 401) {
    if (!(await refresh())) {
      toLogin();
      return null;
    }
    response = await send(url, withAccessToken({ method }));
  }
  return response;
}

const when = (iso) => new Date(iso).toLocaleString();

// The access token's `exp`, read from its payload (the page trusts nothing in it: the
// server verifies the token, this only tells the visitor).
function showTokenTimes() {
  const token = accessToken();
  let expiry = '–';
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    expiry = when(JSON.parse(atob(payload)).exp * 1000);
  } catch (e) {
    // No token, or not a JWT: nothing to show.
  }
  document.getElementById('tokenExpiry').textContent = expiry;
  const renewed = sessionStorage.getItem(RENEWED);
  document.getElementById('lastRenewal').textContent = renewed ? when(renewed) : 'not yet';
}

// "Your sessions": every device signed in to this account, this one marked, each other one
// with a button that ends it.
function renderSessions(sessions) {
  const list = document.getElementById('sessionList');
  list.replaceChildren();
  for (const session of sessions) {
    const item = document.createElement('li');
    item.dataset.sessionId = session.id;
    if (session.current) item.className = 'current';
    const about = document.createElement('span');
    about.textContent = (session.userAgent || 'Unknown device') +
      (session.current ? ' (this device)' : '');
    const times = document.createElement('span');
    times.className = 'note';
    times.textContent = 'Signed in ' + when(session.createdAt) + ', last renewed ' +
      when(session.lastRefreshedAt);
    about.append(times);
    item.append(about);
    if (!session.current) {
      const end = document.createElement('button');
      end.type = 'button';
      end.className = 'endSession';
      end.textContent = 'End session';
      end.addEventListener('click', () => endSession(session.id).catch(unavailable));
      item.append(end);
    }
    list.append(item);
  }
}

// GET /sessions answers a page at a time (§8): follow `next` to the last one (bounded, in case
// a server never stops answering one).
async function loadSessions() {
  const sessions = [];
  let path = '/sessions?limit=100';
  for (let pages = 0; path !== null && pages < 100; pages++) {
    const response = await withToken(path, 'GET');
    if (response === null) return;
    if (!response.ok) return toLogin();
    const page = await response.json();
    sessions.push(...page.sessions);
    path = page.next ? '/sessions?limit=100&cursor=' + encodeURIComponent(page.next) : null;
  }
  renderSessions(sessions);
}

async function endSession(id) {
  const response = await withToken('/sessions/' + encodeURIComponent(id), 'DELETE');
  if (response === null) return;
  await loadSessions();
}

function unavailable(e) {
  if (!(e instanceof Unavailable)) return toLogin();
  statusMessage.textContent = 'The server is temporarily unavailable; try again shortly.';
}

async function loadDashboard() {
  let response = await callApi();
  // Expired (or missing, in a new tab in cookie mode): renew once and retry once.
  if (response.status === 401) {
    if (!(await refresh())) return toLogin();
    response = await callApi();
  }
  if (!response.ok) return toLogin();
  const data = await response.json();
  statusMessage.textContent = '';
  document.getElementById('welcomeMessage').textContent = data.message;
  showTokenTimes();
  await loadSessions();
}

function showDashboard() {
  loadDashboard().catch((e) => {
    if (!(e instanceof Unavailable)) return toLogin();
    statusMessage.textContent = 'The server is temporarily unavailable; retrying…';
    setTimeout(showDashboard, e.delay);
  });
}

// A sensitive action (§15) needs a recent login. An older one is answered `401` with
// `error="insufficient_user_authentication"` in the WWW-Authenticate challenge (RFC 9470);
// the page then asks for the password again (POST /reauth, which hands out a new pair for
// this same session) and retries.
const sensitiveResult = document.getElementById('sensitiveResult');
const reauthForm = document.getElementById('reauthForm');
const reauthPassword = document.getElementById('reauthPassword');

const needsStepUp = (response) => response.status === 401 &&
  /error="insufficient_user_authentication"/.test(response.headers.get('WWW-Authenticate') || '');

async function doSensitive() {
  const response = await withToken('/api/sensitive', 'POST');
  if (response === null) return;
  if (needsStepUp(response)) {
    sensitiveResult.textContent = 'Please confirm your password to continue.';
    reauthForm.hidden = false;
    reauthPassword.focus();
    return;
  }
  if (!response.ok) return toLogin();
  const done = await response.json();
  reauthForm.hidden = true;
  sensitiveResult.textContent = done.ok ? 'Done.' : 'Refused.';
}

// POST /reauth with the password, the access token (renewed once if it expired), and the
// CSRF header, since in cookie mode the answer sets the refresh cookie.
async function reauthenticate(password) {
  const request = () => withAccessToken({
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'XMLHttpRequest' },
    body: JSON.stringify({ password }),
  });
  let response = await send('/reauth', request());
  if (response.status === 401 && response.headers.get('WWW-Authenticate')) {
    if (!(await refresh())) return toLogin();
    response = await send('/reauth', request());
  }
  if (response.ok) {
    storeTokens(await response.json());
    reauthPassword.value = '';
    reauthForm.hidden = true;
    showTokenTimes();
    return doSensitive();
  }
  const body = await response.json().catch(() => ({}));
  sensitiveResult.textContent = body.error === 'invalid_credentials'
    ? 'Wrong password.'
    : body.error === 'too_many_requests'
      ? 'Too many attempts; try again later.'
      : 'The password could not be checked.';
}

document.getElementById('sensitiveButton').addEventListener('click', () => {
  doSensitive().catch(unavailable);
});

reauthForm.addEventListener('submit', (event) => {
  event.preventDefault();
  reauthenticate(reauthPassword.value).catch(unavailable);
});

document.getElementById('logoutButton').addEventListener('click', async () => {
  const request = cookieMode()
    ? { method: 'POST', credentials: 'same-origin',
        headers: { 'X-Requested-With': 'XMLHttpRequest' } }
    : { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refreshToken: localStorage.getItem('refreshToken') }) };
  // A logout the server could not carry out leaves the session (and in cookie mode the
  // refresh cookie) alive: stay signed in and say so, rather than pretend.
  try {
    await send('/logout', request);
  } catch (e) {
    statusMessage.textContent =
      'Sign-out failed: the server is temporarily unavailable. Try again shortly.';
    return;
  }
  toLogin();
});

showDashboard();
