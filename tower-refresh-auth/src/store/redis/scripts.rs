//! The Lua scripts, one file each under `scripts/`: every one touches the keys of exactly one
//! hash tag, as Redis Cluster requires.

use redis::Script;

/// The scripts, hashed once per store and sent by hash (`EVALSHA`).
pub(super) struct Scripts {
    /// Adds a session id to its subject's index, scored by the server's time, and sets the
    /// index's expiry; returns the index's size.
    ///
    /// KEYS[1] the subject's index. ARGV[1] the session id; ARGV[2] the session's absolute
    /// expiry in ms, or "" when it has none.
    pub(super) index_add: Script,
    /// The ids in a subject's index that are at least ARGV[1] ms old.
    ///
    /// KEYS[1] the subject's index.
    pub(super) index_old: Script,
    /// Drops the given ids from a subject's index, those at least ARGV[1] ms old only; returns
    /// how many it dropped.
    ///
    /// KEYS[1] the subject's index. ARGV[1] the minimum age; ARGV[2..] the ids.
    pub(super) index_forget: Script,
    /// Writes a session, replacing any earlier one with the same id.
    ///
    /// KEYS[1] the session. ARGV: sub, claims, ctr, cat, rat, exp, abs ("" for none), seal,
    /// deadline, ua ("" for none), lbl ("" for none), jkt ("" for none).
    pub(super) create: Script,
    /// The compare-and-swap. Returns `{}` when no live session exists, else
    /// `{'rotated' | 'conflict', sub, claims, ctr, cat, rat, exp, abs or '', seal or '',
    /// ua or '', lbl or '', jkt or ''}`.
    ///
    /// KEYS[1] the session. ARGV[1] the expected counter; ARGV[2] now; ARGV[3] the new sliding
    /// expiry; ARGV[4] the next counter (all decimal); ARGV[5] `1` to leave a DPoP-bound
    /// session alone (a conflict), else empty. Counters are compared and stored as strings,
    /// so they stay exact past 2^53.
    pub(super) rotate: Script,
    /// Deletes a session if it belongs to the subject; returns how many were deleted.
    ///
    /// KEYS[1] the session. ARGV[1] the subject.
    pub(super) revoke_of_subject: Script,
    /// Replaces the seal of an existing session; returns 1, or 0 when there is none.
    ///
    /// KEYS[1] the session. ARGV[1] the new seal.
    pub(super) reseal: Script,
    /// Binds a live, unbound session to a DPoP key. Returns `{}` when no live session exists,
    /// else its eleven fields after (FIELDS order, '' for absent ones).
    ///
    /// KEYS[1] the session. ARGV[1] the thumbprint; ARGV[2] the new seal; ARGV[3] now.
    pub(super) bind: Script,
    /// Re-authenticates a live session: swaps counter, `rat`, `exp`, claims and seal while
    /// its counter and seal are the expected ones. Returns `{}` when nothing changed, else
    /// its eleven fields after (FIELDS order, '' for absent ones).
    ///
    /// KEYS[1] the session. ARGV[1] the expected counter; ARGV[2] the expected seal; ARGV[3]
    /// the next counter; ARGV[4] now; ARGV[5] the new sliding expiry; ARGV[6] the claims;
    /// ARGV[7] the seal; ARGV[8] the new `rotated_at`.
    pub(super) reauthenticate: Script,
    /// Remembers a spent DPoP proof in its key's partition, bounded per partition. Returns
    /// 1 when remembered now, 0 for a replay, -1 when the partition is full.
    ///
    /// KEYS[1] the partition (a sorted set). ARGV[1] the replay key; ARGV[2] until (ms);
    /// ARGV[3] now (ms); ARGV[4] the most one partition holds.
    pub(super) remember_proof: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            index_add: Script::new(include_str!("scripts/index_add.lua")),
            index_old: Script::new(include_str!("scripts/index_old.lua")),
            index_forget: Script::new(include_str!("scripts/index_forget.lua")),
            create: Script::new(include_str!("scripts/create.lua")),
            rotate: Script::new(include_str!("scripts/rotate.lua")),
            revoke_of_subject: Script::new(include_str!("scripts/revoke_of_subject.lua")),
            reseal: Script::new(include_str!("scripts/reseal.lua")),
            bind: Script::new(include_str!("scripts/bind.lua")),
            reauthenticate: Script::new(include_str!("scripts/reauthenticate.lua")),
            remember_proof: Script::new(include_str!("scripts/remember_proof.lua")),
        }
    }
}
