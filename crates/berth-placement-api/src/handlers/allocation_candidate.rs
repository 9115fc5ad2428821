//! `GET /allocation_candidates` (1.10+).

use berth_placement::candidates::{self, CandidatesRequest, Options, Snapshot};
use http::StatusCode;
use serde_json::{json, Map, Value};

use super::require_version;
use crate::error::ApiError;
use crate::req::{json_response, Req};
use crate::routes::HandlerResult;

pub async fn list(req: Req) -> HandlerResult {
    require_version(&req, 10)?;
    req.check_accept_json()?;
    req.can("placement:allocation_candidates:list")?;
    let pairs = req.query()?;
    let creq = candidates::parse_query(&pairs, (req.version.major, req.version.minor)).map_err(|e| {
        let err = ApiError::bad_request(e.message);
        match e.code {
            Some(c) => err.with_code(c),
            None => err,
        }
    })?;
    let snap = req.state.candidates_snapshot().await?;
    let cfg = &req.state.config;
    let opts = Options {
        randomize: cfg.randomize_allocation_candidates,
        max_allocation_candidates: cfg.max_allocation_candidates,
        ..Options::upstream()
    };
    let found = candidates::find_candidates(&snap, &creq, &opts)
        .map_err(|e| ApiError::bad_request(e.http_detail()))?;
    let body = serialize(&req, &snap, &creq, &found);
    Ok(json_response(&req, StatusCode::OK, &body, None))
}

fn serialize(req: &Req, snap: &Snapshot, creq: &CandidatesRequest, found: &candidates::Candidates) -> Value {
    let mut areqs = Vec::with_capacity(found.len());
    for ar in found.allocation_requests() {
        let mut entry = if req.want(12) {
            let mut m = Map::new();
            for (p, amounts) in ar.by_provider() {
                let mut res = Map::new();
                for a in amounts {
                    res.insert(snap.resource_class_name(a.resource_class).to_string(), json!(a.amount));
                }
                m.insert(snap.provider(p).uuid.to_string(), json!({"resources": res}));
            }
            json!({"allocations": m})
        } else {
            let list: Vec<Value> = ar
                .by_provider()
                .map(|(p, amounts)| {
                    let mut res = Map::new();
                    for a in amounts {
                        res.insert(snap.resource_class_name(a.resource_class).to_string(), json!(a.amount));
                    }
                    json!({"resource_provider": {"uuid": snap.provider(p).uuid}, "resources": res})
                })
                .collect();
            json!({"allocations": list})
        };
        if req.want(34) {
            let mut m = Map::new();
            for (g, provs) in ar.mappings_by_group() {
                let suffix = creq.groups.get(g as usize).map(|g| g.suffix.clone()).unwrap_or_default();
                let uuids: Vec<String> = provs.iter().map(|m| snap.provider(m.provider).uuid.to_string()).collect();
                m.insert(suffix, json!(uuids));
            }
            entry["mappings"] = Value::Object(m);
        }
        areqs.push(entry);
    }
    let requested: Vec<&str> = creq.requested_resource_classes();
    let mut summaries = Map::new();
    for &p in &found.provider_summaries {
        let prov = snap.provider(p);
        let mut res = Map::new();
        for inv in &prov.inventories {
            let name = snap.resource_class_name(inv.resource_class);
            if req.want(27) || requested.contains(&name) {
                res.insert(name.to_string(), json!({"capacity": inv.capacity, "used": inv.used}));
            }
        }
        let mut s = json!({"resources": res});
        if req.want(17) {
            s["traits"] = json!(prov.traits);
        }
        if req.want(29) {
            s["parent_provider_uuid"] = json!(prov.parent.map(|pp| snap.provider(pp).uuid));
            s["root_provider_uuid"] = json!(snap.provider(prov.root).uuid);
        }
        summaries.insert(prov.uuid.to_string(), s);
    }
    json!({"allocation_requests": areqs, "provider_summaries": summaries})
}
