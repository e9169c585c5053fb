//! Chat identities: which Steward user a Slack or Telegram account acts as.
//!
//! An admin links an account directly, or a user asks for a one-time link code (shown in the
//! web console) and sends it to the bot from the account to link. A bot acts only for a linked
//! account, with that user's role: it never widens what the user may do.
use chrono::{Duration, Utc};
use rand::rngs::OsRng;
use rand::Rng;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{check_name, secrets, Auth, AuthError, UserView};
use crate::audit;
use crate::db::entities::{chat_identity, chat_link_code, user};

/// How long a link code may be redeemed.
const LINK_CODE_TTL_MINUTES: i64 = 10;
/// Letters a person reads off a screen and types without confusing them (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// 10 characters of 31: about 50 bits, against guesses only a signed bot request can make.
const CODE_LEN: usize = 10;

/// A chat service Steward has a bot on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Slack: the external id is the member id (`U…`).
    Slack,
    /// Telegram: the external id is the numeric user id.
    Telegram,
}

impl Provider {
    /// `slack` or `telegram`, as stored and audited.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Slack => "slack",
            Provider::Telegram => "telegram",
        }
    }
}

/// A linked chat account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChatIdentityView {
    /// Id.
    pub id: i64,
    /// `slack` or `telegram`.
    pub provider: String,
    /// The provider's id of the account.
    pub external_id: String,
    /// The Steward user it acts as.
    pub username: String,
    /// Who linked it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
}

impl From<chat_identity::Model> for ChatIdentityView {
    fn from(m: chat_identity::Model) -> Self {
        ChatIdentityView {
            id: m.id,
            provider: m.provider,
            external_id: m.external_id,
            username: m.username,
            created_by: m.created_by,
            created_at: m.created_at.to_rfc3339(),
        }
    }
}

/// An admin's link of a chat account to a user.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChatIdentity {
    /// `slack` or `telegram`.
    pub provider: Provider,
    /// The provider's id of the account (Slack `U…`, Telegram's numeric id).
    pub external_id: String,
    /// The Steward user it acts as.
    pub username: String,
}

/// A one-time code that links the chat account it is sent from.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkCode {
    /// Send `link <code>` to the bot.
    pub code: String,
    /// RFC 3339: unusable after.
    pub expires_at: String,
}

/// Slack member ids are upper-case letters and digits; Telegram's are decimal numbers.
fn check_external_id(provider: Provider, id: &str) -> Result<(), AuthError> {
    let ok = match provider {
        Provider::Slack => {
            (2..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        }
        Provider::Telegram => (1..=20).contains(&id.len()) && id.parse::<i64>().is_ok_and(|n| n > 0),
    };
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "{id:?} is not a {} user id ({})",
            provider.as_str(),
            match provider {
                Provider::Slack => "a member id such as U024BE7LH",
                Provider::Telegram => "a positive number such as 123456789",
            }
        )))
    }
}

impl Auth {
    /// Links `req`'s account to its user (admin); an account links to one user only.
    pub async fn link_identity(&self, actor: &str, req: &NewChatIdentity) -> Result<ChatIdentityView, AuthError> {
        check_name("username", &req.username)?;
        check_external_id(req.provider, &req.external_id)?;
        self.insert_identity(actor, req.provider, &req.external_id, &req.username)
            .await
    }

    async fn insert_identity(
        &self,
        actor: &str,
        provider: Provider,
        external_id: &str,
        username: &str,
    ) -> Result<ChatIdentityView, AuthError> {
        let txn = self.store.begin_write().await?;
        let owner = user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(&*txn)
            .await?;
        if owner.is_none() {
            return Err(AuthError::NotFound(format!("user {username:?} not found")));
        }
        let existing = chat_identity::Entity::find()
            .filter(chat_identity::Column::Provider.eq(provider.as_str()))
            .filter(chat_identity::Column::ExternalId.eq(external_id))
            .one(&*txn)
            .await?;
        if let Some(e) = existing {
            return Err(AuthError::Conflict(format!(
                "{} account {external_id} is already linked to {}; unlink it first",
                provider.as_str(),
                e.username
            )));
        }
        let new = chat_identity::ActiveModel {
            provider: Set(provider.as_str().into()),
            external_id: Set(external_id.into()),
            username: Set(username.into()),
            created_by: Set(actor.into()),
            created_at: Set(Utc::now()),
            ..Default::default()
        };
        let row = new.insert(&*txn).await?;
        audit::record(
            &*txn,
            actor,
            "chat_identity.linked",
            &format!("user:{username}"),
            json!({"provider": provider.as_str(), "external_id": external_id}),
        )
        .await?;
        txn.commit().await?;
        Ok(row.into())
    }

