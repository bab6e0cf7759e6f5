//! Roles in an organisation and what each may do. One table, checked by every handler.

use serde::{Deserialize, Serialize};

/// A member's role in an organisation, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
    Guest,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Guest => "guest",
        }
    }

    /// True when `self` is at least as strong as `other`.
    pub fn at_least(self, other: Role) -> bool {
        self <= other
    }
}

/// Something a caller may try to do in an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    OrgRead,
    OrgUpdate,
    OrgDelete,
    MembersRead,
    MembersManage,
    ApiKeysManage,
    TokensMint,
    RoomsList,
    RoomRead(&'a str),
    RoomCreate,
    RoomUpdate(&'a str),
    RoomDelete(&'a str),
    RoomJoin(&'a str),
    ChatRead(&'a str),
    ChatPost(&'a str),
    WebhooksManage,
    BillingRead,
}

impl Action<'_> {
    /// The weakest role allowed to do this.
    pub fn minimum_role(self) -> Role {
        match self {
            Action::OrgDelete => Role::Owner,
            Action::OrgUpdate
            | Action::MembersManage
            | Action::ApiKeysManage
            | Action::TokensMint
            | Action::RoomDelete(_)
            | Action::WebhooksManage
            | Action::BillingRead => Role::Admin,
            Action::MembersRead | Action::RoomCreate | Action::RoomUpdate(_) => Role::Member,
            Action::OrgRead
            | Action::RoomsList
            | Action::RoomRead(_)
            | Action::RoomJoin(_)
            | Action::ChatRead(_)
            | Action::ChatPost(_) => Role::Guest,
        }
    }

    /// A short name for refusals.
    pub fn describe(self) -> String {
        match self {
            Action::OrgRead => "read the organisation".into(),
            Action::OrgUpdate => "update the organisation".into(),
            Action::OrgDelete => "delete the organisation".into(),
            Action::MembersRead => "list members".into(),
            Action::MembersManage => "manage members".into(),
            Action::ApiKeysManage => "manage API keys".into(),
            Action::TokensMint => "mint participant tokens".into(),
            Action::RoomsList => "list rooms".into(),
            Action::RoomRead(r) => format!("read room {r}"),
            Action::RoomCreate => "create rooms".into(),
            Action::RoomUpdate(r) => format!("update room {r}"),
            Action::RoomDelete(r) => format!("delete room {r}"),
            Action::RoomJoin(r) => format!("join room {r}"),
            Action::ChatRead(r) => format!("read the chat of room {r}"),
            Action::ChatPost(r) => format!("post in room {r}"),
            Action::WebhooksManage => "manage webhooks".into(),
            Action::BillingRead => "read billing".into(),
        }
    }
}

/// True when `role` may do `action`.
pub fn allows(role: Role, action: Action<'_>) -> bool {
    role.at_least(action.minimum_role())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        use Action::*;
        let all = [
            OrgRead,
            OrgUpdate,
            OrgDelete,
            MembersRead,
            MembersManage,
            ApiKeysManage,
            TokensMint,
            RoomsList,
            RoomRead("r"),
            RoomCreate,
            RoomUpdate("r"),
            RoomDelete("r"),
            RoomJoin("r"),
            ChatRead("r"),
            ChatPost("r"),
            WebhooksManage,
            BillingRead,
        ];
        let count = |role| all.iter().filter(|a| allows(role, **a)).count();
        assert_eq!(count(Role::Owner), all.len());
        assert_eq!(count(Role::Admin), all.len() - 1);
        assert!(!allows(Role::Admin, OrgDelete));
        assert!(allows(Role::Member, RoomCreate) && !allows(Role::Member, RoomDelete("r")));
        assert!(!allows(Role::Member, ApiKeysManage) && !allows(Role::Member, WebhooksManage));
        assert!(allows(Role::Guest, RoomJoin("r")) && !allows(Role::Guest, RoomCreate));
        assert!(!allows(Role::Guest, MembersRead));
    }
}
