// The refresh token arrives in the body (REFRESH_TRANSPORT=body) or as an HttpOnly
// cookie the page never sees (cookie). In cookie mode only the short-lived access token
// is kept, and only for this tab.
function storeTokens(pair) {
  // `DPoP` when the server bound the session to this browser's key, else `Bearer`.
  localStorage.setItem('tokenType', pair.tokenType || 'Bearer');
  if (pair.refreshToken) {
    localStorage.setItem('accessToken', pair.accessToken);
    localStorage.setItem('refreshToken', pair.refreshToken);
    sessionStorage.removeItem('accessToken');
  } else {
    sessionStorage.setItem('accessToken', pair.accessToken);
    localStorage.removeItem('accessToken');
    localStorage.removeItem('refreshToken');
  }
}

const form = document.getElementById('loginForm');
const error = document.getElementById('loginError');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = form.querySelector('button');
  button.disabled = true;
  error.textContent = '';
  try {
    const response = await fetch('/login', {
      method: 'POST',
      credentials: 'same-origin',
      // Required in cookie mode, where the login sets the refresh cookie: a cross-site form
      // cannot send it, so no other site can sign this browser in (login CSRF). The proof
      // binds the session to this browser's key when the server takes DPoP.
      headers: await Dpop.sign('POST', '/login',
        { 'Content-Type': 'application/json', 'X-Requested-With': 'XMLHttpRequest' }),
      body: JSON.stringify({
        username: document.getElementById('username').value,
        password: document.getElementById('password').value,
      }),
    });
    if (response.status === 401) {
      error.textContent = 'Wrong username or password.';
      return;
    }
    if (response.status === 429) {
      error.textContent = 'Too many failed sign-ins for this account; wait a minute.';
      return;
    }
    if (!response.ok) {
      error.textContent = 'Sign-in is unavailable right now; try again shortly.';
      return;
    }
    storeTokens(await response.json());
    window.location.assign('/dashboard.html');
  } catch (e) {
    error.textContent = 'Cannot reach the server.';
  } finally {
    button.disabled = false;
  }
});
