//! The scheduler: a request spec from the flavor and image, allocation
//! candidates from Placement, filters and weighers on them, and a claim
//! (`PUT /allocations/{instance}` with `consumer_generation: null`) that
//! moves on to the next candidate when Placement says no.

use std::collections::{BTreeMap, BTreeSet};

use berth_placement_client::{
    encode, AllocationCandidates, AllocationRequest, AllocationWrite, PlacementError, Resources,
};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::now_ms;
use crate::error::{ComputeError, Result};
use crate::images::ImageInfo;
use crate::model::{ComputeNode, Flavor, Instance, Service};
use crate::service::ComputeService;

/// The trait Nova sets on the providers of disabled compute services.
pub const COMPUTE_STATUS_DISABLED: &str = "COMPUTE_STATUS_DISABLED";

/// The simulated hosts' CPU architecture and hypervisor type, which image
/// properties (`hw_architecture`, `img_hv_type`) are matched against.
pub const HOST_ARCHITECTURE: &str = "x86_64";
pub const HYPERVISOR_TYPE: &str = "fake";

/// How the weigher orders hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Weigher {
    /// Most free RAM first (Nova's default `ram_weight_multiplier = 1.0`).
    #[default]
    Spread,
    /// Least free RAM first (a negative multiplier).
    Pack,
}

/// What an instance needs from a host.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RequestSpec {
    pub resources: Resources,
    pub required_traits: BTreeSet<String>,
    pub forbidden_traits: BTreeSet<String>,
    /// Aggregates the root provider must be in (any of them).
    pub member_of: Vec<Uuid>,
    pub availability_zone: Option<String>,
    pub force_host: Option<String>,
    pub force_node: Option<String>,
    /// Required CPU architecture (image `hw_architecture`).
    pub architecture: Option<String>,
    /// Required hypervisor type (image `img_hv_type`).
    pub hypervisor_type: Option<String>,
}

/// The resources a flavor asks for, after its `resources:*` and `hw:*`
/// extra specs.
pub fn flavor_resources(flavor: &Flavor) -> Resources {
    let mut r = Resources::new();
    let dedicated = flavor.extra_specs.get("hw:cpu_policy").is_some_and(|v| v == "dedicated");
    r.insert(if dedicated { "PCPU" } else { "VCPU" }.to_string(), flavor.vcpus);
    r.insert("MEMORY_MB".into(), flavor.memory_mb);
    let swap_gb = (flavor.swap + 1023) / 1024;
    r.insert("DISK_GB".into(), flavor.root_gb + flavor.ephemeral_gb + swap_gb);
    for (k, v) in &flavor.extra_specs {
        if let Some(rc) = k.strip_prefix("resources:") {
            // Numbered groups (`resources1:...`) are not supported; plain
            // overrides only.
            if let Ok(n) = v.trim().parse::<i64>() {
                r.insert(rc.to_string(), n);
            }
        }
    }
    r.retain(|_, v| *v > 0);
    r
}

impl RequestSpec {
    pub fn new(flavor: &Flavor, image: Option<&ImageInfo>) -> RequestSpec {
        let mut spec = RequestSpec { resources: flavor_resources(flavor), ..Default::default() };
        let mut trait_spec = |k: &str, v: &str| {
            if let Some(t) = k.strip_prefix("trait:") {
                match v.trim() {
                    "required" => {
                        spec.required_traits.insert(t.to_string());
                    }
                    "forbidden" => {
                        spec.forbidden_traits.insert(t.to_string());
                    }
                    _ => {}
                }
            }
        };
        for (k, v) in &flavor.extra_specs {
            trait_spec(k, v);
        }
        if let Some(img) = image {
            for (k, v) in &img.properties {
                trait_spec(k, v);
            }
        }
        match flavor.extra_specs.get("hw:cpu_thread_policy").map(String::as_str) {
            Some("isolate") => {
                spec.forbidden_traits.insert("HW_CPU_HYPERTHREADING".into());
            }
            Some("require") => {
                spec.required_traits.insert("HW_CPU_HYPERTHREADING".into());
            }
            _ => {}
        }
        if let Some(img) = image {
            spec.architecture =
                img.properties.get("hw_architecture").or_else(|| img.properties.get("architecture")).cloned();
            spec.hypervisor_type =
                img.properties.get("img_hv_type").or_else(|| img.properties.get("hypervisor_type")).cloned();
        }
        spec.forbidden_traits.insert(COMPUTE_STATUS_DISABLED.into());
        spec
    }

