//! [`ImageService`]: configuration, storage handles, authentication and
//! the policy and visibility checks every handler shares.

use std::path::PathBuf;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use berth_http::{AuthStrategy, RequestContext, RouteCheck};
use berth_policy::{Credentials, Denied, Enforcer, EnforcerConfig, Target};

use crate::db::Db;
use crate::error::{map_db, ImageError, Result};
use crate::model::{Formats, Image, Member, Task, DEFAULT_CONTAINER_FORMATS, DEFAULT_DISK_FORMATS};
use crate::policy::policy_defaults;
use crate::repo;
use crate::store::DataStore;

/// How the image service runs.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    /// Directory holding image data files (created when missing).
    pub data_dir: PathBuf,
    /// Largest image accepted, in bytes (Glance's `image_size_cap`, 1 TiB).
    pub max_image_size: u64,
    /// URL of the image endpoint as clients reach it, with its mount path,
    /// e.g. `http://controller:8778/image`. Used for version-discovery
    /// links; when `None` they are derived from the `Host` header and the
    /// request path.
    pub public_url: Option<String>,
    /// Pool size (SQLite is capped at 8).
    pub max_connections: u32,
    /// Page size when a list call gives no `limit` (Glance: 25).
    pub limit_default: usize,
    /// Largest page size (Glance: 1000).
    pub limit_max: usize,
    /// Accepted `disk_format` values.
    pub disk_formats: Vec<String>,
    /// Accepted `container_format` values.
    pub container_formats: Vec<String>,
    /// Operator policy overrides (YAML mapping of rule name to check string).
    pub policy_overrides_yaml: Option<String>,
}

impl ImageConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ImageConfig {
            data_dir: data_dir.into(),
            max_image_size: 1 << 40,
            public_url: None,
            max_connections: 8,
            limit_default: 25,
            limit_max: 1000,
            disk_formats: DEFAULT_DISK_FORMATS.iter().map(|s| s.to_string()).collect(),
            container_formats: DEFAULT_CONTAINER_FORMATS.iter().map(|s| s.to_string()).collect(),
            policy_overrides_yaml: None,
        }
    }
}

/// The image registry: database, data files, authentication and policy.
pub struct ImageService {
    pub(crate) config: ImageConfig,
    pub(crate) db: Db,
    pub(crate) store: DataStore,
    pub(crate) auth: AuthStrategy,
    pub(crate) enforcer: Enforcer,
    pub(crate) formats: Formats,
    /// Images as compute's boots look them up (see
    /// [`ImageService::lookup_for`]): emptied by every image write of this
    /// process, and kept at most [`LOOKUP_CACHE_TTL`] for other processes'
    /// writes.
    pub(crate) lookups: Arc<berth_db::ReadCache<Image>>,
}

/// How long an image looked up for a boot is reused without reading it
/// again (a change made by another process sharing the database is seen
/// within it; this process's own writes are seen at once).
pub const LOOKUP_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl std::fmt::Debug for ImageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageService").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The authenticated caller of a request.
/// What other services need to know of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    pub id: String,
    pub name: String,
    pub status: String,
    pub visibility: String,
    pub owner: Option<String>,
    /// GB.
    pub min_disk: i64,
    /// MB.
    pub min_ram: i64,
    pub properties: std::collections::BTreeMap<String, String>,
}

/// The authenticated caller of a request (the edge authenticated it), with
/// the route table's rule for the route it called.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub ctx: RequestContext,
    pub creds: Credentials,
    pub is_admin: bool,
    /// The route's policy rule; `None` outside HTTP (other services).
    pub check: Option<RouteCheck>,
}

impl FromRequestParts<Arc<ImageService>> for Caller {
    type Rejection = ImageError;

    async fn from_request_parts(parts: &mut Parts, svc: &Arc<ImageService>) -> Result<Self> {
        let ctx = parts.extensions.get::<RequestContext>().cloned().ok_or_else(ImageError::unauthorized)?;
        let check = RouteCheck::from_request_parts(parts, svc).await.map_err(|f| ImageError::internal(f.message))?;
        let mut caller = svc.caller_of(ctx);
        caller.check = Some(check);
        Ok(caller)
    }
}

impl Caller {
    pub fn project(&self) -> Option<&str> {
        self.ctx.project_id.as_deref()
    }
}

