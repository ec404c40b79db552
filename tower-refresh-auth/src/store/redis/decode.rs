//! Reading a session hash back: every field checked, nothing the store could not have
//! written accepted.

use std::time::{Duration, UNIX_EPOCH};

use crate::session::{Session, SessionId, SessionMetadata};
use crate::store::StoreError;

/// The session hash's fields, in the order every script and `HMGET` uses.
pub(super) const FIELDS: [&str; 11] = [
    "sub", "claims", "ctr", "cat", "rat", "exp", "abs", "seal", "ua", "lbl", "jkt",
];

/// Decodes the eleven [`FIELDS`] of a session hash; `abs`, `ua`, `lbl` and `jkt` may be
/// absent or empty (a hash from before DPoP is an unbound session).
///
/// `seal` may be absent too: a hash written before sessions were sealed decodes with an
/// empty seal, which fails its check, so the session is refused like an unknown one rather
/// than answered as a store failure.
pub(super) fn decode(id: SessionId, fields: Vec<Option<Vec<u8>>>) -> Result<Session, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("session {id}: {what}"));
    let [sub, claims, ctr, cat, rat, exp, abs, seal, ua, lbl, jkt]: [Option<Vec<u8>>; 11] = fields
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
        seal: match seal {
            None => String::new(),
            seal => text(seal, "seal")?,
        },
        jkt: match jkt {
            None => None,
            Some(bytes) if bytes.is_empty() => None,
            jkt => Some(text(jkt, "jkt")?),
        },
        metadata: {
            let optional = |field: Option<Vec<u8>>, name: &str| match field {
                None => Ok(None),
                field => text(field, name).map(Some),
            };
            let mut metadata = SessionMetadata::new();
            if let Some(ua) = optional(ua, "ua")? {
                metadata = metadata.with_user_agent(ua);
            }
            if let Some(label) = optional(lbl, "lbl")? {
                metadata = metadata.with_label(label);
            }
            metadata
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(values: [&str; 8]) -> Vec<Option<Vec<u8>>> {
        let mut fields: Vec<_> = values.iter().map(|v| Some(v.as_bytes().to_vec())).collect();
        // No user agent, no label, no DPoP binding.
        fields.extend([None, None, None]);
        fields
    }

    #[test]
    fn decodes_a_session_with_and_without_absolute_expiry() {
        let id = SessionId::random();
        let s = decode(
            id,
            fields(["u", "{}", "7", "1000", "2000", "3000", "", "a-seal"]),
        )
        .unwrap();
        assert_eq!(s.counter, 7);
        assert_eq!(s.expires_at, UNIX_EPOCH + Duration::from_secs(3));
        assert_eq!(s.absolute_expires_at, None);
        assert_eq!(s.seal, "a-seal");
        let s = decode(
            id,
            fields(["u", "{}", "7", "1000", "2000", "3000", "4000", "a-seal"]),
        )
        .unwrap();
        assert_eq!(
            s.absolute_expires_at,
            Some(UNIX_EPOCH + Duration::from_secs(4))
        );
    }

    #[test]
    fn refuses_what_it_could_not_have_written() {
        let id = SessionId::random();
        let bad = decode(
            id,
            fields(["u", "{}", "seven", "1000", "2000", "3000", "", "a-seal"]),
        );
        assert!(matches!(bad, Err(StoreError::Corrupt(_))));
        let mut missing = fields(["u", "{}", "7", "1000", "2000", "3000", "", "a-seal"]);
        missing[0] = None;
        assert!(matches!(decode(id, missing), Err(StoreError::Corrupt(_))));
        assert!(matches!(decode(id, vec![]), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn a_hash_from_before_seals_decodes_with_an_empty_seal() {
        let id = SessionId::random();
        let mut old = fields(["u", "{}", "7", "1000", "2000", "3000", "", ""]);
        old[7] = None;
        assert_eq!(decode(id, old).unwrap().seal, "");
    }
}
