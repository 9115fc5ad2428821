//! How compute learns about images: the binary plugs berth's image service
//! in through [`ImageLookup`]; tests use [`StaticImages`].

use std::collections::BTreeMap;
use std::sync::RwLock;

use berth_http::RequestContext;
use berth_placement_client::BoxFuture;
use serde::{Deserialize, Serialize};

/// What the compute API needs to know about an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    pub id: String,
    pub name: String,
    /// Glance status; only `active` images can be booted.
    pub status: String,
    /// GB.
    pub min_disk: i64,
    /// MB.
    pub min_ram: i64,
    /// `public`, `private`, `shared` or `community`.
    pub visibility: String,
    pub owner: Option<String>,
    /// Image properties (`hw_architecture`, `trait:CUSTOM_X`, ...).
    pub properties: BTreeMap<String, String>,
}

impl ImageInfo {
    /// An active public image with no requirements.
    pub fn public(id: impl Into<String>, name: impl Into<String>) -> Self {
        ImageInfo {
            id: id.into(),
            name: name.into(),
            status: "active".into(),
            min_disk: 0,
            min_ram: 0,
            visibility: "public".into(),
            owner: None,
            properties: BTreeMap::new(),
        }
    }
}

/// A request to the image API (Glance v2, paths from `/v2/...`) made with
/// the caller's own token, as Nova's image proxy makes them.
#[derive(Debug, Clone)]
pub struct GlanceRequest {
    pub method: http::Method,
    pub path: String,
    pub token: String,
    /// Content type and bytes.
    pub body: Option<(String, Vec<u8>)>,
}

/// The image API's answer: its status and JSON body (`Null` when empty).
#[derive(Debug, Clone)]
pub struct GlanceResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

/// An image of a server that `createImage` / `createBackup` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerImage {
    pub name: String,
    /// The server's base image (its data and formats are copied).
    pub base_image: Option<String>,
    pub min_disk: i64,
    pub min_ram: i64,
    pub properties: BTreeMap<String, String>,
}

/// Looks an image up on behalf of a caller (who may not see private
/// images of other projects). `Ok(None)`: no such image for this caller;
/// `Err`: the image service failed.
pub trait ImageLookup: Send + Sync {
    fn lookup<'a>(
        &'a self,
        image_id: &'a str,
        caller: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Option<ImageInfo>, String>>;

    /// Send a request to the image API (Nova's `/images` proxy). The
    /// default: this cloud has no image API to proxy (`Err`).
    fn glance<'a>(&'a self, req: GlanceRequest) -> BoxFuture<'a, Result<GlanceResponse, String>> {
        Box::pin(async move { Err(format!("no image API to send {} {} to", req.method, req.path)) })
    }

    /// Create an active image of a server, owned by the caller's project.
    /// The default: this image service cannot.
    fn create_server_image<'a>(
        &'a self,
        _image: &'a ServerImage,
        _caller: &'a RequestContext,
    ) -> BoxFuture<'a, Result<ImageInfo, String>> {
        Box::pin(async { Err("the image service does not take images of servers".to_string()) })
    }

    /// The caller's backups of a server of one backup type, oldest first.
    fn server_backups<'a>(
        &'a self,
        _instance_uuid: &'a str,
        _backup_type: &'a str,
        _caller: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Vec<ImageInfo>, String>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Delete an image compute made (backup rotation).
    fn delete_server_image<'a>(&'a self, _image_id: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Err("the image service does not delete images of servers".to_string()) })
    }
}

/// An in-memory image catalogue (tests, or a fixed set of images).
#[derive(Debug, Default)]
pub struct StaticImages {
    images: RwLock<BTreeMap<String, ImageInfo>>,
    /// Ids of images created through [`ImageLookup::create_server_image`],
    /// oldest first.
    created: RwLock<Vec<String>>,
}

impl StaticImages {
    pub fn new(images: impl IntoIterator<Item = ImageInfo>) -> Self {
        StaticImages {
            images: RwLock::new(images.into_iter().map(|i| (i.id.clone(), i)).collect()),
            created: RwLock::new(Vec::new()),
        }
    }

    pub fn insert(&self, image: ImageInfo) {
        if let Ok(mut m) = self.images.write() {
            m.insert(image.id.clone(), image);
        }
    }
}

impl ImageLookup for StaticImages {
    fn lookup<'a>(
        &'a self,
        image_id: &'a str,
        caller: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Option<ImageInfo>, String>> {
        let found = self.images.read().ok().and_then(|m| m.get(image_id).cloned());
        let visible = found.filter(|i| {
            i.visibility != "private"
                || i.owner.is_none()
                || i.owner == caller.project_id
                || caller.roles.iter().any(|r| r == "admin")
        });
        Box::pin(async move { Ok(visible) })
    }

    fn create_server_image<'a>(
        &'a self,
        image: &'a ServerImage,
        caller: &'a RequestContext,
    ) -> BoxFuture<'a, Result<ImageInfo, String>> {
        let info = ImageInfo {
            id: uuid::Uuid::new_v4().to_string(),
            name: image.name.clone(),
            status: "active".into(),
            min_disk: image.min_disk,
            min_ram: image.min_ram,
            visibility: "private".into(),
            owner: caller.project_id.clone(),
            properties: image.properties.clone(),
        };
        self.insert(info.clone());
        if let Ok(mut c) = self.created.write() {
            c.push(info.id.clone());
        }
        Box::pin(async move { Ok(info) })
    }

    fn server_backups<'a>(
        &'a self,
        instance_uuid: &'a str,
        backup_type: &'a str,
        caller: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Vec<ImageInfo>, String>> {
        let images = self.images.read().map(|m| m.clone()).unwrap_or_default();
        let order = self.created.read().map(|c| c.clone()).unwrap_or_default();
        let found: Vec<ImageInfo> = order
            .iter()
            .filter_map(|id| images.get(id))
            .filter(|i| {
                i.owner == caller.project_id
                    && i.properties.get("image_type").map(String::as_str) == Some("backup")
                    && i.properties.get("instance_uuid").map(String::as_str) == Some(instance_uuid)
                    && i.properties.get("backup_type").map(String::as_str) == Some(backup_type)
            })
            .cloned()
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn delete_server_image<'a>(&'a self, image_id: &'a str) -> BoxFuture<'a, Result<(), String>> {
        if let Ok(mut m) = self.images.write() {
            m.remove(image_id);
        }
        if let Ok(mut c) = self.created.write() {
            c.retain(|id| id != image_id);
        }
        Box::pin(async { Ok(()) })
    }
}
