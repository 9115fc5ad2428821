//! Query-string parameter forms shared by provider listing and usages.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::error::ApiError;
use crate::req::Req;
use crate::schema::is_uuid_like;

/// `resources=VCPU:2,MEMORY_MB:1024`.
pub fn resources(qs: &str) -> Result<BTreeMap<String, i64>, ApiError> {
    let form = "Badly formed resources parameter. Expected resources query string parameter in form: \
                ?resources=VCPU:2,MEMORY_MB:1024.";
    if qs.trim().is_empty() {
        return Err(ApiError::bad_request(format!("{form} Got: empty string.")));
    }
    let mut out = BTreeMap::new();
    for item in qs.split(',') {
        let parts: Vec<&str> = item.split(':').collect();
        if parts.len() != 2 {
            return Err(ApiError::bad_request(format!("{form} Got: {item}.")));
        }
        let (rc, amount) = (parts[0], parts[1]);
        let n: i64 = amount.trim().parse().map_err(|_| {
            ApiError::bad_request(format!("Requested resource {rc} expected positive integer amount. Got: {amount}."))
        })?;
        if n < 1 {
            return Err(ApiError::bad_request(format!("Requested resource {rc} requires amount >= 1. Got: {n}.")));
        }
        out.insert(rc.to_string(), n);
    }
    Ok(out)
}

/// `member_of[suffix]` values: required any-of sets and forbidden aggregates.
pub fn member_of(
    req: &Req,
    q: &[(String, String)],
    suffix: &str,
) -> Result<(Vec<BTreeSet<Uuid>>, BTreeSet<Uuid>), ApiError> {
    let key = format!("member_of{suffix}");
    let values: Vec<&String> = q.iter().filter(|(k, _)| *k == key).map(|(_, v)| v).collect();
    if !req.want(24) && values.len() > 1 {
        return Err(ApiError::bad_request(format!("Multiple member_of{suffix} parameters are not supported")));
    }
    let mut required = Vec::new();
    let mut forbidden = BTreeSet::new();
    for value in values {
        if value.contains(',') && !(value.starts_with("in:") || value.starts_with("!in:")) {
            return Err(ApiError::bad_request(format!(
                "Multiple values for 'member_of' must be prefixed with the 'in:' or '!in:' keyword using the \
                 valid microversion. Got: {value}"
            )));
        }
        let (is_forbidden, list) = if let Some(r) = value.strip_prefix("!in:") {
            (true, r)
        } else if let Some(r) = value.strip_prefix('!') {
            (true, r)
        } else if let Some(r) = value.strip_prefix("in:") {
            (false, r)
        } else {
            (false, value.as_str())
        };
        let mut set = BTreeSet::new();
        for agg in list.split(',') {
            if !is_uuid_like(agg) {
                return Err(ApiError::bad_request(format!(
                    "Invalid query string parameters: Expected 'member_of' parameter to contain valid UUID(s). \
                     Got: {agg}"
                )));
            }
            set.insert(Uuid::parse_str(agg).unwrap_or_default());
        }
        if is_forbidden {
            if !req.want(32) {
                return Err(ApiError::bad_request(format!(
                    "Forbidden member_of{suffix} parameters are not supported in the specified microversion"
                )));
            }
            forbidden.extend(set);
        } else {
            required.push(set);
        }
    }
    Ok((required, forbidden))
}

/// `required[suffix]` values: any-of sets (AND-ed) and forbidden traits.
pub fn required_traits(
    req: &Req,
    q: &[(String, String)],
    suffix: &str,
) -> Result<(Vec<BTreeSet<String>>, BTreeSet<String>), ApiError> {
    let key = format!("required{suffix}");
    let mut values: Vec<&String> = q.iter().filter(|(k, _)| *k == key).map(|(_, v)| v).collect();
    let allow_forbidden = req.want(22);
    let allow_any = req.want(39);
    if !allow_any && values.len() > 1 {
        values = vec![values[values.len() - 1]];
    }
    let mut required = Vec::new();
    let mut forbidden = BTreeSet::new();
    for val in values {
        if let Some(rest) = val.strip_prefix("in:") {
            if !allow_any {
                return Err(ApiError::bad_request(format!(
                    "Invalid query string parameters: The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only supported \
                     since microversion 1.39. Got: {val}"
                )));
            }
            let any: BTreeSet<String> = rest.split(',').map(|s| s.trim().to_string()).collect();
            if any.iter().any(|t| t.is_empty()) {
                return Err(ApiError::bad_request(format!(
                    "Invalid query string parameters: Expected 'required' parameter value of the form: \
                     in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty trait in: {val}"
                )));
            }
            if any.iter().any(|t| t.starts_with('!')) {
                return Err(ApiError::bad_request(format!(
                    "Invalid query string parameters: The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' does not support \
                     forbidden traits. Got: {val}"
                )));
            }
            required.push(any);
            continue;
        }
        let all: Vec<String> = val.split(',').map(|s| s.trim().to_string()).collect();
        let forb: Vec<String> =
            all.iter().filter(|t| t.starts_with('!')).map(|t| t.trim_start_matches('!').to_string()).collect();
        if all.iter().chain(forb.iter()).any(|t| t.is_empty()) {
            let form = if allow_forbidden { "HW_CPU_X86_VMX,!CUSTOM_MAGIC" } else { "HW_CPU_X86_VMX,CUSTOM_MAGIC" };
            return Err(ApiError::bad_request(format!(
                "Invalid query string parameters: Expected 'required' parameter value of the form: {form}. \
                 Got an empty trait in: {val}"
            )));
        }
        if !forb.is_empty() && !allow_forbidden {
            return Err(ApiError::bad_request(format!(
                "Invalid query string parameters: Expected 'required' parameter value of the form: \
                 HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {val}"
            )));
        }
        for t in all.iter().filter(|t| !t.starts_with('!')) {
            required.push(BTreeSet::from([t.clone()]));
        }
        forbidden.extend(forb);
    }
    Ok((required, forbidden))
}
