//! The service catalog: identity, compute, placement and image, each with
//! public/internal/admin endpoints in one region, all under one base URL.

use serde_json::{json, Value};

use crate::util::sha256_hex;

/// (type, name, path under the base URL)
pub(crate) const SERVICES: &[(&str, &str, &str)] = &[
    ("identity", "keystone", "/identity"),
    ("compute", "nova", "/compute/v2.1"),
    ("placement", "placement", "/placement"),
    ("image", "glance", "/image"),
];

pub(crate) const INTERFACES: &[&str] = &["public", "internal", "admin"];

/// Stable ids, so every token shows the same catalog.
pub(crate) fn service_id(kind: &str) -> String {
    sha256_hex(&format!("berth-service:{kind}"))[..32].to_string()
}

pub(crate) fn endpoint_id(kind: &str, interface: &str) -> String {
    sha256_hex(&format!("berth-endpoint:{kind}:{interface}"))[..32].to_string()
}

/// One endpoint record as `/v3/endpoints` shows it.
pub(crate) struct Endpoint {
    pub id: String,
    pub service_id: String,
    pub interface: &'static str,
    pub url: String,
}

pub(crate) fn endpoints(base: &str) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for (kind, _, path) in SERVICES {
        for iface in INTERFACES {
            out.push(Endpoint {
                id: endpoint_id(kind, iface),
                service_id: service_id(kind),
                interface: iface,
                url: format!("{base}{path}"),
            });
        }
    }
    out
}

/// The `catalog` list of a token.
pub(crate) fn catalog(base: &str, region: &str) -> Value {
    let list: Vec<Value> = SERVICES
        .iter()
        .map(|(kind, name, path)| {
            let eps: Vec<Value> = INTERFACES
                .iter()
                .map(|iface| {
                    json!({
                        "id": endpoint_id(kind, iface),
                        "interface": iface,
                        "region": region,
                        "region_id": region,
                        "url": format!("{base}{path}"),
                    })
                })
                .collect();
            json!({"endpoints": eps, "id": service_id(kind), "type": kind, "name": name})
        })
        .collect();
    Value::Array(list)
}
