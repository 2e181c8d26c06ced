//! The audit trail: every operator action that changed the exchange — who gave it, what it
//! was, when the leader stamped it — kept in replicated state, so every node shows the same
//! trail and a snapshot carries it.
//!
//! An action is an applied command other than an account holder's request. Who gave it is the
//! operator's name as the node that authenticated it recorded it in the command (the name in
//! the operator's client certificate, or `(token)` for the bearer token); a command without one
//! (a cluster without identities) is recorded with none. Refused commands change nothing, so
//! they are not here: they stay in the log itself and in the refusing node's log lines.
//!
//! The trail is bounded (`Limits::audit_records_max`, oldest dropped first); `audit_total`
//! counts every record ever made, so a reader can tell what was dropped.
//!
//! Must never: record an account holder's request, or anything in clear that is a secret
//! (commands carry none: see `api_keys`).

use serde::{Deserialize, Serialize};

use crate::command::CommandBody;
use crate::engine::Engine;
use crate::event::{Outcome, Summary};
use crate::reject::Reject;

/// Longest cluster administration note (`CommandBody::AdminNote`), in bytes.
pub const ADMIN_NOTE_LEN_MAX: usize = 512;

/// Applies an administration note: valid text is recorded (by `apply`, like every operator
/// action), and nothing else changes.
pub(crate) fn admin_note(action: &str) -> Outcome {
    let valid =
        (1..=ADMIN_NOTE_LEN_MAX).contains(&action.len()) && action.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    match valid {
        true => Outcome::Applied(Summary::AdminNoted),
        false => Outcome::Rejected(Reject::InvalidAdminNote),
    }
}

/// Longest operator name, in bytes.
pub const OPERATOR_NAME_LEN_MAX: usize = 64;

/// Whether `name` can be an operator's name: 1 to 64 printable ASCII characters.
pub fn operator_name_valid(name: &str) -> bool {
    (1..=OPERATOR_NAME_LEN_MAX).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_graphic())
}

/// One operator action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Its number: 1 for the first record ever made.
    pub number: u64,
    /// When: the command's (leader-stamped, clamped) engine time, in ms since the epoch.
    pub ts_ms: u64,
    /// Who: the operator's name, if the command named one.
    pub operator: Option<String>,
    /// What: the command as applied.
    pub action: CommandBody,
}

impl Engine {
    /// Records an applied operator action, dropping the oldest record beyond the limit.
    pub(crate) fn record_audit(&mut self, operator: Option<&str>, action: &CommandBody) {
        debug_assert!(action.audited(), "account holders' requests and chain steps are not audited");
        self.audit_total += 1;
        let record = AuditRecord {
            number: self.audit_total,
            ts_ms: self.now_ms,
            operator: operator.map(str::to_string),
            action: action.clone(),
        };
        self.audit.push_back(record);
        while self.audit.len() as u64 > self.limits.audit_records_max {
            self.audit.pop_front();
        }
        assert!(self.audit.len() as u64 <= self.limits.audit_records_max.max(1));
    }

    /// The kept audit records, oldest first.
    pub fn audit_records(&self) -> impl DoubleEndedIterator<Item = &AuditRecord> + ExactSizeIterator {
        self.audit.iter()
    }

    /// How many audit records were ever made (kept or dropped).
    pub fn audit_total(&self) -> u64 {
        self.audit_total
    }
}
