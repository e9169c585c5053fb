//! Inventory: clusters, hosts and the components placed on them.
//!
//! Owns the `clusters`, `hosts` and `host_components` tables; other modules ask it through
//! the functions here. Host presence (online, last heartbeat) lives in memory in
//! [`Presence`] and is written to the database on connect and disconnect only, so a
//! thousand heartbeating agents cost no writes.
mod presence;

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::db::entities::{cluster, host, host_component};
use crate::stacks::{Catalog, RenderContext};

pub use presence::Presence;

/// What can go wrong asking the inventory.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// No such cluster.
    #[error("unknown cluster {0:?}")]
    UnknownCluster(String),
    /// No such host.
    #[error("unknown host {0:?}")]
    UnknownHost(String),
    /// The request is inconsistent with the catalog or the inventory.
    #[error("{0}")]
    Invalid(String),
    /// The name is taken.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

/// A host as the planner and the API see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HostView {
    /// Database id.
    pub id: i64,
    /// Its hostname, unique.
    pub hostname: String,
    /// The cluster it belongs to.
    pub cluster: Option<String>,
    /// `ONLINE` or `OFFLINE`.
    pub state: String,
    /// When its agent last spoke (RFC 3339).
    pub last_heartbeat: Option<String>,
    /// Agent version.
    pub agent_version: Option<String>,
    /// Labels.
    pub labels: Value,
    /// Facts reported by the agent (os, kernel, cpus, memory …).
    pub facts: Value,
    /// Components placed on it.
    pub components: Vec<HostComponentView>,
}

/// A component on a host and its state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HostComponentView {
    /// Service name.
    pub service: String,
    /// Component name.
    pub component: String,
    /// `INSTALLED`, `STARTED`, `STOPPED` or `UNKNOWN`.
    pub state: String,
}

/// A cluster with its hosts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClusterView {
    /// Database id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Stack name.
    pub stack: String,
    /// Stack version.
    pub stack_version: String,
    /// The cluster's config overrides.
    pub config: Value,
    /// Its hosts, sorted by hostname.
    pub hosts: Vec<HostView>,
}

impl ClusterView {
    /// The host `hostname` of this cluster.
    pub fn host(&self, hostname: &str) -> Option<&HostView> {
        self.hosts.iter().find(|h| h.hostname == hostname)
    }

    /// Sorted hostnames carrying `service/component`.
    pub fn carriers(&self, service: &str, component: &str) -> Vec<String> {
        self.hosts
            .iter()
            .filter(|h| {
                h.components
                    .iter()
                    .any(|c| c.service == service && c.component == component)
            })
            .map(|h| h.hostname.clone())
            .collect()
    }

    /// What templates and scripts see: config defaults overlaid and the placement map.
    pub fn render_context(&self, stack_config: &BTreeMap<String, Value>) -> RenderContext {
        let mut config = stack_config.clone();
        if let Value::Object(o) = &self.config {
            for (k, v) in o {
                config.insert(k.clone(), v.clone());
            }
        }
        let mut topology: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for h in &self.hosts {
            for c in &h.components {
                topology
                    .entry(c.service.clone())
                    .or_default()
                    .entry(c.component.clone())
                    .or_default()
                    .push(h.hostname.clone());
            }
        }
        for comps in topology.values_mut() {
            for hosts in comps.values_mut() {
                hosts.sort();
            }
        }
        RenderContext {
            cluster: self.name.clone(),
            config,
            topology,
        }
    }
}

/// A request to create a cluster and place components on its hosts.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCluster {
    /// Unique name.
    pub name: String,
    /// Stack name (`essentials`, `bigdata` …).
    pub stack: String,
    /// Stack version; the newest when omitted.
    #[serde(default)]
    pub version: Option<String>,
    /// Overrides of the stack's config defaults.
    #[serde(default)]
    pub config: BTreeMap<String, Value>,
    /// Hosts and the components each carries (`"service/component"`).
    #[serde(default)]
    pub hosts: Vec<NewPlacement>,
}

