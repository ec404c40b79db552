//! [`StepUpError`]: a step-up refusal (RFC 9470).

use std::borrow::Cow;

/// A step-up refusal ([`AuthError::InsufficientUserAuthentication`](super::AuthError::InsufficientUserAuthentication), RFC 9470 §3): what the
/// request needs of the authentication, as its challenge says it. Made by
/// [`StepUp::check`](crate::step_up::StepUp::check) when the login does not meet it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("insufficient user authentication: {description}")]
pub struct StepUpError {
    max_age: Option<u64>,
    acr_values: Option<String>,
    pub(super) description: Cow<'static, str>,
}

impl StepUpError {
    pub(crate) fn new(
        max_age: Option<u64>,
        acr_values: Option<String>,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            max_age,
            acr_values,
            description: description.into(),
        }
    }

    /// The challenge's `max_age`: the most seconds since the user authenticated that the
    /// request accepts, if it sets a limit.
    pub fn max_age(&self) -> Option<u64> {
        self.max_age
    }

    /// The challenge's `acr_values`: the classes of authentication the request accepts,
    /// space-separated, in the order of preference, if it names any.
    pub fn acr_values(&self) -> Option<&str> {
        self.acr_values.as_deref()
    }
}