/// Resets an image left in `saving` or `uploading` (the upload or staging
/// was abandoned, for example by a client disconnect) back to `queued` when
/// dropped armed; staged data is removed.
struct SavingGuard {
    db: Db,
    store: Option<DataStore>,
    id: String,
    from: &'static str,
    armed: bool,
}

impl Drop for SavingGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let db = self.db.clone();
        let store = self.store.take();
        let id = std::mem::take(&mut self.id);
        let from = self.from;
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Some(store) = store {
                    store.remove_staged(&id).await;
                }
                if let Err(e) = reset_to_queued(&db, &id, from).await {
                    tracing::warn!(image = %id, error = %e, "cannot reset abandoned upload");
                }
            });
        }
    }
}

async fn reset_to_queued(db: &Db, id: &str, from: &str) -> Result<()> {
    let mut w = db.write().await?;
    repo::unstage(&mut w.tx, id, from, berth_time::now()).await?;
    Ok(w.commit().await?)
}

/// How long a finished task is kept visible (Glance's `task_time_to_live`,
/// 48 hours), in microseconds.
const TASK_TTL: i64 = 48 * 3600 * 1_000_000;

/// The import methods berth offers (`/v2/info/import`): only staged data.
/// `web-download` is not offered: fetching arbitrary URLs from the control
/// plane needs the URL filtering Glance has, which berth does not have.
pub const IMPORT_METHODS: &[&str] = &["glance-direct"];

/// The one store berth keeps image data in (`/v2/info/stores`).
pub const STORE_ID: &str = "file";

impl ImageService {
    /// Open (and migrate) the database at `database_url` and the data
    /// directory.
    pub async fn open(config: ImageConfig, database_url: &str, auth: AuthStrategy) -> Result<ImageService> {
        let lookups = Arc::new(berth_db::ReadCache::new(LOOKUP_CACHE_TTL, 1024));
        let cache = lookups.clone();
        let db = crate::db::open(database_url, config.max_connections).await?.with_commit_hook(move |_| {
            cache.invalidate();
            Box::pin(async {})
        });
        let store = DataStore::open(&config.data_dir, config.max_image_size).await?;
        let mut enforcer = Enforcer::new(policy_defaults(), EnforcerConfig::default());
        if let Some(yaml) = &config.policy_overrides_yaml {
            enforcer = enforcer
                .with_overrides_yaml(yaml)
                .map_err(|e| ImageError::internal(format!("invalid image policy overrides: {e}")))?;
        }
        let formats = Formats { disk: config.disk_formats.clone(), container: config.container_formats.clone() };
        Ok(ImageService { config, db, store, auth, enforcer, formats, lookups })
    }

    pub fn config(&self) -> &ImageConfig {
        &self.config
    }

    /// Close the connection pool.
    pub async fn close(&self) {
        self.db.close().await
    }

    /// Make sure a public, active image named `name` owned by
    /// `owner_project` exists, holding `bytes` (`qcow2` when the data starts
    /// with the qcow2 magic, else `raw`; container `bare`). Idempotent:
    /// an existing active image of that name and owner is kept as it is.
    /// Returns the image id.
    pub async fn ensure_default_image(&self, name: &str, bytes: &[u8], owner_project: &str) -> Result<String> {
        let existing = {
            let mut c = self.db.read().await?;
            let ids = repo::find_by_name_owner(&mut c, name, owner_project).await?;
            let mut found = None;
            for id in ids {
                if let Some(img) = repo::get_image(&mut c, self.db.engine(), &id, false).await? {
                    if found.is_none() || img.status == "active" {
                        let active = img.status == "active";
                        found = Some(img);
                        if active {
                            break;
                        }
                    }
                }
            }
            found
        };
        let img = match existing {
            Some(img) => img,
            None => {
                let now = berth_time::now();
                let mut img = Image::new(uuid::Uuid::new_v4().to_string(), Some(owner_project.to_string()), now);
                img.name = Some(name.to_string());
                img.visibility = "public".into();
                img.disk_format = Some(if bytes.starts_with(b"QFI\xfb") { "qcow2" } else { "raw" }.into());
                img.container_format = Some("bare".into());
                let mut w = self.db.write().await?;
                repo::insert_image(&mut w.tx, &img).await?;
                w.commit().await?;
                img
            }
        };
        if img.status == "queued" {
            self.store_data(&img.id, Body::from(bytes.to_vec()), Some(bytes.len() as u64)).await?;
        }
        Ok(img.id)
    }

