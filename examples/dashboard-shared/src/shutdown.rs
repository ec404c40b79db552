//! Graceful shutdown on SIGINT or SIGTERM.

use std::future::Future;

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM; hand it to the server's graceful
/// shutdown.
///
/// The handlers are installed when this is called, not when the future is first polled: a
/// server may poll it only after it has started serving (poem polls it from a spawned task),
/// and a signal arriving in between would otherwise kill the process outright.
#[cfg(unix)]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
        Ok(stream) => Some(stream),
        Err(err) => {
            tracing::error!(%err, "cannot listen for {name}");
            None
        }
    };
    let interrupt = listen(SignalKind::interrupt(), "SIGINT");
    let terminate = listen(SignalKind::terminate(), "SIGTERM");
    async move {
        let recv = |stream: Option<tokio::signal::unix::Signal>| async move {
            match stream {
                Some(mut stream) => {
                    stream.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = recv(interrupt) => tracing::info!("SIGINT received; shutting down"),
            () = recv(terminate) => tracing::info!("SIGTERM received; shutting down"),
        }
    }
}

/// Completes on the first Ctrl-C; hand it to the server's graceful shutdown.
#[cfg(not(unix))]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("Ctrl-C received; shutting down");
    }
}
