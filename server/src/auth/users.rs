//! Users: the first admin, creation with argon2 passwords, listing.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use serde_json::json;

use super::{check_name, passwords, secrets, Auth, AuthError, Role};
use crate::audit;
use crate::db::entities::user;

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// RFC 3339.
    pub created_at: String,
}

impl From<user::Model> for UserView {
    fn from(u: user::Model) -> Self {
        UserView {
            id: u.id,
            role: Role::parse(&u.role).unwrap_or(Role::Viewer),
            username: u.username,
            created_at: u.created_at.to_rfc3339(),
        }
    }
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
        if user::Entity::find().count(&self.store.conn).await? > 0 {
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
        let u = user::ActiveModel {
            username: Set(username.to_owned()),
            password_hash: Set(hash),
            role: Set(role.as_str().into()),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&*txn)
        .await?;
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
            .all(&self.store.conn)
            .await?
            .into_iter()
            .map(UserView::from)
            .collect())
    }

    pub(super) async fn find_user(&self, username: &str) -> Result<Option<user::Model>, AuthError> {
        Ok(user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(&self.store.conn)
            .await?)
    }
}
