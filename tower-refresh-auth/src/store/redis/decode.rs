//! Reading a session hash back: every field checked, nothing the store could not have
//! written accepted.

use std::time::{Duration, UNIX_EPOCH};

use crate::session::{Session, SessionId};
use crate::store::StoreError;

/// The session hash's fields, in the order every script and `HMGET` uses.
pub(super) const FIELDS: [&str; 7] = ["sub", "claims", "ctr", "cat", "rat", "exp", "abs"];

/// Decodes the seven [`FIELDS`] of a session hash; `abs` may be absent or empty.
pub(super) fn decode(id: SessionId, fields: Vec<Option<Vec<u8>>>) -> Result<Session, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("session {id}: {what}"));
    let [sub, claims, ctr, cat, rat, exp, abs]: [Option<Vec<u8>>; 7] = fields
        .try_into()
        .map_err(|_| corrupt("wrong number of fields"))?;
    let text = |field: Option<Vec<u8>>, name: &str| {
        let bytes = field.ok_or_else(|| corrupt(&format!("`{name}` missing")))?;
        String::from_utf8(bytes).map_err(|_| corrupt(&format!("`{name}` is not UTF-8")))
    };
    let int = |field: Option<Vec<u8>>, name: &str| {
        text(field, name)?
            .parse::<u64>()
            .map_err(|_| corrupt(&format!("`{name}` is not an integer")))
    };
    let time = |field: Option<Vec<u8>>, name: &str| {
        int(field, name).map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    };
    Ok(Session {
        id,
        subject: text(sub, "sub")?,
        claims: text(claims, "claims")?,
        counter: int(ctr, "ctr")?,
        created_at: time(cat, "cat")?,
        rotated_at: time(rat, "rat")?,
        expires_at: time(exp, "exp")?,
        absolute_expires_at: match abs {
            None => None,
            Some(bytes) if bytes.is_empty() => None,
            Some(bytes) => Some(time(Some(bytes), "abs")?),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(values: [&str; 7]) -> Vec<Option<Vec<u8>>> {
        values.iter().map(|v| Some(v.as_bytes().to_vec())).collect()
    }

    #[test]
    fn decodes_a_session_with_and_without_absolute_expiry() {
        let id = SessionId::random();
        let s = decode(id, fields(["u", "{}", "7", "1000", "2000", "3000", ""])).unwrap();
        assert_eq!(s.counter, 7);
        assert_eq!(s.expires_at, UNIX_EPOCH + Duration::from_secs(3));
        assert_eq!(s.absolute_expires_at, None);
        let s = decode(id, fields(["u", "{}", "7", "1000", "2000", "3000", "4000"])).unwrap();
        assert_eq!(
            s.absolute_expires_at,
            Some(UNIX_EPOCH + Duration::from_secs(4))
        );
    }

    #[test]
    fn refuses_what_it_could_not_have_written() {
        let id = SessionId::random();
        let bad = decode(id, fields(["u", "{}", "seven", "1000", "2000", "3000", ""]));
        assert!(matches!(bad, Err(StoreError::Corrupt(_))));
        let mut missing = fields(["u", "{}", "7", "1000", "2000", "3000", ""]);
        missing[0] = None;
        assert!(matches!(decode(id, missing), Err(StoreError::Corrupt(_))));
        assert!(matches!(decode(id, vec![]), Err(StoreError::Corrupt(_))));
    }
}
