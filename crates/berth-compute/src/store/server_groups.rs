//! Server groups (`os-server-groups`) and their members; counted against
//! the `server_groups` (per project) and `server_group_members` (per
//! group) quotas in the same write transaction as the insert.

use super::*;
use crate::infra_model::{NewServerGroup, ServerGroup};

const COLS: &str = "id, uuid, name, project_id, user_id, policy, max_server_per_host, created_at";

fn group(r: &AnyRow, members: Vec<Uuid>) -> Result<ServerGroup> {
    Ok(ServerGroup {
        id: get_i64(r, "id")?,
        uuid: get_uuid(r, "uuid")?,
        name: get_str(r, "name")?,
        project_id: get_str(r, "project_id")?,
        user_id: get_str(r, "user_id")?,
        policy: get_str(r, "policy")?,
        max_server_per_host: get_opt_i64(r, "max_server_per_host")?,
        members,
        created_at: get_i64(r, "created_at")?,
    })
}

/// Members whose instance is not deleted (or not recorded yet).
const LIVE_MEMBERS: &str =
    "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM compute_server_group_members m WHERE m.group_id = $1 \
     AND NOT EXISTS (SELECT 1 FROM compute_instances i WHERE i.uuid = m.instance_uuid AND i.deleted = 1)";

impl Db {
    async fn members_of(&self, ids: &[i64]) -> Result<BTreeMap<i64, Vec<Uuid>>> {
        let mut out: BTreeMap<i64, Vec<Uuid>> = BTreeMap::new();
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "SELECT group_id, instance_uuid FROM compute_server_group_members WHERE group_id IN ({}) \
                 ORDER BY created_at, instance_uuid",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.entry(get_i64(&r, "group_id")?).or_default().push(get_uuid(&r, "instance_uuid")?);
            }
        }
        Ok(out)
    }

    async fn groups_from(&self, rows: Vec<AnyRow>) -> Result<Vec<ServerGroup>> {
        let ids = rows.iter().map(|r| get_i64(r, "id")).collect::<Result<Vec<_>>>()?;
        let mut members = self.members_of(&ids).await?;
        rows.iter().map(|r| group(r, members.remove(&get_i64(r, "id")?).unwrap_or_default())).collect()
    }

    /// Create a group unless the project holds `limit` already
    /// ([`ErrorKind::Forbidden`]; negative: unlimited).
    pub async fn create_server_group(&self, new: &NewServerGroup<'_>, limit: i64) -> Result<ServerGroup> {
        let mut w = self.write().await?;
        if limit >= 0 {
            let row =
                sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM compute_server_groups WHERE project_id = $1")
                    .bind(new.project_id)
                    .fetch_one(&mut *w.tx)
                    .await?;
            if get_i64(&row, "n")? >= limit {
                return Err(ComputeError::forbidden("Quota exceeded, too many server groups."));
            }
        }
        let row = sqlx::query(&format!(
            "INSERT INTO compute_server_groups (uuid, name, project_id, user_id, policy, max_server_per_host, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLS}"
        ))
        .bind(Uuid::new_v4().to_string())
        .bind(new.name)
        .bind(new.project_id)
        .bind(new.user_id)
        .bind(new.policy)
        .bind(new.max_server_per_host)
        .bind(now_us())
        .fetch_one(&mut *w.tx)
        .await?;
        let g = group(&row, Vec::new())?;
        w.commit().await?;
        Ok(g)
    }

    /// Groups of `project` (every project's for `None`), oldest first.
    pub async fn list_server_groups(&self, project: Option<&str>) -> Result<Vec<ServerGroup>> {
        let rows = match project {
            Some(p) => {
                sqlx::query(&format!("SELECT {COLS} FROM compute_server_groups WHERE project_id = $1 ORDER BY id"))
                    .bind(p)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(&format!("SELECT {COLS} FROM compute_server_groups ORDER BY id"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        self.groups_from(rows).await
    }

    pub async fn get_server_group(&self, uuid: Uuid) -> Result<Option<ServerGroup>> {
        let rows = sqlx::query(&format!("SELECT {COLS} FROM compute_server_groups WHERE uuid = $1"))
            .bind(uuid.to_string())
            .fetch_all(&self.pool)
            .await?;
        Ok(self.groups_from(rows).await?.into_iter().next())
    }

    /// Which of `instances` are members of a server group (one query per
    /// 500: a build batch without groups costs one statement).
    pub async fn grouped_instances(&self, instances: &[Uuid]) -> Result<std::collections::HashSet<Uuid>> {
        let mut out = std::collections::HashSet::new();
        for chunk in instances.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "SELECT DISTINCT instance_uuid FROM compute_server_group_members WHERE instance_uuid IN ({})",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for u in chunk {
                q = q.bind(u.to_string());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.insert(get_uuid(&r, "instance_uuid")?);
            }
        }
        Ok(out)
    }

    /// The group an instance is a member of.
    pub async fn server_group_of(&self, instance: Uuid) -> Result<Option<ServerGroup>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM compute_server_groups WHERE id IN \
             (SELECT group_id FROM compute_server_group_members WHERE instance_uuid = $1) ORDER BY id"
        ))
        .bind(instance.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(self.groups_from(rows).await?.into_iter().next())
    }

    /// Delete a group and its member list; `false` when there was none.
    pub async fn delete_server_group(&self, id: i64) -> Result<bool> {
        let mut w = self.write().await?;
        sqlx::query("DELETE FROM compute_server_group_members WHERE group_id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        let n = sqlx::query("DELETE FROM compute_server_groups WHERE id = $1").bind(id).execute(&mut *w.tx).await?;
        w.commit().await?;
        Ok(n.rows_affected() > 0)
    }

    /// Add members unless the group would then have more than `limit` live
    /// members ([`ErrorKind::Forbidden`]; negative: unlimited), or the group
    /// is gone ([`ErrorKind::NotFound`]).
    pub async fn add_server_group_members(&self, group: &ServerGroup, members: &[Uuid], limit: i64) -> Result<()> {
        let mut w = self.write().await?;
        let exists = sqlx::query("SELECT id FROM compute_server_groups WHERE id = $1")
            .bind(group.id)
            .fetch_optional(&mut *w.tx)
            .await?;
        if exists.is_none() {
            return Err(ComputeError::not_found(format!("Instance group {} could not be found.", group.uuid)));
        }
        if limit >= 0 {
            let row = sqlx::query(LIVE_MEMBERS).bind(group.id).fetch_one(&mut *w.tx).await?;
            if get_i64(&row, "n")? + members.len() as i64 > limit {
                return Err(ComputeError::forbidden("Quota exceeded, too many servers in group"));
            }
        }
        let now = now_us();
        for m in members {
            sqlx::query(
                "INSERT INTO compute_server_group_members (group_id, instance_uuid, created_at) VALUES ($1, $2, $3)",
            )
            .bind(group.id)
            .bind(m.to_string())
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        }
        w.commit().await?;
        Ok(())
    }

    /// Take instances out of every group (a create that failed after
    /// joining).
    pub async fn remove_server_group_members(&self, members: &[Uuid]) -> Result<()> {
        let mut w = self.write().await?;
        for m in members {
            sqlx::query("DELETE FROM compute_server_group_members WHERE instance_uuid = $1")
                .bind(m.to_string())
                .execute(&mut *w.tx)
                .await?;
        }
        w.commit().await?;
        Ok(())
    }

    pub async fn count_server_groups(&self, project: &str) -> Result<i64> {
        let row = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM compute_server_groups WHERE project_id = $1")
            .bind(project)
            .fetch_one(&self.pool)
            .await?;
        get_i64(&row, "n")
    }
}
