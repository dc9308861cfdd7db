//! Who may do what: an allowlist of Telegram user ids with roles. Authorization goes by the
//! sender's user id only, so writing in an allowed group grants nothing.

use std::collections::BTreeMap;

use crate::config::{Role, TelegramUser};

/// The allowlist.
#[derive(Debug, Clone, Default)]
pub struct Access(BTreeMap<i64, Role>);

impl Access {
    /// From `[[telegram.users]]`.
    #[must_use]
    pub fn new(users: &[TelegramUser]) -> Self {
        Self(users.iter().map(|u| (u.id, u.role)).collect())
    }

    /// The role of a user, if allowed at all.
    #[must_use]
    pub fn role(&self, user: i64) -> Option<Role> {
        self.0.get(&user).copied()
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not on the allowlist.
    Unknown,
    /// Allowed, but with a lower role than needed.
    Role {
        /// Their role.
        has: Role,
        /// The role needed.
        needs: Role,
    },
}

/// The polite answer to someone not on the allowlist: nothing about the account.
pub const NOT_ALLOWED: &str = "Sorry, this is a private bot: it only answers the people its owner has allowed.";

impl Access {
    /// Checks that `user` has at least `needs`.
    ///
    /// # Errors
    /// The refusal.
    pub fn check(&self, user: i64, needs: Role) -> Result<Role, Refusal> {
        let has = self.role(user).ok_or(Refusal::Unknown)?;
        if has >= needs { Ok(has) } else { Err(Refusal::Role { has, needs }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        let access = Access::new(&[
            TelegramUser { id: 1, role: Role::Viewer },
            TelegramUser { id: 2, role: Role::Trader },
            TelegramUser { id: 3, role: Role::Admin },
        ]);
        assert_eq!(access.check(1, Role::Viewer), Ok(Role::Viewer));
        assert_eq!(access.check(1, Role::Trader), Err(Refusal::Role { has: Role::Viewer, needs: Role::Trader }));
        assert_eq!(access.check(2, Role::Trader), Ok(Role::Trader));
        assert!(access.check(2, Role::Admin).is_err());
        assert_eq!(access.check(3, Role::Admin), Ok(Role::Admin));
        assert_eq!(access.check(4, Role::Viewer), Err(Refusal::Unknown));
        assert_eq!(access.check(-1001, Role::Viewer), Err(Refusal::Unknown), "a chat id is not a user");
    }
}
