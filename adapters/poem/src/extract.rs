//! [`AuthClaims`], [`OptionalAuthClaims`] and [`SharedClaims`]: the claims the middleware
//! verified, as extractors.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use http::{StatusCode, header};
use poem::error::ResponseError;
use poem::{FromRequest, IntoResponse, Request, RequestBody};
use tower_refresh_auth::{AuthError, AuthRejection, Claims, NoClaims};

use crate::response::from_core;

/// The verified [`Claims`] of the request's access token.
///
/// Reads what [`RefreshAuthMiddleware`](crate::RefreshAuthMiddleware) put into the request
/// extensions, so the middleware must wrap the route; `C` must be the claims type of its
/// [`RefreshAuth<C>`](tower_refresh_auth::RefreshAuth).
///
/// On a guarded path the middleware has already refused a request without a valid token, so
/// the extractor always succeeds there. On a public path, or in optional mode, the middleware
/// lets the request through with the reason it could not authenticate it; this extractor then
/// refuses it with exactly the response the middleware would have sent.
///
/// For routes where a token is optional take [`OptionalAuthClaims`], not
/// `Option<AuthClaims>`: poem's `Option<T>` extractor turns *every* failure into `None`, so it
/// would also swallow an invalid token and a missing middleware.
///
/// The middleware puts the claims into the extensions as an `Arc<Claims<C>>`, shared with
/// the verified-token cache; this extractor clones them out of it (one copy of the claims
/// per request). [`SharedClaims`] hands out the `Arc` itself and copies nothing.
#[derive(Debug, Clone)]
pub struct AuthClaims<C = NoClaims>(pub Claims<C>);

impl<C> AuthClaims<C> {
    /// The claims.
    pub fn into_inner(self) -> Claims<C> {
        self.0
    }
}

impl<C> Deref for AuthClaims<C> {
    type Target = Claims<C>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<C> DerefMut for AuthClaims<C> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<'a, C> FromRequest<'a> for AuthClaims<C>
where
    C: Clone + Send + Sync + 'static,
{
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        claims(req).map(Self).map_err(poem::Error::from)
    }
}

/// The verified claims, if the request carried a token: `None` when it carries none at all.
///
/// A token that is present but invalid is still refused (`401 invalid_token`, as
/// [`AuthClaims`] refuses it), so a client learns that its token went bad; a route without
/// the middleware is a `500`, as with [`AuthClaims`].
///
/// ```
/// use poem::handler;
/// use tower_refresh_auth_poem::OptionalAuthClaims;
///
/// #[handler]
/// fn greet(OptionalAuthClaims(claims): OptionalAuthClaims) -> String {
///     match claims {
///         Some(claims) => format!("hello, {}", claims.sub),
///         None => "hello, stranger".to_owned(),
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct OptionalAuthClaims<C = NoClaims>(pub Option<Claims<C>>);

impl<'a, C> FromRequest<'a> for OptionalAuthClaims<C>
where
    C: Clone + Send + Sync + 'static,
{
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        match claims(req) {
            Ok(claims) => Ok(Self(Some(claims))),
            // RFC 6750 §3.1: a request without credentials is anonymous, not wrong.
            Err(ClaimsRejection::Refused(rejection))
                if matches!(rejection.error(), AuthError::MissingCredentials) =>
            {
                Ok(Self(None))
            }
            Err(rejection) => Err(rejection.into()),
        }
    }
}

/// The verified [`Claims`] of the request's access token, shared: the `Arc<Claims<C>>` the
/// middleware put into the request extensions, which the verified-token cache also holds.
/// Taking it costs a reference count, where [`AuthClaims`] copies the claims. Its rejections
/// are [`AuthClaims`]'s.
///
/// ```
/// use poem::handler;
/// use tower_refresh_auth_poem::SharedClaims;
///
/// #[handler]
/// fn greet(SharedClaims(claims): SharedClaims) -> String {
///     format!("hello, {}", claims.sub)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct SharedClaims<C = NoClaims>(pub Arc<Claims<C>>);

impl<C> SharedClaims<C> {
    /// The shared claims.
    pub fn into_inner(self) -> Arc<Claims<C>> {
        self.0
    }
}

impl<C> Deref for SharedClaims<C> {
    type Target = Claims<C>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<'a, C> FromRequest<'a> for SharedClaims<C>
where
    C: Send + Sync + 'static,
{
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        shared(req).map(Self).map_err(poem::Error::from)
    }
}

/// The claims, copied out of the extensions' `Arc`.
pub(crate) fn claims<C>(req: &Request) -> Result<Claims<C>, ClaimsRejection>
where
    C: Clone + Send + Sync + 'static,
{
    shared(req).map(|claims| Claims::clone(&claims))
}

fn shared<C>(req: &Request) -> Result<Arc<Claims<C>>, ClaimsRejection>
where
    C: Send + Sync + 'static,
{
    if let Some(claims) = req.extensions().get::<Arc<Claims<C>>>() {
        return Ok(Arc::clone(claims));
    }
    match req.extensions().get::<AuthRejection>() {
        Some(rejection) => Err(ClaimsRejection::Refused(rejection.clone())),
        None => Err(ClaimsRejection::LayerMissing),
    }
}

/// Why [`AuthClaims`] or [`OptionalAuthClaims`] could not be extracted.
///
/// A [`poem::error::ResponseError`]: it reaches the client as the response below.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClaimsRejection {
    /// The middleware could not authenticate the request; answered exactly as the
    /// middleware answers a guarded path.
    Refused(AuthRejection),
    /// Neither claims nor a refusal are in the extensions: the middleware did not run for
    /// this request (or runs with another claims type). A bug in the application: `500`.
    LayerMissing,
    /// [`StepUpClaims`](crate::StepUpClaims) found no [`StepUp`] requirement, or no
    /// `RefreshAuth<C>`, in the endpoint's data. A bug in the application: `500`.
    ///
    /// [`StepUp`]: tower_refresh_auth::step_up::StepUp
    StepUpMissing,
}

const LAYER_MISSING: &str = "no verified claims and no refusal in the request extensions: \
     is the RefreshAuthLayer installed? On poem it is `RefreshAuthMiddleware` (or \
     `ResourceServerMiddleware` for a verify-only service); it must wrap this route and be \
     built for the claims type the extractor asks for.";

const STEP_UP_MISSING: &str = "no step-up requirement or no RefreshAuth in the endpoint's \
     data: give the endpoint `.data(StepUp::max_age(…))` and the route `.data(auth)`, for \
     StepUpClaims to check.";

impl std::fmt::Display for ClaimsRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(rejection) => rejection.fmt(f),
            Self::LayerMissing => f.write_str(LAYER_MISSING),
            Self::StepUpMissing => f.write_str(STEP_UP_MISSING),
        }
    }
}

impl std::error::Error for ClaimsRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Refused(rejection) => Some(rejection),
            Self::LayerMissing | Self::StepUpMissing => None,
        }
    }
}

impl ResponseError for ClaimsRejection {
    fn status(&self) -> StatusCode {
        match self {
            Self::Refused(rejection) => rejection.error().status(),
            Self::LayerMissing | Self::StepUpMissing => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn as_response(&self) -> poem::Response {
        let message = match self {
            Self::Refused(rejection) => return from_core(rejection.clone().into_response()),
            Self::LayerMissing => LAYER_MISSING,
            Self::StepUpMissing => STEP_UP_MISSING,
        };
        message
            .with_status(StatusCode::INTERNAL_SERVER_ERROR)
            .with_header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .into_response()
    }
}