    /// The `GET /allocation_candidates` query string.
    pub fn query(&self, limit: usize) -> String {
        let res: Vec<String> = self.resources.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        let mut q = format!("resources={}", encode(&res.join(",")));
        let mut traits: Vec<String> = self.required_traits.iter().cloned().collect();
        traits.extend(self.forbidden_traits.iter().map(|t| format!("!{t}")));
        if !traits.is_empty() {
            q.push_str(&format!("&required={}", encode(&traits.join(","))));
        }
        if !self.member_of.is_empty() {
            let ids: Vec<String> = self.member_of.iter().map(Uuid::to_string).collect();
            q.push_str(&format!("&member_of=in:{}", ids.join(",")));
        }
        q.push_str(&format!("&limit={limit}"));
        q
    }
}

/// A host that passed the filters, with its weight.
#[derive(Debug, Clone)]
struct Weighed {
    node: ComputeNode,
    request: AllocationRequest,
    free_ram: i64,
}

/// Why scheduling failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    NoValidHost(String),
    Placement(PlacementError),
    Internal(String),
}

impl From<ComputeError> for ScheduleError {
    fn from(e: ComputeError) -> Self {
        ScheduleError::Internal(e.message)
    }
}

/// Where an instance landed.
#[derive(Debug, Clone)]
pub struct Placed {
    pub node: ComputeNode,
    pub service: Service,
}

impl ComputeService {
    /// Choose a host for `instance` and claim its resources in Placement.
    pub(crate) async fn schedule(&self, instance: &Instance, spec: &RequestSpec) -> Result<Placed, ScheduleError> {
        const ROUNDS: usize = 4;
        let mut last_conflict = String::new();
        for _round in 0..ROUNDS {
            let candidates = self
                .placement
                .allocation_candidates(&spec.query(self.config.max_placement_results))
                .await
                .map_err(ScheduleError::Placement)?;
            let hosts = self.filter_and_weigh(spec, &candidates).await?;
            if hosts.is_empty() {
                return Err(ScheduleError::NoValidHost(if last_conflict.is_empty() {
                    "There are not enough hosts available.".into()
                } else {
                    format!("There are not enough hosts available ({last_conflict}).")
                }));
            }
            for (w, service) in hosts {
                let write = AllocationWrite {
                    allocations: w.request.resources(),
                    project_id: instance.project_id.clone(),
                    user_id: instance.user_id.clone(),
                    consumer_generation: None,
                    consumer_type: "INSTANCE".into(),
                };
                match self.claim(instance.uuid, &write).await {
                    Ok(()) => return Ok(Placed { node: w.node, service }),
                    Err(e) if e.is_conflict() => {
                        tracing::debug!(instance = %instance.uuid, host = %w.node.host, error = %e, "claim refused; trying the next host");
                        last_conflict = e.to_string();
                    }
                    Err(e) => return Err(ScheduleError::Placement(e)),
                }
            }
        }
        Err(ScheduleError::NoValidHost(format!("Exceeded max scheduling attempts ({last_conflict}).")))
    }