    /// An image as `ctx` may see it, for other services (compute boots
    /// from it): `Ok(None)` when it does not exist or is not visible.
    /// Boots read the image from a cache (see [`ImageService::lookups`]);
    /// the caller's membership is read only for a shared image of another
    /// project.
    pub async fn lookup_for(&self, id: &str, ctx: &RequestContext) -> Result<Option<ImageSummary>> {
        let caller = self.caller_of(ctx.clone());
        let img = match self.lookups.get(id) {
            Some(img) => img,
            None => {
                let generation = self.lookups.generation();
                let mut c = self.db.pool().acquire().await.map_err(map_db)?;
                let Some(img) = repo::get_image(&mut c, self.db.engine(), id, false).await? else {
                    return Ok(None);
                };
                self.lookups.put(id.to_string(), generation, img.clone());
                img
            }
        };
        let member = match caller.project() {
            Some(p) if !self.visible(&caller, &img, None) && img.visibility == "shared" => {
                let mut c = self.db.pool().acquire().await.map_err(map_db)?;
                repo::get_member(&mut c, id, p).await?
            }
            _ => None,
        };
        if !self.visible(&caller, &img, member.as_ref()) {
            return Ok(None);
        }
        Ok(Some(crate::server_images::summary(img)))
    }

    // ------------------------------------------------------------ auth

    fn caller_of(&self, ctx: RequestContext) -> Caller {
        let creds = Credentials {
            user_id: ctx.user_id.clone(),
            project_id: ctx.project_id.clone(),
            domain_id: ctx.domain_id.clone(),
            roles: ctx.roles.clone(),
            system_scope: ctx.system_scope.clone(),
            extra: Default::default(),
        };
        let is_admin = self.enforcer.enforce("context_is_admin", &Target::new(), &creds);
        Caller { ctx, creds, is_admin, check: None }
    }