/// Components to place on one host.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlacement {
    /// The host; created (OFFLINE) if its agent has not connected yet.
    pub hostname: String,
    /// `"service/component"` names from the cluster's stack.
    #[serde(default)]
    pub components: Vec<String>,
}

/// Whether `h` is a hostname Steward accepts.
pub fn valid_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
}

fn ts(t: Option<chrono::DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339())
}

/// Creates a cluster, its hosts and their placements in one write transaction, audited as
/// `cluster.created` by `actor`.
pub async fn create_cluster(
    store: &crate::db::Store,
    actor: &str,
    catalog: &Catalog,
    req: NewCluster,
) -> Result<ClusterView, InventoryError> {
    let db = store.read();
    if req.name.is_empty()
        || req.name.len() > 64
        || !req
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(InventoryError::Invalid(format!(
            "cluster name {:?} must be 1-64 letters, digits, '-' or '_'",
            req.name
        )));
    }
    let stack = match &req.version {
        Some(v) => catalog.stack(&req.stack, v),
        None => catalog.latest(&req.stack),
    }
    .ok_or_else(|| {
        InventoryError::Invalid(format!(
            "unknown stack {:?}{}",
            req.stack,
            req.version
                .as_deref()
                .map(|v| format!(" version {v:?}"))
                .unwrap_or_default()
        ))
    })?;
    // Config values reach scripts and templates: each is checked against its key's type and
    // range from the stack file, and stored in canonical form.
    let mut req = req;
    for (k, v) in req.config.iter_mut() {
        let Some(ty) = stack.config_types.get(k) else {
            return Err(InventoryError::Invalid(format!(
                "config key {k:?} is not one of stack {}'s keys",
                stack.name
            )));
        };
        *v = ty
            .validate(v)
            .map_err(|e| InventoryError::Invalid(format!("config key {k:?}: {e}")))?;
    }
    let mut seen = BTreeSet::new();
    for p in &req.hosts {
        if !valid_hostname(&p.hostname) {
            return Err(InventoryError::Invalid(format!(
                "hostname {:?} is not valid",
                p.hostname
            )));
        }
        if !seen.insert(p.hostname.clone()) {
            return Err(InventoryError::Invalid(format!(
                "host {:?} is listed twice",
                p.hostname
            )));
        }
        for c in &p.components {
            let ok = c
                .split_once('/')
                .is_some_and(|(s, comp)| stack.component(s, comp).is_some());
            if !ok {
                return Err(InventoryError::Invalid(format!(
                    "stack {} {} has no component {c:?} (expected \"service/component\")",
                    stack.name, stack.version
                )));
            }
        }
    }
    // The writer lock, like every write: the audit record reads the chain's head.
    let guard = store.begin_write().await?;
    let txn = &*guard;
    if cluster::Entity::find()
        .filter(cluster::Column::Name.eq(&req.name))
        .one(txn)
        .await?
        .is_some()
    {
        return Err(InventoryError::Conflict(format!(
            "cluster {:?} already exists",
            req.name
        )));
    }
    let now = Utc::now();
    let c = cluster::ActiveModel {
        name: Set(req.name.clone()),
        stack: Set(stack.name.clone()),
        stack_version: Set(stack.version.clone()),
        config: Set(serde_json::to_value(&req.config).expect("map")),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    for p in &req.hosts {
        let h = upsert_host(txn, &p.hostname).await?;
        if let Some(other) = h.cluster_id.filter(|id| *id != c.id) {
            return Err(InventoryError::Conflict(format!(
                "host {:?} already belongs to cluster #{other}",
                p.hostname
            )));
        }
        let mut am: host::ActiveModel = h.clone().into();
        am.cluster_id = Set(Some(c.id));
        am.update(txn).await?;
        for comp in &p.components {
            let (s, cn) = comp.split_once('/').expect("checked");
            host_component::Entity::insert(host_component::ActiveModel {
                host_id: Set(h.id),
                service: Set(s.to_owned()),
                component: Set(cn.to_owned()),
                state: Set("UNKNOWN".into()),
                updated_at: Set(now),
                ..Default::default()
            })
            .on_conflict(
                OnConflict::columns([
                    host_component::Column::HostId,
                    host_component::Column::Service,
                    host_component::Column::Component,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        }
    }
    crate::audit::record(
        txn,
        actor,
        "cluster.created",
        &format!("cluster:{}", req.name),
        serde_json::json!({"id": c.id, "stack": stack.name, "version": stack.version, "config": req.config,
            "hosts": req.hosts.iter().map(|p| &p.hostname).collect::<Vec<_>>()}),
    )
    .await?;
    guard.commit().await?;
    cluster_view(db, &req.name, None).await
}

async fn upsert_host<C: ConnectionTrait>(db: &C, hostname: &str) -> Result<host::Model, InventoryError> {
    if let Some(h) = host::Entity::find()
        .filter(host::Column::Hostname.eq(hostname))
        .one(db)
        .await?
    {
        return Ok(h);
    }
    Ok(host::ActiveModel {
        hostname: Set(hostname.to_owned()),
        cluster_id: Set(None),
        state: Set("OFFLINE".into()),
        labels: Set(serde_json::json!({})),
        facts: Set(serde_json::json!({})),
        agent_version: Set(None),
        last_heartbeat: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Puts `hostname` (registered if new) into cluster `cluster`; a host already in another
/// cluster stays where it is and this fails.
pub async fn join_cluster<C: ConnectionTrait>(db: &C, hostname: &str, cluster: &str) -> Result<(), InventoryError> {
    let c = cluster::Entity::find()
        .filter(cluster::Column::Name.eq(cluster))
        .one(db)
        .await?
        .ok_or_else(|| InventoryError::UnknownCluster(cluster.to_owned()))?;
    let h = upsert_host(db, hostname).await?;
    match h.cluster_id {
        Some(id) if id == c.id => Ok(()),
        Some(_) => Err(InventoryError::Conflict(format!(
            "host {hostname} already belongs to another cluster"
        ))),
        None => {
            let mut am: host::ActiveModel = h.into();
            am.cluster_id = Set(Some(c.id));
            am.update(db).await?;
            Ok(())
        }
    }
}

/// The id of host `hostname`, if it is registered.
pub async fn host_id(db: &DatabaseConnection, hostname: &str) -> Result<Option<i64>, InventoryError> {
    Ok(host::Entity::find()
        .filter(host::Column::Hostname.eq(hostname))
        .one(db)
        .await?
        .map(|h| h.id))
}

/// Registers (or finds) the host an agent says it is, records its facts, marks it ONLINE.
pub async fn host_connected(
    store: &crate::db::Store,
    hostname: &str,
    agent_version: &str,
    facts: Value,
    labels: Value,
) -> Result<i64, InventoryError> {
    if !valid_hostname(hostname) {
        return Err(InventoryError::Invalid(format!("hostname {hostname:?} is not valid")));
    }
    let txn = store.begin_write().await?;
    let h = upsert_host(&*txn, hostname).await?;
    let mut am: host::ActiveModel = h.into();
    am.state = Set("ONLINE".into());
    am.agent_version = Set(Some(agent_version.to_owned()));
    am.facts = Set(facts);
    am.labels = Set(labels);
    am.last_heartbeat = Set(Some(Utc::now()));
    let h = am.update(&*txn).await?;
    txn.commit().await?;
    Ok(h.id)
}

/// Marks a host OFFLINE with the time its agent was last heard.
pub async fn host_disconnected(
    store: &crate::db::Store,
    host_id: i64,
    last_heard: chrono::DateTime<Utc>,
) -> Result<(), InventoryError> {
    let txn = store.begin_write().await?;
    host::Entity::update_many()
        .col_expr(host::Column::State, "OFFLINE".into())
        .col_expr(host::Column::LastHeartbeat, last_heard.into())
        .filter(host::Column::Id.eq(host_id))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Records what a finished command says about a component's state.
pub async fn set_component_state<C: ConnectionTrait>(
    db: &C,
    host_id: i64,
    service: &str,
    component: &str,
    state: &str,
) -> Result<(), sea_orm::DbErr> {
    host_component::Entity::update_many()
        .col_expr(host_component::Column::State, state.into())
        .col_expr(host_component::Column::UpdatedAt, Utc::now().into())
        .filter(host_component::Column::HostId.eq(host_id))
        .filter(host_component::Column::Service.eq(service))
        .filter(host_component::Column::Component.eq(component))
        .exec(db)
        .await?;
    Ok(())
}

/// Every cluster, by name.
pub async fn list_clusters(
    db: &DatabaseConnection,
    presence: Option<&Presence>,
) -> Result<Vec<ClusterView>, InventoryError> {
    let clusters = cluster::Entity::find()
        .order_by_asc(cluster::Column::Name)
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(clusters.len());
    for c in clusters {
        out.push(build_cluster_view(db, c, presence).await?);
    }
    Ok(out)
}

/// One cluster by name or numeric id.
pub async fn cluster_view(
    db: &DatabaseConnection,
    key: &str,
    presence: Option<&Presence>,
) -> Result<ClusterView, InventoryError> {
    let q = cluster::Entity::find();
    let found = match key.parse::<i64>() {
        Ok(id) => q.filter(cluster::Column::Id.eq(id)).one(db).await?,
        Err(_) => q.filter(cluster::Column::Name.eq(key)).one(db).await?,
    };
    let c = found.ok_or_else(|| InventoryError::UnknownCluster(key.to_owned()))?;
    build_cluster_view(db, c, presence).await
}

async fn build_cluster_view(
    db: &DatabaseConnection,
    c: cluster::Model,
    presence: Option<&Presence>,
) -> Result<ClusterView, InventoryError> {
    let hosts = host::Entity::find()
        .filter(host::Column::ClusterId.eq(c.id))
        .order_by_asc(host::Column::Hostname)
        .all(db)
        .await?;
    let views = host_views(db, hosts, Some(&c.name), presence).await?;
    Ok(ClusterView {
        id: c.id,
        name: c.name,
        stack: c.stack,
        stack_version: c.stack_version,
        config: c.config,
        hosts: views,
    })
}

async fn host_views(
    db: &DatabaseConnection,
    hosts: Vec<host::Model>,
    cluster_name: Option<&str>,
    presence: Option<&Presence>,
) -> Result<Vec<HostView>, InventoryError> {
    let ids: Vec<i64> = hosts.iter().map(|h| h.id).collect();
    let comps = host_component::Entity::find()
        .filter(host_component::Column::HostId.is_in(ids))
        .order_by_asc(host_component::Column::Service)
        .order_by_asc(host_component::Column::Component)
        .all(db)
        .await?;
    let mut by_host: BTreeMap<i64, Vec<HostComponentView>> = BTreeMap::new();
    for c in comps {
        by_host.entry(c.host_id).or_default().push(HostComponentView {
            service: c.service,
            component: c.component,
            state: c.state,
        });
    }
    let mut cluster_names: BTreeMap<i64, String> = BTreeMap::new();
    if cluster_name.is_none() {
        for c in cluster::Entity::find().all(db).await? {
            cluster_names.insert(c.id, c.name);
        }
    }
    Ok(hosts
        .into_iter()
        .map(|h| {
            let live = presence.and_then(|p| p.get(h.id));
            HostView {
                id: h.id,
                cluster: match cluster_name {
                    Some(n) => Some(n.to_owned()),
                    None => h.cluster_id.and_then(|id| cluster_names.get(&id).cloned()),
                },
                state: if live.is_some() {
                    "ONLINE".into()
                } else if presence.is_some() {
                    "OFFLINE".into()
                } else {
                    h.state.clone()
                },
                last_heartbeat: ts(live.or(h.last_heartbeat)),
                agent_version: h.agent_version,
                labels: h.labels,
                facts: h.facts,
                components: by_host.remove(&h.id).unwrap_or_default(),
                hostname: h.hostname,
            }
        })
        .collect())
}

/// Every host, by hostname.
pub async fn list_hosts(db: &DatabaseConnection, presence: &Presence) -> Result<Vec<HostView>, InventoryError> {
    let hosts = host::Entity::find()
        .order_by_asc(host::Column::Hostname)
        .all(db)
        .await?;
    host_views(db, hosts, None, Some(presence)).await
}

/// One host by hostname or numeric id.
pub async fn host_view(db: &DatabaseConnection, key: &str, presence: &Presence) -> Result<HostView, InventoryError> {
    let q = host::Entity::find();
    let found = match key.parse::<i64>() {
        Ok(id) => q.filter(host::Column::Id.eq(id)).one(db).await?,
        Err(_) => q.filter(host::Column::Hostname.eq(key)).one(db).await?,
    };
    let h = found.ok_or_else(|| InventoryError::UnknownHost(key.to_owned()))?;
    Ok(host_views(db, vec![h], None, Some(presence)).await?.remove(0))
}

/// The name of cluster `id`.
pub async fn cluster_name(db: &DatabaseConnection, id: i64) -> Result<String, InventoryError> {
    Ok(cluster::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|c| c.name)
        .unwrap_or_default())
}

/// Every cluster's name by id.
pub async fn cluster_names(db: &DatabaseConnection) -> Result<BTreeMap<i64, String>, InventoryError> {
    Ok(cluster::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect())
}

/// Deletes cluster `key` (id or name) as `actor`: its hosts stay known but leave it (their
/// component placements go), its finished jobs stay in the history. Refused while one of its
/// jobs is proposed, approved or running: decide or cancel those first. Returns its name.
pub async fn delete_cluster(store: &crate::db::Store, key: &str, actor: &str) -> Result<String, InventoryError> {
    use crate::db::entities::job;
    let c = cluster_view(store.read(), key, None).await?;
    let txn = store.begin_write().await?;
    // Every final state stamps `finished_at` (the engine recovers by the same rule), so the
    // inventory needs no knowledge of job states.
    let active: Vec<i64> = job::Entity::find()
        .filter(job::Column::ClusterId.eq(c.id))
        .filter(job::Column::FinishedAt.is_null())
        .all(&*txn)
        .await?
        .into_iter()
        .map(|j| j.id)
        .collect();
    if !active.is_empty() {
        return Err(InventoryError::Conflict(format!(
            "cluster {} has jobs that are not finished ({}); reject, cancel or wait for them first",
            c.name,
            active
                .iter()
                .map(|id| format!("job {id}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let hosts: Vec<i64> = c.hosts.iter().map(|h| h.id).collect();
    host_component::Entity::delete_many()
        .filter(host_component::Column::HostId.is_in(hosts.clone()))
        .exec(&*txn)
        .await?;
    host::Entity::update_many()
        .col_expr(
            host::Column::ClusterId,
            sea_orm::sea_query::Expr::value(Option::<i64>::None),
        )
        .filter(host::Column::Id.is_in(hosts))
        .exec(&*txn)
        .await?;
    cluster::Entity::delete_by_id(c.id).exec(&*txn).await?;
    crate::audit::record(
        &*txn,
        actor,
        "cluster.deleted",
        &format!("cluster:{}", c.name),
        serde_json::json!({"id": c.id, "hosts": c.hosts.len()}),
    )
    .await?;
    txn.commit().await?;
    Ok(c.name)
}
