//! WebSockets that close when their session ends (`ws` feature).
//!
//! A WebSocket outlives the request that opened it, and so the token that request carried:
//! the layer checked it once, at the upgrade. [`RefreshAuth::watch`] gives the handler a
//! [`SessionWatch`] that resolves when that token expires or its session (or subject) is
//! revoked; the handler selects on it beside the socket and, when it resolves, sends
//! [`close_message`]: close code 1008 (policy violation, RFC 6455 §7.4.1) with a short
//! reason, `"session ended"` or `"token expired"`. The client reconnects with a fresh token,
//! and the upgrade is checked again.
//!
//! How soon the watch sees a revocation depends on the layer's session checking (see
//! [`SessionWatch`]): at once with the revocation feed, within the poll interval per
//! request, and not at all with checking off (then only at expiry).
//!
//! ```
//! use axum::extract::State;
//! use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
//! use axum::response::Response;
//! use tower_refresh_auth::RefreshAuth;
//! use tower_refresh_auth::watch::SessionWatch;
//! use tower_refresh_auth_axum::AuthClaims;
//! use tower_refresh_auth_axum::ws::close_message;
//!
//! async fn live(
//!     upgrade: WebSocketUpgrade,
//!     State(auth): State<RefreshAuth>,
//!     AuthClaims(claims): AuthClaims,
//! ) -> Response {
//!     // Watch the claims the layer verified on the upgrade request.
//!     let watch = auth.watch(&claims);
//!     upgrade.on_upgrade(move |socket| echo(socket, watch))
//! }
//!
//! async fn echo(mut socket: WebSocket, mut watch: SessionWatch) {
//!     loop {
//!         tokio::select! {
//!             end = &mut watch => {
//!                 // 1008 with "session ended" or "token expired"; the peer may be gone.
//!                 let _ = socket.send(close_message(end)).await;
//!                 return;
//!             }
//!             message = socket.recv() => match message {
//!                 Some(Ok(Message::Text(text))) => {
//!                     if socket.send(Message::Text(text)).await.is_err() {
//!                         return;
//!                     }
//!                 }
//!                 Some(Ok(_)) => {}
//!                 Some(Err(_)) | None => return,
//!             },
//!         }
//!     }
//! }
//! # let _ = axum::Router::<RefreshAuth>::new().route("/ws", axum::routing::any(live));
//! ```
//!
//! [`RefreshAuth::watch`]: tower_refresh_auth::RefreshAuth::watch
//! [`SessionWatch`]: tower_refresh_auth::watch::SessionWatch

use axum::extract::ws::{CloseFrame, Message, close_code};
use tower_refresh_auth::watch::SessionEnd;

/// The close frame for a connection whose
/// [`SessionWatch`](tower_refresh_auth::watch::SessionWatch) resolved with `end`: code 1008
/// (policy violation) and [`end.reason()`](SessionEnd::reason) as the reason.
pub fn close_message(end: SessionEnd) -> Message {
    Message::Close(Some(CloseFrame {
        code: close_code::POLICY,
        reason: end.reason().into(),
    }))
}
