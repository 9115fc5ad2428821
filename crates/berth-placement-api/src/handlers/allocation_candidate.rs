//! `GET /allocation_candidates` (1.10+).

use berth_placement::candidates::{self, CandidatesRequest, Options, Snapshot};
use http::StatusCode;

use super::require_version;
use crate::error::ApiError;
use crate::req::HandlerResult;
use crate::req::{text_json_response, Req};

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
    let found = candidates::find_candidates(&snap, &creq, &opts).map_err(|e| ApiError::bad_request(e.http_detail()))?;
    let body = serialize(&req, &snap, &creq, &found);
    Ok(text_json_response(&req, StatusCode::OK, body, None))
}

/// Append `s` as a JSON string. Names here (uuids, resource classes,
/// traits, group suffixes) are plain ASCII; anything else is escaped by
/// serde_json.
fn push_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.' || b == b':') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
    }
}

fn push_uuid(out: &mut String, u: &uuid::Uuid) {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    out.push('"');
    out.push_str(u.hyphenated().encode_lower(&mut buf));
    out.push('"');
}

fn push_int(out: &mut String, n: i64) {
    use std::fmt::Write;
    let _ = write!(out, "{n}");
}

/// The response body, written directly as JSON text: answers can hold
/// thousands of candidates and summaries, and building a `serde_json::Value`
/// tree first would cost more than finding them.
fn serialize(req: &Req, snap: &Snapshot, creq: &CandidatesRequest, found: &candidates::Candidates) -> String {
    let mut out = String::with_capacity(256 + found.len() * 160 + found.provider_summaries.len() * 200);
    out.push_str("{\"allocation_requests\":[");
    for (i, ar) in found.allocation_requests().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let dict = req.want(12);
        out.push_str(if dict { "{\"allocations\":{" } else { "{\"allocations\":[" });
        for (j, (p, amounts)) in ar.by_provider().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let uuid = &snap.provider(p).uuid;
            if dict {
                push_uuid(&mut out, uuid);
                out.push_str(":{\"resources\":{");
            } else {
                out.push_str("{\"resource_provider\":{\"uuid\":");
                push_uuid(&mut out, uuid);
                out.push_str("},\"resources\":{");
            }
            for (k, a) in amounts.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                push_str(&mut out, snap.resource_class_name(a.resource_class));
                out.push(':');
                push_int(&mut out, a.amount);
            }
            out.push_str("}}");
        }
        out.push(if dict { '}' } else { ']' });
        if req.want(34) {
            out.push_str(",\"mappings\":{");
            for (j, (g, maps)) in ar.mappings_by_group().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                push_str(&mut out, creq.groups.get(g as usize).map(|g| g.suffix.as_str()).unwrap_or(""));
                out.push_str(":[");
                for (k, m) in maps.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    push_uuid(&mut out, &snap.provider(m.provider).uuid);
                }
                out.push(']');
            }
            out.push('}');
        }
        out.push('}');
    }
    out.push_str("],\"provider_summaries\":{");
    let requested: Vec<&str> = creq.requested_resource_classes();
    for (i, &p) in found.provider_summaries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let prov = snap.provider(p);
        push_uuid(&mut out, &prov.uuid);
        out.push_str(":{\"resources\":{");
        let mut first = true;
        for inv in &prov.inventories {
            let name = snap.resource_class_name(inv.resource_class);
            if req.want(27) || requested.contains(&name) {
                if !first {
                    out.push(',');
                }
                first = false;
                push_str(&mut out, name);
                out.push_str(":{\"capacity\":");
                push_int(&mut out, inv.capacity);
                out.push_str(",\"used\":");
                push_int(&mut out, inv.used);
                out.push('}');
            }
        }
        out.push('}');
        if req.want(17) {
            out.push_str(",\"traits\":[");
            for (k, t) in prov.traits.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                push_str(&mut out, t);
            }
            out.push(']');
        }
        if req.want(29) {
            out.push_str(",\"parent_provider_uuid\":");
            match prov.parent {
                Some(pp) => push_uuid(&mut out, &snap.provider(pp).uuid),
                None => out.push_str("null"),
            }
            out.push_str(",\"root_provider_uuid\":");
            push_uuid(&mut out, &snap.provider(prov.root).uuid);
        }
        out.push('}');
    }
    out.push_str("}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_valid_json() {
        let mut s = String::new();
        push_str(&mut s, "CUSTOM_X");
        push_str(&mut s, "we\"ird\n");
        assert_eq!(s, "\"CUSTOM_X\"\"we\\\"ird\\n\"");
        let mut u = String::new();
        push_uuid(&mut u, &uuid::Uuid::nil());
        assert_eq!(u, "\"00000000-0000-0000-0000-000000000000\"");
    }
}
