//! Placement settings from flags, environment and an optional TOML file.
//! Precedence: flag or environment variable, then the file, then defaults.

use std::path::Path;

use serde::Deserialize;

/// The `[placement]` table of a berth config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub db: Option<String>,
    pub auth_strategy: Option<String>,
    pub policy_file: Option<String>,
    pub enforce_new_defaults: Option<bool>,
    pub enforce_scope: Option<bool>,
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
    #[serde(default)]
    pub cors_allow_headers: Vec<String>,
    pub randomize_allocation_candidates: Option<bool>,
    pub max_allocation_candidates: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Root {
    #[serde(default)]
    placement: FileConfig,
}

pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let root: Root = toml::from_str(&text).map_err(|e| anyhow::anyhow!("invalid config {}: {e}", path.display()))?;
    Ok(root.placement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_placement_table() {
        let root: Root = toml::from_str(
            "[placement]\nlisten = \"0.0.0.0:8778\"\ndb = \"sqlite:///x.db\"\ncors_allowed_origins = [\"http://a\"]\n",
        )
        .unwrap();
        assert_eq!(root.placement.listen.as_deref(), Some("0.0.0.0:8778"));
        assert_eq!(root.placement.cors_allowed_origins, vec!["http://a"]);
        assert!(toml::from_str::<Root>("[placement]\nbogus = 1\n").is_err());
    }
}
