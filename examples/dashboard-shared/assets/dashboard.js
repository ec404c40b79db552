// Body mode keeps both tokens in localStorage; cookie mode keeps the refresh token in an
// HttpOnly cookie and only the access token, per tab, in sessionStorage.
const cookieMode = () => localStorage.getItem('refreshToken') === null;
const accessToken = () =>
  cookieMode() ? sessionStorage.getItem('accessToken') : localStorage.getItem('accessToken');

function storeTokens(pair) {
  if (pair.refreshToken) {
    localStorage.setItem('accessToken', pair.accessToken);
    localStorage.setItem('refreshToken', pair.refreshToken);
  } else {
    sessionStorage.setItem('accessToken', pair.accessToken);
  }
}

function forgetTokens() {
  localStorage.removeItem('accessToken');
  localStorage.removeItem('refreshToken');
  sessionStorage.removeItem('accessToken');
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
  return true;
}

function callApi() {
  const token = accessToken();
  const headers = token ? { 'Authorization': 'Bearer ' + token } : {};
  return send('/api/dashboard', { headers });
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
}

function showDashboard() {
  loadDashboard().catch((e) => {
    if (!(e instanceof Unavailable)) return toLogin();
    statusMessage.textContent = 'The server is temporarily unavailable; retrying…';
    setTimeout(showDashboard, e.delay);
  });
}

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
