//! Users: the first admin, creation with argon2 passwords, listing, role changes, disabling
//! and deletion (never of the caller themselves, nor of the last enabled admin).
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{check_name, passwords, secrets, Auth, AuthError, Role};
use crate::audit;
use crate::db::entities::{auth_token, chat_identity, user};

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// A disabled user cannot log in; their sessions and the API tokens they created do not
    /// authenticate until they are enabled again.
    pub disabled: bool,
    /// RFC 3339.
    pub created_at: String,
}

impl From<user::Model> for UserView {
    fn from(u: user::Model) -> Self {
        UserView {
            id: u.id,
            role: Role::parse(&u.role).unwrap_or(Role::Viewer),
            username: u.username,
            disabled: u.disabled,
            created_at: u.created_at.to_rfc3339(),
        }
    }
}

/// A change to a user: a new role, disabled or enabled, or both.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// The new role.
    #[serde(default)]
    pub role: Option<Role>,
    /// `true` disables the user, `false` enables them again.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// Whether `u` is an admin who can still act as one.
fn enabled_admin(u: &user::Model) -> bool {
    u.role == Role::Admin.as_str() && !u.disabled
}

/// Hashes off the async runtime: argon2 takes tens of milliseconds on purpose.
pub(super) async fn hash_password(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || passwords::hash(&password))
        .await
        .map_err(|e| AuthError::Invalid(e.to_string()))?
        .map_err(AuthError::Invalid)
}

impl Auth {
    /// Creates the first admin when there are no users. Returns the password when it was
    /// generated (the caller prints it once); `None` when users exist or it was configured.
    pub async fn bootstrap_admin(&self) -> Result<Option<String>, AuthError> {
        if user::Entity::find().count(self.store.read()).await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match &self.config.admin_password {
            Some(p) => (p.clone(), false),
            None => (secrets::password(), true),
        };
        self.create_user("steward", "admin", &password, Role::Admin).await?;
        Ok(generated.then_some(password))
    }

    /// Creates a user; `actor` is recorded in the audit log.
    pub async fn create_user(
        &self,
        actor: &str,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<UserView, AuthError> {
        check_name("username", username)?;
        if username.starts_with("token:") {
            return Err(AuthError::Invalid("usernames may not start with \"token:\"".into()));
        }
        if password.chars().count() < passwords::MIN_LEN {
            return Err(AuthError::Invalid(format!(
                "the password must be at least {} characters",
                passwords::MIN_LEN
            )));
        }
        let hash = hash_password(password.to_owned()).await?;
        let txn = self.store.begin_write().await?;
        if user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(&*txn)
            .await?
            .is_some()
        {
            return Err(AuthError::Conflict(format!("user {username:?} already exists")));
        }
        let new = user::ActiveModel {
            username: Set(username.to_owned()),
            password_hash: Set(hash),
            role: Set(role.as_str().into()),
            created_at: Set(Utc::now()),
            disabled: Set(false),
            ..Default::default()
        };
        let u = new.insert(&*txn).await?;
        audit::record(
            &*txn,
            actor,
            "user.created",
            &format!("user:{username}"),
            json!({"role": role.as_str()}),
        )
        .await?;
        txn.commit().await?;
        Ok(u.into())
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserView>, AuthError> {
        Ok(user::Entity::find()
            .order_by_asc(user::Column::Username)
            .all(self.store.read())
            .await?
            .into_iter()
            .map(UserView::from)
            .collect())
    }

    /// Changes user `id`'s role or disabled flag as `actor`; audited as `user.updated` with
    /// the old and new values. Refused (409) when it would demote or disable the actor, or
    /// leave no enabled admin.
    pub async fn update_user(&self, actor: &str, id: i64, change: &UserUpdate) -> Result<UserView, AuthError> {
        if change.role.is_none() && change.disabled.is_none() {
            return Err(AuthError::Invalid(
                "nothing to change: give role, disabled or both".into(),
            ));
        }
        let txn = self.store.begin_write().await?;
        let u = user::Entity::find_by_id(id)
            .one(&*txn)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("user {id} not found")))?;
        let role = change.role.map_or(u.role.clone(), |r| r.as_str().to_owned());
        let disabled = change.disabled.unwrap_or(u.disabled);
        if role == u.role && disabled == u.disabled {
            return Ok(u.into());
        }
        let after = user::Model {
            role: role.clone(),
            disabled,
            ..u.clone()
        };
        if enabled_admin(&u) && !enabled_admin(&after) {
            let what = if disabled { "disable" } else { "demote" };
            if u.username == actor {
                return Err(AuthError::Conflict(format!(
                    "you cannot {what} yourself; another admin has to"
                )));
            }
            self.keep_an_admin(&txn, &u, what).await?;
        }
        let old = json!({"role": u.role, "disabled": u.disabled});
        let new = json!({"role": role, "disabled": disabled});
        let mut am: user::ActiveModel = u.into();
        am.role = Set(role);
        am.disabled = Set(disabled);
        let u = am.update(&*txn).await?;
        audit::record(
            &*txn,
            actor,
            "user.updated",
            &format!("user:{}", u.username),
            json!({"old": old, "new": new}),
        )
        .await?;
        txn.commit().await?;
        Ok(u.into())
    }