    /// Every linked account, newest first.
    pub async fn list_identities(&self) -> Result<Vec<ChatIdentityView>, AuthError> {
        self.views(chat_identity::Entity::find().order_by_desc(chat_identity::Column::Id))
            .await
    }

    /// Unlinks account `id`: the bot no longer acts for it.
    pub async fn unlink_identity(&self, actor: &str, id: i64) -> Result<(), AuthError> {
        let txn = self.store.begin_write().await?;
        let row = chat_identity::Entity::find_by_id(id)
            .one(&*txn)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("chat identity {id} not found")))?;
        chat_identity::Entity::delete_by_id(id).exec(&*txn).await?;
        audit::record(
            &*txn,
            actor,
            "chat_identity.unlinked",
            &format!("user:{}", row.username),
            json!({"provider": row.provider, "external_id": row.external_id}),
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// A new one-time code with which `username` links the chat account it is sent from.
    pub async fn create_link_code(&self, username: &str) -> Result<LinkCode, AuthError> {
        let code: String = (0..CODE_LEN)
            .map(|_| CODE_ALPHABET[OsRng.gen_range(0..CODE_ALPHABET.len())] as char)
            .collect();
        let now = Utc::now();
        let expires_at = now + Duration::minutes(LINK_CODE_TTL_MINUTES);
        let txn = self.store.begin_write().await?;
        let new = chat_link_code::ActiveModel {
            code_hash: Set(secrets::digest(&code)),
            username: Set(username.into()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
            ..Default::default()
        };
        new.insert(&*txn).await?;
        txn.commit().await?;
        Ok(LinkCode {
            code,
            expires_at: expires_at.to_rfc3339(),
        })
    }

    /// Links the account `external_id` to the user who asked for `code`, once.
    pub async fn redeem_link_code(
        &self,
        provider: Provider,
        external_id: &str,
        code: &str,
    ) -> Result<ChatIdentityView, AuthError> {
        check_external_id(provider, external_id)?;
        let code = code.trim().to_ascii_uppercase();
        let now = Utc::now();
        let txn = self.store.begin_write().await?;
        let row = chat_link_code::Entity::find()
            .filter(chat_link_code::Column::CodeHash.eq(secrets::digest(&code)))
            .one(&*txn)
            .await?
            .filter(|c| c.used_at.is_none() && c.expires_at > now)
            .ok_or_else(|| {
                AuthError::Unauthenticated(
                    "that link code is unknown, used or expired; get a new one in the web console".into(),
                )
            })?;
        let username = row.username.clone();
        let mut used: chat_link_code::ActiveModel = row.into();
        used.used_at = Set(Some(now));
        used.update(&*txn).await?;
        txn.commit().await?;
        self.insert_identity(&username, provider, external_id, &username).await
    }

    /// The user account `external_id` acts as, if it is linked to one that is not disabled.
    pub async fn identity_user(&self, provider: Provider, external_id: &str) -> Result<Option<UserView>, AuthError> {
        let Some(link) = chat_identity::Entity::find()
            .filter(chat_identity::Column::Provider.eq(provider.as_str()))
            .filter(chat_identity::Column::ExternalId.eq(external_id))
            .one(self.store.read())
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .find_user(&link.username)
            .await?
            .filter(|u| !u.disabled)
            .map(UserView::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_are_checked_per_provider() {
        assert!(check_external_id(Provider::Slack, "U024BE7LH").is_ok());
        assert!(check_external_id(Provider::Slack, "u024").is_err());
        assert!(check_external_id(Provider::Slack, "U02 4").is_err());
        assert!(check_external_id(Provider::Telegram, "123456789").is_ok());
        assert!(check_external_id(Provider::Telegram, "-5").is_err());
        assert!(check_external_id(Provider::Telegram, "12a").is_err());
    }
}
