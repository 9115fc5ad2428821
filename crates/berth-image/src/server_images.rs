//! Images compute makes of its servers (`createImage`, `createBackup`):
//! created on behalf of the caller (owned by the caller's project,
//! private, as Glance does for Nova's request with the user's token),
//! holding the simulated guest's disk, which is its base image's data.

use std::collections::BTreeMap;

use axum::body::Body;
use berth_http::RequestContext;

use crate::error::Result;
use crate::model::Image;
use crate::repo;
use crate::service::{ImageService, ImageSummary};

/// What compute asks for.
#[derive(Debug, Clone)]
pub struct ServerImageRequest {
    pub name: String,
    /// The server's base image (its data and formats are copied when the
    /// caller can see it).
    pub base_image: Option<String>,
    pub min_disk: i64,
    pub min_ram: i64,
    pub properties: BTreeMap<String, String>,
}

impl ImageService {
    /// Create an active image of a server for `caller`.
    pub async fn create_server_image(&self, req: &ServerImageRequest, caller: &RequestContext) -> Result<ImageSummary> {
        let base = match &req.base_image {
            Some(id) => self.lookup_image_for(id, caller).await?,
            None => None,
        };
        let now = berth_time::now();
        let mut img = Image::new(uuid::Uuid::new_v4().to_string(), caller.project_id.clone(), now);
        img.name = Some(req.name.clone());
        img.visibility = "private".into();
        img.disk_format = Some(base.as_ref().and_then(|b| b.disk_format.clone()).unwrap_or_else(|| "raw".into()));
        img.container_format =
            Some(base.as_ref().and_then(|b| b.container_format.clone()).unwrap_or_else(|| "bare".into()));
        img.min_disk = req.min_disk.max(base.as_ref().map_or(0, |b| b.min_disk));
        img.min_ram = req.min_ram.max(base.as_ref().map_or(0, |b| b.min_ram));
        img.properties = req.properties.clone();
        {
            let mut w = self.db.write().await?;
            repo::insert_image(&mut w.tx, &img).await?;
            w.commit().await?;
        }
        let data = match &base {
            Some(b) => self.store.read(&b.id).await?,
            None => None,
        };
        let stored = match data {
            Some((body, len)) => self.store_data(&img.id, body, Some(len)).await,
            None => self.store_data(&img.id, Body::empty(), Some(0)).await,
        };
        let img = match stored {
            Ok(img) => img,
            Err(e) => {
                let _ = self.delete_server_image(&img.id).await;
                return Err(e);
            }
        };
        Ok(summary(img))
    }

    /// The caller's backups of one server of one backup type, oldest first
    /// (`createBackup` rotation).
    pub async fn server_backups(
        &self,
        instance_uuid: &str,
        backup_type: &str,
        caller: &RequestContext,
    ) -> Result<Vec<ImageSummary>> {
        let scope = repo::ListScope::Project { project: caller.project_id.clone(), member_status: None };
        let mut c = self.db.read().await?;
        let mut found: Vec<Image> = repo::list_images(&mut c, &scope)
            .await?
            .into_iter()
            .filter(|i| {
                i.owner == caller.project_id
                    && i.properties.get("image_type").map(String::as_str) == Some("backup")
                    && i.properties.get("instance_uuid").map(String::as_str) == Some(instance_uuid)
                    && i.properties.get("backup_type").map(String::as_str) == Some(backup_type)
            })
            .collect();
        found.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(found.into_iter().map(summary).collect())
    }

    /// Delete an image compute made (backup rotation, or a failed
    /// snapshot): no policy of the image API applies.
    pub async fn delete_server_image(&self, id: &str) -> Result<bool> {
        let mut w = self.db.write().await?;
        let gone = repo::delete_image(&mut w.tx, id).await?;
        w.commit().await?;
        self.store.remove(id).await;
        Ok(gone)
    }

    async fn lookup_image_for(&self, id: &str, caller: &RequestContext) -> Result<Option<Image>> {
        match self.lookup_for(id, caller).await? {
            None => Ok(None),
            Some(_) => {
                let mut c = self.db.read().await?;
                repo::get_image(&mut c, self.db.engine(), id, false).await
            }
        }
    }
}

/// What other services see of an image.
pub(crate) fn summary(img: Image) -> ImageSummary {
    ImageSummary {
        id: img.id,
        name: img.name.unwrap_or_default(),
        status: img.status,
        visibility: img.visibility,
        owner: img.owner,
        min_disk: img.min_disk,
        min_ram: img.min_ram,
        properties: img.properties,
    }
}