    /// The rule the route table names for the caller's route, recorded as
    /// consulted.
    fn route_rule(&self, caller: &Caller) -> Result<&'static str> {
        let check = caller.check.as_ref().ok_or_else(|| ImageError::internal("policy check outside a route"))?;
        let rule = check.rule().ok_or_else(|| ImageError::internal("the route table names no rule for this route"))?;
        check.mark_checked();
        Ok(rule)
    }

    /// Record that this request needs not the route's rule: the handler
    /// answers it as a read it has already authorized with another rule.
    pub(crate) fn waive_route_rule(&self, caller: &Caller) {
        if let Some(check) = &caller.check {
            check.mark_checked();
        }
    }

    /// Check the route's rule against `target`; 403 when refused.
    pub(crate) fn authorize_route(&self, caller: &Caller, target: &Target) -> Result<()> {
        let rule = self.route_rule(caller)?;
        self.authorize(caller, rule, target)
    }

    /// Check the route's rule against an image (404 when the caller may not
    /// even see it, as [`Self::enforce_image`]).
    pub(crate) fn enforce_route(&self, caller: &Caller, img: &Image, member: Option<&Member>) -> Result<()> {
        let rule = self.route_rule(caller)?;
        self.enforce_image(caller, rule, img, member)
    }

    /// Check a rule; 403 when refused.
    pub(crate) fn authorize(&self, caller: &Caller, rule: &str, target: &Target) -> Result<()> {
        match self.enforcer.authorize(rule, target, &caller.creds) {
            Ok(()) => Ok(()),
            Err(Denied::NotRegistered { rule }) => {
                Err(ImageError::internal(format!("policy {rule} is not registered")))
            }
            Err(d) => Err(ImageError::forbidden(format!("You are not authorized to complete {} action.", d.rule()))),
        }
    }

    pub(crate) fn check(&self, caller: &Caller, rule: &str, target: &Target) -> bool {
        self.enforcer.authorize(rule, target, &caller.creds).is_ok()
    }

    /// The policy target of an image, as Glance's `ImageTarget`.
    pub(crate) fn image_target(&self, caller: &Caller, img: &Image, member: Option<&Member>) -> Target {
        let mut t = Target::new();
        // Custom properties are visible to operator rules, but never under
        // the names the default rules use for ownership and membership.
        const RESERVED_TARGET_KEYS: &[&str] = &["project_id", "owner", "member_id", "visibility", "id", "status"];
        for (k, v) in &img.properties {
            if !RESERVED_TARGET_KEYS.contains(&k.as_str()) {
                t.insert(k.clone(), v.clone());
            }
        }
        if let Some(o) = &img.owner {
            t.insert("project_id".into(), o.clone());
            t.insert("owner".into(), o.clone());
        }
        t.insert("visibility".into(), img.visibility.clone());
        t.insert("id".into(), img.id.clone());
        t.insert("status".into(), img.status.clone());
        if let (Some(m), Some(p)) = (member, caller.project()) {
            if m.member == p {
                t.insert("member_id".into(), m.member.clone());
            }
        }
        t
    }

    /// Enforce an image rule, answering 404 rather than 403 when the caller
    /// may not even see the image (as Glance does).
    pub(crate) fn enforce_image(
        &self,
        caller: &Caller,
        rule: &str,
        img: &Image,
        member: Option<&Member>,
    ) -> Result<()> {
        let target = self.image_target(caller, img, member);
        match self.authorize(caller, rule, &target) {
            Ok(()) => Ok(()),
            Err(e) if e.status == axum::http::StatusCode::FORBIDDEN => {
                if rule == "get_image" || !self.check(caller, "get_image", &target) {
                    Err(ImageError::image_not_found(&img.id))
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Glance's visibility rule for one image.
    pub(crate) fn visible(&self, caller: &Caller, img: &Image, member: Option<&Member>) -> bool {
        caller.is_admin
            || img.owner.is_none()
            || img.visibility == "public"
            || img.visibility == "community"
            || (caller.project().is_some() && img.owner.as_deref() == caller.project())
            || (img.visibility == "shared" && member.is_some())
    }

    /// Load an image the caller can see, with the caller's membership;
    /// 404 otherwise.
    pub(crate) async fn load_visible(&self, caller: &Caller, id: &str) -> Result<(Image, Option<Member>)> {
        let mut c = self.db.read().await?;
        let img = repo::get_image(&mut c, self.db.engine(), id, false)
            .await?
            .ok_or_else(|| ImageError::image_not_found(id))?;
        let member = match caller.project() {
            Some(p) => repo::get_member(&mut c, id, p).await?,
            None => None,
        };
        if !self.visible(caller, &img, member.as_ref()) {
            return Err(ImageError::image_not_found(id));
        }
        Ok((img, member))
    }

    /// Upload data into a queued image: `queued` → `saving` → `active`.
    /// 409 when the image is not queued; on failure the image goes back to
    /// `queued` and no data file is left.
    pub(crate) async fn store_data(&self, id: &str, body: Body, declared: Option<u64>) -> Result<Image> {
        {
            let mut w = self.db.write().await?;
            let Some(img) = repo::get_image(&mut w.tx, self.db.engine(), id, true).await? else {
                return Err(ImageError::image_not_found(id));
            };
            if img.status != "queued" {
                return Err(ImageError::conflict(format!(
                    "Image status transition from {} to saving is not allowed",
                    img.status
                )));
            }
            if img.disk_format.is_none() || img.container_format.is_none() {
                return Err(ImageError::bad_request(
                    "Properties container_format and disk_format must be set prior to saving data.",
                ));
            }
            repo::set_status(&mut w.tx, id, "queued", "saving", berth_time::now()).await?;
            w.commit().await?;
        }
        let mut guard =
            SavingGuard { db: self.db.clone(), store: None, id: id.to_string(), from: "saving", armed: true };
        let written = self.store.write(id, body, declared).await;
        let info = match written {
            Ok(info) => info,
            Err(e) => {
                guard.armed = false;
                reset_to_queued(&self.db, id, "saving").await?;
                return Err(e);
            }
        };
        let finished = {
            let mut w = self.db.write().await?;
            let ok = repo::finish_upload(&mut w.tx, id, &info, berth_time::now()).await?;
            w.commit().await?;
            ok
        };
        guard.armed = false;
        if !finished {
            self.store.remove(id).await;
            return Err(ImageError::gone(format!(
                "Image {id} could not be found after upload. The image may have been deleted during the upload."
            )));
        }
        let mut c = self.db.read().await?;
        repo::get_image(&mut c, self.db.engine(), id, false).await?.ok_or_else(|| ImageError::image_not_found(id))
    }

    /// Stage data for an interoperable import: `queued` → `uploading`, the
    /// data in the staging area and its size recorded. 409 when the image
    /// is not queued; on failure the image goes back to `queued` and nothing
    /// stays staged.
    pub(crate) async fn stage_data(&self, id: &str, body: Body, declared: Option<u64>) -> Result<()> {
        {
            let mut w = self.db.write().await?;
            let Some(img) = repo::get_image(&mut w.tx, self.db.engine(), id, true).await? else {
                return Err(ImageError::image_not_found(id));
            };
            if img.status != "queued" {
                return Err(ImageError::conflict(format!(
                    "Image status transition from {} to uploading is not allowed",
                    img.status
                )));
            }
            repo::set_status(&mut w.tx, id, "queued", "uploading", berth_time::now()).await?;
            w.commit().await?;
        }
        let mut guard = SavingGuard {
            db: self.db.clone(),
            store: Some(self.store.clone()),
            id: id.to_string(),
            from: "uploading",
            armed: true,
        };
        let info = match self.store.stage(id, body, declared).await {
            Ok(info) => info,
            Err(e) => {
                guard.armed = false;
                self.store.remove_staged(id).await;
                reset_to_queued(&self.db, id, "uploading").await?;
                return Err(e);
            }
        };
        let recorded = {
            let mut w = self.db.write().await?;
            let ok = repo::set_staged_size(&mut w.tx, id, info.size, berth_time::now()).await?;
            w.commit().await?;
            ok
        };
        guard.armed = false;
        if !recorded {
            self.store.remove_staged(id).await;
            return Err(ImageError::image_not_found(id));
        }
        Ok(())
    }

    /// Import staged data (`glance-direct`), recorded as an
    /// `api_image_import` task: `uploading` → `importing` → `active` with
    /// the data's hashes. The import runs to its end within the request
    /// (Glance runs it in the background; clients poll the image either
    /// way). 409 when another import holds the image.
    pub(crate) async fn import_staged(
        &self,
        caller: &Caller,
        id: &str,
        request_id: Option<String>,
        request: serde_json::Value,
    ) -> Result<()> {
        let now = berth_time::now();
        let mut task = Task {
            id: uuid::Uuid::new_v4().to_string(),
            kind: "api_image_import".into(),
            status: "processing".into(),
            owner: caller.project().map(str::to_string),
            user_id: caller.ctx.user_id.clone(),
            image_id: Some(id.to_string()),
            request_id,
            input: serde_json::json!({"image_id": id, "import_req": request, "backend": [STORE_ID]}),
            result: None,
            message: String::new(),
            created_at: now,
            updated_at: now,
            expires_at: None,
        };
        {
            let mut w = self.db.write().await?;
            if !repo::set_status(&mut w.tx, id, "uploading", "importing", now).await? {
                return Err(ImageError::conflict(format!(
                    "New operation on image '{id}' is not permitted as prior operation is still in progress"
                )));
            }
            repo::insert_task(&mut w.tx, &task).await?;
            w.commit().await?;
        }
        let outcome = match self.store.promote(id).await {
            Ok(Some(info)) => {
                let mut w = self.db.write().await?;
                let ok = repo::finish_import(&mut w.tx, id, &info, berth_time::now()).await?;
                w.commit().await?;
                if ok {
                    Ok(())
                } else {
                    self.store.remove(id).await;
                    Err(format!("Image {id} could not be found after import."))
                }
            }
            Ok(None) => Err(format!("No staged data found for image {id}.")),
            Err(e) => Err(e.message),
        };
        let end = berth_time::now();
        task.updated_at = end;
        task.expires_at = Some(end + TASK_TTL);
        match &outcome {
            Ok(()) => {
                task.status = "success".into();
                task.result = Some(serde_json::json!({"image_id": id}));
            }
            Err(message) => {
                tracing::warn!(image = %id, %message, "image import failed");
                task.status = "failure".into();
                task.message = message.clone();
            }
        }
        let mut w = self.db.write().await?;
        if outcome.is_err() {
            repo::unstage(&mut w.tx, id, "importing", end).await?;
        }
        repo::finish_task(&mut w.tx, &task).await?;
        w.commit().await?;
        Ok(())
    }
}