    /// Deletes user `id` as `actor`: their sessions and the API tokens they created are
    /// revoked with them. Audited as `user.deleted`. Refused (409) for the actor themselves and
    /// for the last enabled admin.
    pub async fn delete_user(&self, actor: &str, id: i64) -> Result<(), AuthError> {
        let txn = self.store.begin_write().await?;
        let u = user::Entity::find_by_id(id)
            .one(&*txn)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("user {id} not found")))?;
        if u.username == actor {
            return Err(AuthError::Conflict(
                "you cannot delete yourself; another admin has to".into(),
            ));
        }
        if enabled_admin(&u) {
            self.keep_an_admin(&txn, &u, "delete").await?;
        }
        let now = Utc::now();
        // Sessions carry the user's name; API tokens act as `token:<name>` but were created
        // by them: neither outlives the user.
        let revoked = auth_token::Entity::update_many()
            .col_expr(
                auth_token::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(Some(now)),
            )
            .filter(auth_token::Column::RevokedAt.is_null())
            .filter(
                sea_orm::Condition::any()
                    .add(
                        sea_orm::Condition::all()
                            .add(auth_token::Column::Kind.eq("session"))
                            .add(auth_token::Column::Username.eq(&u.username)),
                    )
                    .add(
                        sea_orm::Condition::all()
                            .add(auth_token::Column::Kind.eq("api"))
                            .add(auth_token::Column::CreatedBy.eq(&u.username)),
                    ),
            )
            .exec(&*txn)
            .await?
            .rows_affected;
        // A chat account linked to them must not act for a later user of the same name.
        chat_identity::Entity::delete_many()
            .filter(chat_identity::Column::Username.eq(&u.username))
            .exec(&*txn)
            .await?;
        user::Entity::delete_by_id(u.id).exec(&*txn).await?;
        audit::record(
            &*txn,
            actor,
            "user.deleted",
            &format!("user:{}", u.username),
            json!({"id": u.id, "role": u.role, "tokens_revoked": revoked}),
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Refuses to `what` (demote, disable, delete) `u` when they are the last enabled admin.
    async fn keep_an_admin(&self, txn: &crate::db::WriteTxn, u: &user::Model, what: &str) -> Result<(), AuthError> {
        let others = user::Entity::find()
            .filter(user::Column::Role.eq(Role::Admin.as_str()))
            .filter(user::Column::Disabled.eq(false))
            .filter(user::Column::Id.ne(u.id))
            .count(&**txn)
            .await?;
        if others == 0 {
            return Err(AuthError::Conflict(format!(
                "cannot {what} {}: they are the last enabled admin; make another admin first",
                u.username
            )));
        }
        Ok(())
    }

    pub(super) async fn find_user(&self, username: &str) -> Result<Option<user::Model>, AuthError> {
        Ok(user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(self.store.read())
            .await?)
    }
}
