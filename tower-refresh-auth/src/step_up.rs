//! Step-up requirements (RFC 9470): "did this person authenticate recently, and how?".
//!
//! Every access token carries `auth_time` — when the user last authenticated in its session:
//! the login, or the latest [re-authentication](crate::RefreshAuth::reauthenticate) — and the
//! `acr`/`amr` the application gave then (`docs/protocol.md` §15). A refresh never changes
//! them, so a session of weeks does not pass for a fresh login.
//!
//! A [`StepUp`] is what a sensitive route asks of them: a login no older than `max_age`,
//! or of one of some `acr` classes. A request that does not meet it is refused with
//! [`AuthError::InsufficientUserAuthentication`]: `401`, and a challenge that tells the client
//! what would do, as RFC 9470 §3 prescribes:
//!
//! ```text
//! WWW-Authenticate: Bearer realm="api", error="insufficient_user_authentication",
//!   error_description="the login is older than this request allows", max_age=300
//! ```
//!
//! with the JSON body of §1 (or the application's [error
//! body](crate::RefreshAuthBuilder::error_body)). The client asks the user to confirm
//! (a password, a second factor), the application checks it and calls
//! [`RefreshAuth::reauthenticate`](crate::RefreshAuth::reauthenticate), which raises
//! `auth_time` and hands out a new pair for the same session, and the client retries.
//!
//! [`RefreshAuth::step_up`](crate::RefreshAuth::step_up) checks a request's claims with the
//! layer's clock and renders a refusal as the layer does: the function for tower services and
//! tonic (a refusal's [`response_to`](crate::AuthRejection::response_to) answers a gRPC call
//! with `Unauthenticated` and the challenge in its metadata). The adapters wrap it in
//! extractors (`StepUpClaims` in axum and poem).
//!
//! ```
//! use std::time::Duration;
//! use tower_refresh_auth::step_up::StepUp;
//! use tower_refresh_auth::{NoClaims, RefreshAuth};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let auth = RefreshAuth::<NoClaims>::builder()
//!     .hs256(b"an example secret of at least 32 bytes".to_vec())
//!     .build()?;
//! let pair = auth.issue("user1", NoClaims {}).await?;
//! let claims = auth.verify(&pair.access_token)?;
//!
//! // Just logged in: fresh enough for "within five minutes".
//! let recent = StepUp::max_age(Duration::from_secs(300));
//! assert!(auth.step_up(&claims, &recent).is_ok());
//!
//! // No login has the class this route asks for.
//! let mfa = StepUp::acr_values(["urn:example:mfa"]);
//! let refusal = auth.step_up(&claims, &mfa).unwrap_err();
//! let res = refusal.into_response();
//! assert_eq!(res.status(), 401);
//! assert_eq!(
//!     res.headers()["www-authenticate"],
//!     "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
//!      error_description=\"the login is not of a class this request accepts\", \
//!      acr_values=\"urn:example:mfa\""
//! );
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::time::{Duration, SystemTime};

use crate::clock::to_secs;
use crate::error::{AuthError, StepUpError};
use crate::token::Claims;

/// What a route asks of the user's authentication: a login no older than
/// [`max_age`](Self::max_age), of one of the [`acr_values`](Self::acr_values), or both (see
/// the [module docs](self)).
///
/// ```
/// use std::time::Duration;
/// use tower_refresh_auth::step_up::StepUp;
///
/// let both = StepUp::max_age(Duration::from_secs(300)).with_acr_values(["urn:example:mfa"]);
/// assert_eq!(both.max_age_secs(), Some(300));
/// assert_eq!(both.acr(), ["urn:example:mfa"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepUp {
    max_age: Option<u64>,
    acr_values: Vec<String>,
}

impl StepUp {
    /// The user authenticated at most `max_age` ago (RFC 9470 `max_age`, in whole seconds:
    /// a fraction is dropped).
    pub fn max_age(max_age: Duration) -> Self {
        Self {
            max_age: Some(max_age.as_secs()),
            acr_values: Vec::new(),
        }
    }

    /// The user authenticated with one of these `acr` classes (RFC 9470 `acr_values`, in the
    /// order of preference). A value is compared whole, byte for byte; values hold no
    /// spaces (the challenge separates them with one).
    pub fn acr_values<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            max_age: None,
            acr_values: Vec::new(),
        }
        .with_acr_values(values)
    }

    /// Also requires a login no older than `max_age`.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age.as_secs());
        self
    }

    /// Also requires one of these `acr` classes.
    pub fn with_acr_values<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.acr_values = values
            .into_iter()
            .map(Into::into)
            .filter(|v| !v.is_empty())
            .collect();
        self
    }

    /// The longest time since the login that is accepted, in seconds, if limited.
    pub fn max_age_secs(&self) -> Option<u64> {
        self.max_age
    }

    /// The `acr` classes accepted; empty when any is.
    pub fn acr(&self) -> &[String] {
        &self.acr_values
    }

    /// Whether `claims` meet the requirement at `now`: their `auth_time` is at most
    /// `max_age` seconds before `now` (a token without one never is), and their `acr` is one
    /// of the `acr_values`. [`RefreshAuth::step_up`](crate::RefreshAuth::step_up) calls it
    /// with the layer's clock and renders the refusal as the layer does.
    ///
    /// # Errors
    ///
    /// [`AuthError::InsufficientUserAuthentication`], whose challenge names every part of
    /// the requirement, so that one new authentication meets it all.
    pub fn check<C>(&self, claims: &Claims<C>, now: SystemTime) -> Result<(), AuthError> {
        let class_ok = self.acr_values.is_empty()
            || claims
                .acr
                .as_deref()
                .is_some_and(|acr| self.acr_values.iter().any(|v| v == acr));
        let fresh = match (self.max_age, claims.auth_time) {
            (None, _) => true,
            (Some(_), None) => false,
            // A login "in the future" (another instance's clock ahead) is as fresh as now.
            (Some(max_age), Some(at)) => to_secs(now).saturating_sub(at) <= max_age,
        };
        if class_ok && fresh {
            return Ok(());
        }
        let description = match (fresh, claims.auth_time) {
            (false, None) => "the token does not say when the user authenticated",
            (false, Some(_)) => "the login is older than this request allows",
            (true, _) => "the login is not of a class this request accepts",
        };
        let acr_values = (!self.acr_values.is_empty()).then(|| self.acr_values.join(" "));
        Err(AuthError::InsufficientUserAuthentication(StepUpError::new(
            self.max_age,
            acr_values,
            description,
        )))
    }
}