    /// `PUT /allocations/{consumer}` for a new consumer, retrying
    /// transient failures. A retry that meets a conflict checks whether an
    /// earlier attempt did succeed (the answer was lost, not the write).
    async fn claim(&self, consumer: Uuid, write: &AllocationWrite) -> Result<(), PlacementError> {
        let mut transient = None;
        for attempt in 0..4u64 {
            match self.placement.put_allocations(consumer, write).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_conflict() && transient.is_some() => {
                    let held = self.placement.get_allocations(consumer).await?;
                    if !held.is_empty() && held.resources() == write.allocations {
                        return Ok(());
                    }
                    return Err(e);
                }
                Err(e) if e.is_unavailable() => {
                    tracing::debug!(%consumer, error = %e, "claim failed transiently; retrying");
                    transient = Some(e);
                    tokio::time::sleep(std::time::Duration::from_millis(50 * (attempt + 1))).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(transient.unwrap_or_else(|| PlacementError::Unavailable("claim failed".into())))
    }

    async fn filter_and_weigh(
        &self,
        spec: &RequestSpec,
        candidates: &AllocationCandidates,
    ) -> Result<Vec<(Weighed, Service)>, ScheduleError> {
        let nodes: BTreeMap<Uuid, ComputeNode> = self.db.list_nodes().await?.into_iter().map(|n| (n.uuid, n)).collect();
        let services: BTreeMap<String, Service> = self
            .db
            .list_services()
            .await?
            .into_iter()
            .filter(|s| s.binary == crate::NOVA_COMPUTE)
            .map(|s| (s.host.clone(), s))
            .collect();
        let now = now_ms();
        let down_after = self.config.service_down_time.as_millis() as i64;
        let mut out = Vec::new();
        let mut seen_roots = BTreeSet::new();
        for req in &candidates.allocation_requests {
            // The compute node is the root of the providers used.
            let root = req
                .allocations
                .keys()
                .map(|rp| candidates.provider_summaries.get(rp).and_then(|s| s.root_provider_uuid).unwrap_or(*rp))
                .next();
            let Some(root) = root else { continue };
            if !seen_roots.insert(root) {
                continue;
            }
            let Some(node) = nodes.get(&root) else { continue };
            let Some(service) = services.get(&node.host) else { continue };
            // ComputeFilter: the service is enabled and up.
            if service.disabled || !service.is_up(now, down_after) {
                continue;
            }
            // AvailabilityZoneFilter.
            if let Some(az) = &spec.availability_zone {
                if &service.availability_zone != az {
                    continue;
                }
            }
            if spec.force_host.as_ref().is_some_and(|h| h != &node.host) {
                continue;
            }
            if spec.force_node.as_ref().is_some_and(|n| n != &node.hypervisor_hostname) {
                continue;
            }
            // ImagePropertiesFilter.
            if spec.architecture.as_ref().is_some_and(|a| !a.eq_ignore_ascii_case(HOST_ARCHITECTURE)) {
                continue;
            }
            if spec.hypervisor_type.as_ref().is_some_and(|h| !h.eq_ignore_ascii_case(HYPERVISOR_TYPE)) {
                continue;
            }
            let free_ram = candidates
                .provider_summaries
                .get(&root)
                .and_then(|s| s.resources.get("MEMORY_MB"))
                .map(|c| c.capacity - c.used)
                .unwrap_or(0);
            out.push((Weighed { node: node.clone(), request: req.clone(), free_ram }, service.clone()));
        }
        // Shuffle first so equal weights do not all pick the same host
        // (fewer claim conflicts under concurrency), then a stable sort.
        out.shuffle(&mut rand::rng());
        match self.config.weigher {
            Weigher::Spread => out.sort_by_key(|w| std::cmp::Reverse(w.0.free_ram)),
            Weigher::Pack => out.sort_by_key(|w| w.0.free_ram),
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flavor(specs: &[(&str, &str)]) -> Flavor {
        Flavor {
            internal_id: 1,
            flavorid: "1".into(),
            name: "f".into(),
            vcpus: 2,
            memory_mb: 512,
            root_gb: 1,
            ephemeral_gb: 1,
            swap: 1,
            rxtx_factor: 1.0,
            is_public: true,
            disabled: false,
            description: None,
            extra_specs: specs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn resources_from_flavor() {
        let r = flavor_resources(&flavor(&[]));
        assert_eq!(r.get("VCPU"), Some(&2));
        assert_eq!(r.get("MEMORY_MB"), Some(&512));
        assert_eq!(r.get("DISK_GB"), Some(&3));
        let r = flavor_resources(&flavor(&[
            ("hw:cpu_policy", "dedicated"),
            ("resources:DISK_GB", "0"),
            ("resources:CUSTOM_GPU", "1"),
        ]));
        assert_eq!(r.get("PCPU"), Some(&2));
        assert!(!r.contains_key("VCPU"));
        assert!(!r.contains_key("DISK_GB"));
        assert_eq!(r.get("CUSTOM_GPU"), Some(&1));
    }

    #[test]
    fn query_string() {
        let mut img = ImageInfo::public("i", "i");
        img.properties.insert("trait:CUSTOM_IMG".into(), "required".into());
        let spec = RequestSpec::new(
            &flavor(&[("trait:HW_CPU_X86_AVX", "required"), ("trait:CUSTOM_NO", "forbidden")]),
            Some(&img),
        );
        let q = spec.query(10);
        assert!(q.starts_with("resources=DISK_GB:3,MEMORY_MB:512,VCPU:2&required="), "{q}");
        assert!(q.contains("CUSTOM_IMG,HW_CPU_X86_AVX,!COMPUTE_STATUS_DISABLED,!CUSTOM_NO"), "{q}");
        assert!(q.ends_with("&limit=10"));
    }
}
