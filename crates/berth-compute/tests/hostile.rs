//! Hostile input against the compute API, on SQLite and PostgreSQL: every
//! case answers Nova's documented 4xx in Nova's fault body (Keystone's for
//! 401), carries a request id, and shows no database text.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};

const TOKEN: &[u8] = b"admin";

/// The fault name Nova uses for a status.
fn fault_name(status: u16) -> &'static str {
    match status {
        400 => "badRequest",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        406 => "computeFault",
        409 => "conflictingRequest",
        413 => "overLimit",
        415 => "badMediaType",
        other => panic!("no fault name for {other} in this table"),
    }
}

struct Case {
    what: String,
    method: Method,
    uri: String,
    body: Vec<u8>,
    headers: Vec<(&'static str, Vec<u8>)>,
    want: u16,
}

fn case(what: impl Into<String>, method: Method, path: &str, body: Option<Vec<u8>>, want: u16) -> Case {
    let mut headers = vec![("x-auth-token", TOKEN.to_vec()), ("openstack-api-version", MV.as_bytes().to_vec())];
    if body.is_some() {
        headers.push(("content-type", b"application/json".to_vec()));
    }
    Case {
        what: what.into(),
        method,
        uri: format!("/compute/v2.1{path}"),
        body: body.unwrap_or_default(),
        headers,
        want,
    }
}

fn json_body(v: Value) -> Option<Vec<u8>> {
    Some(v.to_string().into_bytes())
}

fn with_header(mut c: Case, name: &'static str, value: &[u8]) -> Case {
    c.headers.retain(|(k, _)| *k != name);
    c.headers.push((name, value.to_vec()));
    c
}

/// `{"a": {"a": ... }}` nested `depth` deep.
fn deep(depth: usize) -> Vec<u8> {
    let mut s = String::with_capacity(depth * 6 + 2);
    for _ in 0..depth {
        s.push_str("{\"a\":");
    }
    s.push('1');
    for _ in 0..depth {
        s.push('}');
    }
    s.into_bytes()
}

async fn hostile_inputs(backend: Backend) {
    let env = Env::new(backend).await;
    let _agent = env.agent("h1", "fake:8,8192,100", &[]).await;
    let flavor = env.create_flavor("small", 1, 256, 1).await;
    let server = env.create_server("victim", &flavor).await;
    let flavors_before = flavor_count(&env).await;
    let big = "9223372036854775808"; // 2^63
    let huge = "99999999999999999999999";
    let bad_time = "2023-11-14T22:13:20.%C3%A9%C3%A9";
    let server_body = |name: Value| {
        json_body(json!({"server": {"name": name, "flavorRef": flavor, "imageRef": IMAGE, "networks": "none"}}))
    };
    let flavor_body = |f: Value| json_body(json!({ "flavor": f }));
    let mut cases = vec![
        // Non-ASCII and malformed dates and times.
        case("changes-since non-ASCII", Method::GET, &format!("/servers?changes-since={bad_time}"), None, 400),
        case(
            "changes-since non-ASCII (detail)",
            Method::GET,
            &format!("/servers/detail?changes-since={bad_time}"),
            None,
            400,
        ),
        case("changes-before non-ASCII", Method::GET, &format!("/servers?changes-before={bad_time}"), None, 400),
        case(
            "changes-before non-ASCII (detail)",
            Method::GET,
            &format!("/servers/detail?changes-before={bad_time}"),
            None,
            400,
        ),
        case("changes-since garbage", Method::GET, "/servers?changes-since=yesterday", None, 400),
        case("changes-since out of range", Method::GET, "/servers?changes-since=2023-13-45T25:61:61Z", None, 400),
        case("changes-since empty", Method::GET, "/servers/detail?changes-since=", None, 400),
        case("changes-before bidi", Method::GET, "/servers?changes-before=2023-11-14%E2%80%AE", None, 400),
        // NUL and %FF in paths: they name nothing.
        case("flavor %00", Method::GET, "/flavors/%00", None, 404),
        case("flavor %FF", Method::GET, "/flavors/%FF", None, 404),
        case("server %00", Method::GET, "/servers/%00", None, 404),
        case("server %FF", Method::GET, "/servers/%FF", None, 404),
        case("quota set %00", Method::GET, "/os-quota-sets/%00", None, 404),
        case(
            "quota set %00 update",
            Method::PUT,
            "/os-quota-sets/%00",
            json_body(json!({"quota_set": {"cores": 1}})),
            404,
        ),
        case("service %00", Method::PUT, "/os-services/%00", json_body(json!({"status": "disabled"})), 404),
        case("service %FF", Method::DELETE, "/os-services/%FF", None, 404),
        case("hypervisor %00", Method::GET, "/os-hypervisors/%00", None, 404),
        case("hypervisor %FF", Method::GET, "/os-hypervisors/%FF", None, 404),
        case("metadata key %00", Method::GET, &format!("/servers/{server}/metadata/%00"), None, 404),
        case(
            "metadata key %FF",
            Method::PUT,
            &format!("/servers/{server}/metadata/%FF"),
            json_body(json!({"meta": {"a": "b"}})),
            404,
        ),
        case("extra spec key %00", Method::GET, &format!("/flavors/{flavor}/os-extra_specs/%00"), None, 404),
        case("lone surrogate in a path", Method::GET, "/servers/%ED%A0%80", None, 404),
    ];
    // NUL and %FF in queries.
    for q in ["name", "host", "flavor", "image", "status", "marker", "limit"] {
        for bad in ["a%00b", "%FF"] {
            cases.push(case(format!("query {q}={bad}"), Method::GET, &format!("/servers/detail?{q}={bad}"), None, 400));
        }
    }
    cases.push(case("flavor marker %00", Method::GET, "/flavors?marker=%00", None, 400));
    cases.push(case("query lone surrogate", Method::GET, "/servers?name=%ED%A0%80", None, 400));
    // Integers at and beyond 2^63.
    for l in [big, huge, "-1", "1.5"] {
        cases.push(case(format!("servers limit={l}"), Method::GET, &format!("/servers?limit={l}"), None, 400));
        cases.push(case(format!("flavors limit={l}"), Method::GET, &format!("/flavors?limit={l}"), None, 400));
        cases.push(case(
            format!("hypervisors limit={l}"),
            Method::GET,
            &format!("/os-hypervisors?limit={l}"),
            None,
            400,
        ));
    }
    for n in [big, huge] {
        let raw = |field: &str| {
            Some(
                format!(r#"{{"flavor": {{"name": "f{field}", "vcpus": 1, "ram": 64, "disk": 1, "{field}": {n}}}}}"#)
                    .into_bytes(),
            )
        };
        for field in ["ram", "vcpus", "disk"] {
            cases.push(case(format!("flavor {field}={n}"), Method::POST, "/flavors", raw(field), 400));
        }
        cases.push(case(
            format!("quota cores={n}"),
            Method::PUT,
            "/os-quota-sets/proj",
            Some(format!(r#"{{"quota_set": {{"cores": {n}}}}}"#).into_bytes()),
            400,
        ));
        cases.push(case(
            format!("quota instances=\"{n}\""),
            Method::PUT,
            "/os-quota-sets/proj",
            json_body(json!({"quota_set": {"instances": n}})),
            400,
        ));
    }
    // NUL inside JSON strings.
    cases.extend([
        case("server name NUL", Method::POST, "/servers", server_body(json!("a\u{0}b")), 400),
        case(
            "server metadata NUL",
            Method::POST,
            "/servers",
            json_body(json!({"server": {"name": "m", "flavorRef": flavor, "imageRef": IMAGE, "networks": "none", "metadata": {"k": "v\u{0}"}}})),
            400,
        ),
        case("metadata value NUL", Method::POST, &format!("/servers/{server}/metadata"), json_body(json!({"metadata": {"k": "a\u{0}"}})), 400),
        case("metadata key NUL", Method::PUT, &format!("/servers/{server}/metadata"), json_body(json!({"metadata": {"k\u{0}": "a"}})), 400),
        case("server rename NUL", Method::PUT, &format!("/servers/{server}"), json_body(json!({"server": {"name": "x\u{0}"}})), 400),
        case("flavor name NUL", Method::POST, "/flavors", flavor_body(json!({"name": "f\u{0}", "vcpus": 1, "ram": 64, "disk": 1})), 400),
        case("flavor id NUL", Method::POST, "/flavors", flavor_body(json!({"name": "fid", "id": "a\u{0}", "vcpus": 1, "ram": 64, "disk": 1})), 400),
        case("flavor description NUL", Method::PUT, &format!("/flavors/{flavor}"), flavor_body(json!({"description": "d\u{0}"})), 400),
        case("extra spec key NUL", Method::POST, &format!("/flavors/{flavor}/os-extra_specs"), json_body(json!({"extra_specs": {"hw:\u{0}": "1"}})), 400),
        case("extra spec value NUL", Method::POST, &format!("/flavors/{flavor}/os-extra_specs"), json_body(json!({"extra_specs": {"hw:cpu_policy": "a\u{0}"}})), 400),
        case("quota value NUL", Method::PUT, "/os-quota-sets/proj", json_body(json!({"quota_set": {"cores": "1\u{0}"}})), 400),
        case("flavor access tenant NUL", Method::POST, &format!("/flavors/{flavor}/action"), json_body(json!({"addTenantAccess": {"tenant": "p\u{0}"}})), 400),
    ]);
    // Deep nesting, lone surrogates, huge names.
    cases.push(case("10,000-deep JSON", Method::POST, "/servers", Some(deep(10_000)), 400));
    cases.push(case("10,000-deep JSON (flavor)", Method::POST, "/flavors", Some(deep(10_000)), 400));
    cases.push(case(
        "lone surrogate in a server name",
        Method::POST,
        "/servers",
        Some(format!(r#"{{"server": {{"name": "a\ud800b", "flavorRef": "{flavor}", "imageRef": "{IMAGE}", "networks": "none"}}}}"#).into_bytes()),
        400,
    ));
    cases.push(case(
        "lone low surrogate in metadata",
        Method::POST,
        &format!("/servers/{server}/metadata"),
        Some(br#"{"metadata": {"k": "\udc00"}}"#.to_vec()),
        400,
    ));
    cases.push(case(
        "invalid UTF-8 body",
        Method::POST,
        "/servers",
        Some(b"{\"server\": {\"name\": \"\xff\"}}".to_vec()),
        400,
    ));
    let ten_mb = "n".repeat(10 * 1024 * 1024);
    cases.push(case("10 MB server name", Method::POST, "/servers", server_body(json!(ten_mb)), 413));
    cases.push(case(
        "10 MB flavor name",
        Method::POST,
        "/flavors",
        flavor_body(json!({"name": ten_mb, "vcpus": 1, "ram": 64, "disk": 1})),
        413,
    ));
    let long = "n".repeat(256);
    cases.push(case("256-character server name", Method::POST, "/servers", server_body(json!(long)), 400));
    // Wrong content types.
    for ct in ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/jsonx"] {
        cases.push(with_header(
            case(format!("content type {ct}"), Method::POST, "/servers", server_body(json!("ct")), 415),
            "content-type",
            ct.as_bytes(),
        ));
    }
    cases.push(with_header(
        case(
            "content type not text",
            Method::PUT,
            &format!("/servers/{server}"),
            json_body(json!({"server": {"name": "x"}})),
            415,
        ),
        "content-type",
        b"application/\xffjson",
    ));
    // Microversion headers: unknown, malformed, duplicate, legacy.
    let mv = |what: &str, value: &[u8], want: u16| {
        with_header(
            case(format!("microversion {what}"), Method::GET, "/servers", None, want),
            "openstack-api-version",
            value,
        )
    };
    cases.extend([
        mv("3.0", b"compute 3.0", 406),
        mv("2.97 (above the maximum)", b"compute 2.97", 406),
        mv("1.1 (below the minimum)", b"compute 1.1", 406),
        mv("2.x", b"compute 2.x", 400),
        mv("empty version", b"compute ", 400),
        mv("non-ASCII", "compute 2.\u{e9}".as_bytes(), 400),
        mv("not text", b"compute 2.\xff", 400),
        mv("duplicate, first unacceptable", b"compute 2.999, compute 2.1", 406),
        mv("duplicate, first malformed", b"compute 2.1.1, compute 2.1", 400),
    ]);
    let mut dup = case("duplicate headers, first unacceptable", Method::GET, "/servers", None, 406);
    dup.headers.retain(|(k, _)| *k != "openstack-api-version");
    dup.headers.push(("openstack-api-version", b"compute 9.9".to_vec()));
    dup.headers.push(("openstack-api-version", b"compute 2.1".to_vec()));
    cases.push(dup);
    let mut legacy = case("legacy header malformed", Method::GET, "/servers", None, 400);
    legacy.headers.retain(|(k, _)| *k != "openstack-api-version");
    legacy.headers.push(("x-openstack-nova-api-version", b"two".to_vec()));
    cases.push(legacy);
    let mut legacy = case("legacy header unknown", Method::GET, "/servers", None, 406);
    legacy.headers.retain(|(k, _)| *k != "openstack-api-version");
    legacy.headers.push(("x-openstack-nova-api-version", b"2.1000".to_vec()));
    cases.push(legacy);
    // Unknown and invalid body fields.
    cases.extend([
        case("unknown server field", Method::POST, "/servers", json_body(json!({"server": {"name": "u", "flavorRef": flavor, "imageRef": IMAGE, "networks": "none", "bogus": 1}})), 400),
        case("unknown top-level key", Method::POST, "/servers", json_body(json!({"servers": {}})), 400),
        case("server name a number", Method::POST, "/servers", server_body(json!(5)), 400),
        case("body not an object", Method::POST, "/servers", json_body(json!([1, 2])), 400),
        case("body not JSON", Method::POST, "/flavors", Some(b"{not json".to_vec()), 400),
        case("empty body", Method::POST, "/flavors", Some(Vec::new()), 400),
        case("flavor ram a string", Method::POST, "/flavors", flavor_body(json!({"name": "s", "vcpus": 1, "ram": "lots", "disk": 1})), 400),
        case("flavor negative vcpus", Method::POST, "/flavors", flavor_body(json!({"name": "s", "vcpus": -1, "ram": 64, "disk": 1})), 400),
        case("unknown flavor field", Method::POST, "/flavors", flavor_body(json!({"name": "s", "vcpus": 1, "ram": 64, "disk": 1, "color": "red"})), 400),
        case("unknown quota", Method::PUT, "/os-quota-sets/proj", json_body(json!({"quota_set": {"unicorns": 1}})), 400),
        case("unknown action", Method::POST, &format!("/servers/{server}/action"), json_body(json!({"os-explode": null})), 400),
        case("two actions", Method::POST, &format!("/servers/{server}/action"), json_body(json!({"os-start": null, "os-stop": null})), 400),
        case("service status invalid", Method::PUT, "/os-services/1", json_body(json!({"status": "sideways"})), 400),
        case("tag NUL", Method::PUT, &format!("/servers/{server}/tags"), json_body(json!({"tags": ["a\u{0}"]})), 400),
        case("51 tags", Method::PUT, &format!("/servers/{server}/tags"), json_body(json!({"tags": (0..51).map(|n| n.to_string()).collect::<Vec<_>>()})), 400),
        case("tags not a list", Method::PUT, &format!("/servers/{server}/tags"), json_body(json!({"tags": {"a": 1}})), 400),
        case("tag path %00", Method::PUT, &format!("/servers/{server}/tags/%00"), None, 404),
        case("tag path %FF", Method::GET, &format!("/servers/{server}/tags/%FF"), None, 404),
        // Nova checks the server's state before the tag: this one is building.
        case("tag 10 kB", Method::PUT, &format!("/servers/{server}/tags/{}", "t".repeat(10_000)), None, 409),
        case("lock reason NUL", Method::POST, &format!("/servers/{server}/action"), json_body(json!({"lock": {"locked_reason": "r\u{0}"}})), 400),
        case("lock reason 10 kB", Method::POST, &format!("/servers/{server}/action"), json_body(json!({"lock": {"locked_reason": "r".repeat(10_000)}})), 400),
        case("reset state NUL", Method::POST, &format!("/servers/{server}/action"), json_body(json!({"os-resetState": {"state": "active\u{0}"}})), 400),
        case("console length 1e30", Method::POST, &format!("/servers/{server}/action"), json_body(json!({"os-getConsoleOutput": {"length": 1e30}})), 400),
        case("console length 20 digits", Method::POST, &format!("/servers/{server}/action"), json_body(json!({"os-getConsoleOutput": {"length": "99999999999999999999"}})), 400),
        case("image name NUL", Method::POST, &format!("/servers/{server}/action"), json_body(json!({"createImage": {"name": "i\u{0}"}})), 400),
        case("backup rotation 2^63", Method::POST, &format!("/servers/{server}/action"), json_body(json!({"createBackup": {"name": "b", "backup_type": "daily", "rotation": 9_223_372_036_854_775_807_u64}})), 400),
        case("backup rotation object", Method::POST, &format!("/servers/{server}/action"), json_body(json!({"createBackup": {"name": "b", "backup_type": "daily", "rotation": {}}})), 400),
        case("rescue image not a uuid", Method::POST, &format!("/servers/{server}/action"), json_body(json!({"rescue": {"rescue_image_ref": "x"}})), 400),
        case("name filter NUL", Method::GET, "/servers?name=a%00", None, 400),
    ]);
    // Key pairs: names, users, markers and limits no key pair can have.
    let kp_body = |kp: Value| json_body(json!({ "keypair": kp }));
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM4AE4lkNqwolTzCM8RK/D0EWZ6Gcdzd2Vb+Gn0sboZX h";
    cases.extend([
        case("keypair %00", Method::GET, "/os-keypairs/%00", None, 404),
        case("keypair %FF", Method::GET, "/os-keypairs/%FF", None, 404),
        case("keypair %00 delete", Method::DELETE, "/os-keypairs/%00", None, 404),
        case("keypair lone surrogate", Method::DELETE, "/os-keypairs/%ED%A0%80", None, 404),
        case("keypair 256-character path", Method::GET, &format!("/os-keypairs/{long}"), None, 404),
        case("keypair user_id %00", Method::GET, "/os-keypairs?user_id=%00", None, 400),
        case("keypair user_id %FF", Method::GET, "/os-keypairs/k?user_id=%FF", None, 400),
        case("keypair marker %00", Method::GET, "/os-keypairs?marker=a%00b", None, 400),
        case("keypair marker %FF", Method::GET, "/os-keypairs?marker=%FF", None, 400),
        case("keypair marker 10 kB", Method::GET, &format!("/os-keypairs?marker={}", "m".repeat(10_000)), None, 400),
        case("keypair unknown query (2.96)", Method::GET, "/os-keypairs?sort_key=name", None, 400),
        case(
            "keypair name NUL",
            Method::POST,
            "/os-keypairs",
            kp_body(json!({"name": "a\u{0}", "public_key": key})),
            400,
        ),
        case(
            "keypair public key NUL",
            Method::POST,
            "/os-keypairs",
            kp_body(json!({"name": "a", "public_key": "ssh-rsa \u{0}"})),
            400,
        ),
        case(
            "keypair user_id empty",
            Method::POST,
            "/os-keypairs",
            kp_body(json!({"name": "a", "public_key": key, "user_id": ""})),
            400,
        ),
        case(
            "keypair user_id a number",
            Method::POST,
            "/os-keypairs",
            kp_body(json!({"name": "a", "public_key": key, "user_id": 1})),
            400,
        ),
        case(
            "keypair name 256 characters",
            Method::POST,
            "/os-keypairs",
            kp_body(json!({"name": long, "public_key": key})),
            400,
        ),
        case("keypair name null", Method::POST, "/os-keypairs", kp_body(json!({"name": null, "public_key": key})), 400),
        case("keypair name missing", Method::POST, "/os-keypairs", kp_body(json!({"public_key": key})), 400),
        case(
            "keypair name non-ASCII",
            Method::POST,
            "/os-keypairs",
            kp_body(json!({"name": "cl\u{e9}", "public_key": key})),
            400,
        ),
        case("keypair not an object", Method::POST, "/os-keypairs", json_body(json!({"keypair": []})), 400),
        case(
            "keypair unknown top-level key",
            Method::POST,
            "/os-keypairs",
            json_body(json!({"keypair": {"name": "a", "public_key": key}, "x": 1})),
            400,
        ),
        case(
            "keypair unknown field",
            Method::POST,
            "/os-keypairs",
            kp_body(json!({"name": "a", "public_key": key, "color": "red"})),
            400,
        ),
        case(
            "keypair type unknown",
            Method::POST,
            "/os-keypairs",
            kp_body(json!({"name": "a", "public_key": key, "type": "pgp"})),
            400,
        ),
        case(
            "keypair public key garbage",
            Method::POST,
            "/os-keypairs",
            kp_body(json!({"name": "a", "public_key": "ssh-rsa !!!"})),
            400,
        ),
        case(
            "keypair 10 MB public key",
            Method::POST,
            "/os-keypairs",
            kp_body(json!({"name": "a", "public_key": ten_mb})),
            413,
        ),
        case("keypair body empty", Method::POST, "/os-keypairs", Some(Vec::new()), 400),
        case("keypair body not JSON", Method::POST, "/os-keypairs", Some(b"{not json".to_vec()), 400),
        case("keypair 10,000-deep JSON", Method::POST, "/os-keypairs", Some(deep(10_000)), 400),
        case("keypair method", Method::PUT, "/os-keypairs/a", kp_body(json!({"name": "a"})), 405),
    ]);
    // Moves: bodies no move accepts, ids that name nothing.
    let act = format!("/servers/{server}/action");
    let nul = "host\u{0}";
    cases.extend([
        case(
            "resize flavorRef NUL",
            Method::POST,
            &act,
            Some(format!(r#"{{"resize": {{"flavorRef": "{nul}"}}}}"#).into_bytes()),
            400,
        ),
        case(
            "resize flavorRef huge",
            Method::POST,
            &act,
            Some(format!(r#"{{"resize": {{"flavorRef": {huge}}}}}"#).into_bytes()),
            400,
        ),
        case(
            "resize flavorRef object",
            Method::POST,
            &act,
            json_body(json!({"resize": {"flavorRef": {"id": 1}}})),
            400,
        ),
        case(
            "resize flavorRef 10 kB",
            Method::POST,
            &act,
            json_body(json!({"resize": {"flavorRef": "f".repeat(10_000)}})),
            400,
        ),
        case("resize extra key", Method::POST, &act, json_body(json!({"resize": {"flavorRef": flavor, "x": 1}})), 400),
        case("resize not an object", Method::POST, &act, json_body(json!({"resize": "big"})), 400),
        case(
            "resize diskConfig",
            Method::POST,
            &act,
            json_body(json!({"resize": {"flavorRef": flavor, "OS-DCF:diskConfig": "SIDEWAYS"}})),
            400,
        ),
        case("confirmResize a list", Method::POST, &act, json_body(json!({"confirmResize": [1]})), 400),
        case("revertResize a number", Method::POST, &act, json_body(json!({"revertResize": 1})), 400),
        case("migrate host number", Method::POST, &act, json_body(json!({"migrate": {"host": 12}})), 400),
        case(
            "migrate host NUL",
            Method::POST,
            &act,
            Some(format!(r#"{{"migrate": {{"host": "{nul}"}}}}"#).into_bytes()),
            400,
        ),
        case(
            "migrate host 10 kB",
            Method::POST,
            &act,
            json_body(json!({"migrate": {"host": "h".repeat(10_000)}})),
            400,
        ),
        case("migrate unknown host", Method::POST, &act, json_body(json!({"migrate": {"host": "nowhere"}})), 400),
        case("live no block_migration", Method::POST, &act, json_body(json!({"os-migrateLive": {"host": null}})), 400),
        case(
            "live block_migration odd",
            Method::POST,
            &act,
            json_body(json!({"os-migrateLive": {"host": null, "block_migration": "maybe"}})),
            400,
        ),
        case(
            "live force at 2.96",
            Method::POST,
            &act,
            json_body(json!({"os-migrateLive": {"host": null, "block_migration": true, "force": true}})),
            400,
        ),
        case("live not an object", Method::POST, &act, json_body(json!({"os-migrateLive": null})), 400),
        case("evacuate host list", Method::POST, &act, json_body(json!({"evacuate": {"host": ["a"]}})), 400),
        case("evacuate adminPass number", Method::POST, &act, json_body(json!({"evacuate": {"adminPass": 5}})), 400),
        case("evacuate unknown host", Method::POST, &act, json_body(json!({"evacuate": {"host": "nowhere"}})), 404),
        case(
            "evacuate onSharedStorage at 2.96",
            Method::POST,
            &act,
            json_body(json!({"evacuate": {"onSharedStorage": true}})),
            400,
        ),
        case("shelve a string", Method::POST, &act, json_body(json!({"shelve": "now"})), 400),
        case("unshelve az number", Method::POST, &act, json_body(json!({"unshelve": {"availability_zone": 7}})), 400),
        case("unshelve empty object", Method::POST, &act, json_body(json!({"unshelve": {}})), 400),
        case("unshelve unknown key", Method::POST, &act, json_body(json!({"unshelve": {"zone": "nova"}})), 400),
        case(
            "unshelve unknown az",
            Method::POST,
            &act,
            json_body(json!({"unshelve": {"availability_zone": "atlantis"}})),
            400,
        ),
        case("rebuild imageRef missing", Method::POST, &act, json_body(json!({"rebuild": {"name": "x"}})), 400),
        case("rebuild imageRef number", Method::POST, &act, json_body(json!({"rebuild": {"imageRef": 5}})), 400),
        case(
            "rebuild unknown key",
            Method::POST,
            &act,
            json_body(json!({"rebuild": {"imageRef": IMAGE, "flavor": 1}})),
            400,
        ),
        case(
            "rebuild name NUL",
            Method::POST,
            &act,
            Some(format!(r#"{{"rebuild": {{"imageRef": "{IMAGE}", "name": "{nul}"}}}}"#).into_bytes()),
            400,
        ),
        case("migrations marker unknown", Method::GET, "/os-migrations?marker=nope", None, 400),
        case("migrations limit huge", Method::GET, &format!("/os-migrations?limit={huge}"), None, 400),
        case("migrations limit negative", Method::GET, "/os-migrations?limit=-1", None, 400),
        case("migrations changes-since garbage", Method::GET, "/os-migrations?changes-since=yesterday", None, 400),
        case(
            "migrations changes-since non-ASCII",
            Method::GET,
            &format!("/os-migrations?changes-since={bad_time}"),
            None,
            400,
        ),
        case("server migration %00", Method::GET, &format!("/servers/{server}/migrations/%00"), None, 404),
        case("server migration huge id", Method::GET, &format!("/servers/{server}/migrations/{huge}"), None, 404),
        case("server migration unknown", Method::GET, &format!("/servers/{server}/migrations/77"), None, 404),
        case(
            "server migration abort unknown",
            Method::DELETE,
            &format!("/servers/{server}/migrations/{big}"),
            None,
            404,
        ),
        case(
            "force_complete body",
            Method::POST,
            &format!("/servers/{server}/migrations/1/action"),
            json_body(json!({"force_complete": 1})),
            400,
        ),
        case(
            "force_complete other action",
            Method::POST,
            &format!("/servers/{server}/migrations/1/action"),
            json_body(json!({"explode": null})),
            400,
        ),
        case("migrations of unknown server", Method::GET, "/servers/%FF/migrations", None, 404),
        case("actions of unknown server", Method::GET, "/servers/%00/os-instance-actions", None, 404),
        case("action %00", Method::GET, &format!("/servers/{server}/os-instance-actions/%00"), None, 404),
        case(
            "action 10 kB",
            Method::GET,
            &format!("/servers/{server}/os-instance-actions/{}", "r".repeat(10_000)),
            None,
            404,
        ),
        case(
            "actions marker unknown",
            Method::GET,
            &format!("/servers/{server}/os-instance-actions?marker=nope"),
            None,
            400,
        ),
        case(
            "actions limit huge",
            Method::GET,
            &format!("/servers/{server}/os-instance-actions?limit={huge}"),
            None,
            400,
        ),
        case(
            "actions changes-since garbage",
            Method::GET,
            &format!("/servers/{server}/os-instance-actions?changes-since=x"),
            None,
            400,
        ),
    ]);
    for l in [big, huge, "-1", "1.5", "%00"] {
        cases.push(case(format!("keypairs limit={l}"), Method::GET, &format!("/os-keypairs?limit={l}"), None, 400));
    }
    // Host aggregates and server groups.
    let agg = |v: Value| json_body(json!({ "aggregate": v }));
    let sg = |v: Value| json_body(json!({ "server_group": v }));
    let hinted = |h: Value| {
        json_body(
            json!({"server": {"name": "h", "flavorRef": flavor, "imageRef": IMAGE, "networks": "none"}, "os:scheduler_hints": h}),
        )
    };
    let action = |v: Value| json_body(v);
    cases.extend([
        case("aggregate %00", Method::GET, "/os-aggregates/%00", None, 404),
        case("aggregate %FF", Method::DELETE, "/os-aggregates/%FF", None, 404),
        case(format!("aggregate {big}"), Method::GET, &format!("/os-aggregates/{big}"), None, 400),
        case("aggregate unknown", Method::GET, "/os-aggregates/12345", None, 404),
        case("aggregate name NUL", Method::POST, "/os-aggregates", agg(json!({"name": "a\u{0}"})), 400),
        case("aggregate name number", Method::POST, "/os-aggregates", agg(json!({"name": 5})), 400),
        case("aggregate name 256", Method::POST, "/os-aggregates", agg(json!({"name": "n".repeat(256)})), 400),
        case("aggregate zone colon", Method::POST, "/os-aggregates", agg(json!({"name": "z", "availability_zone": "a:b"})), 400),
        case("aggregate zone NUL", Method::POST, "/os-aggregates", agg(json!({"name": "z", "availability_zone": "a\u{0}"})), 400),
        case("aggregate extra key", Method::POST, "/os-aggregates", agg(json!({"name": "z", "hosts": []})), 400),
        case("aggregate body array", Method::POST, "/os-aggregates", json_body(json!([1])), 400),
        case("aggregate 10,000-deep JSON", Method::POST, "/os-aggregates", Some(deep(10_000)), 400),
        case("aggregate update empty", Method::PUT, "/os-aggregates/1", agg(json!({})), 400),
        case("aggregate action unknown", Method::POST, "/os-aggregates/1/action", action(json!({"explode": {}})), 400),
        case("aggregate add host NUL", Method::POST, "/os-aggregates/1/action", action(json!({"add_host": {"host": "h\u{0}"}})), 400),
        case("aggregate add host slash", Method::POST, "/os-aggregates/1/action", action(json!({"add_host": {"host": "a/b"}})), 400),
        case("aggregate add host number", Method::POST, "/os-aggregates/1/action", action(json!({"add_host": {"host": 7}})), 400),
        case("aggregate metadata list", Method::POST, "/os-aggregates/1/action", action(json!({"set_metadata": {"metadata": ["a"]}})), 400),
        case("aggregate metadata number", Method::POST, "/os-aggregates/1/action", action(json!({"set_metadata": {"metadata": {"a": 1}}})), 400),
        case("aggregate metadata key", Method::POST, "/os-aggregates/1/action", action(json!({"set_metadata": {"metadata": {"a/b": "1"}}})), 400),
        case("server group %00", Method::GET, "/os-server-groups/%00", None, 404),
        case("server group %FF", Method::DELETE, "/os-server-groups/%FF", None, 404),
        case("server group unknown", Method::GET, "/os-server-groups/5a4f0c4e-8d7b-4f3e-9a51-0c1d2e3f4a5b", None, 404),
        case("server group name NUL", Method::POST, "/os-server-groups", sg(json!({"name": "a\u{0}", "policy": "affinity"})), 400),
        case("server group policy", Method::POST, "/os-server-groups", sg(json!({"name": "a", "policy": "spread"})), 400),
        case("server group policy number", Method::POST, "/os-server-groups", sg(json!({"name": "a", "policy": 1})), 400),
        case(
            format!("server group max_server_per_host {big}"),
            Method::POST,
            "/os-server-groups",
            Some(
                format!(r#"{{"server_group": {{"name": "a", "policy": "anti-affinity", "rules": {{"max_server_per_host": {big}}}}}}}"#)
                    .into_bytes(),
            ),
            400,
        ),
        case("server group rules list", Method::POST, "/os-server-groups", sg(json!({"name": "a", "policy": "anti-affinity", "rules": []})), 400),
        case("server group limit", Method::GET, &format!("/os-server-groups?limit={huge}"), None, 400),
        case("server group offset", Method::GET, "/os-server-groups?offset=-1", None, 400),
        case("server hint group NUL", Method::POST, "/servers", hinted(json!({"group": "a\u{0}"})), 400),
        case("server hint same_host number", Method::POST, "/servers", hinted(json!({"same_host": 1})), 400),
        case("server hints not an object", Method::POST, "/servers", hinted(json!([1])), 400),
    ]);
    // os-hosts (until 2.42) and the hypervisor routes of patterns.
    let v21 = |c: Case| with_header(c, "openstack-api-version", b"compute 2.1");
    cases.extend([
        v21(case("host %00", Method::GET, "/os-hosts/%00", None, 404)),
        v21(case("host %FF", Method::GET, "/os-hosts/%FF/reboot", None, 404)),
        v21(case("host status NUL", Method::PUT, "/os-hosts/h1", json_body(json!({"status": "enable\u{0}"})), 400)),
        v21(case("host status number", Method::PUT, "/os-hosts/h1", json_body(json!({"status": 1})), 400)),
        v21(case("host body list", Method::PUT, "/os-hosts/h1", json_body(json!(["status"])), 400)),
        v21(case("hypervisor search %00", Method::GET, "/os-hypervisors/%00/search", None, 404)),
        v21(case("hypervisor servers %FF", Method::GET, "/os-hypervisors/%FF/servers", None, 404)),
        v21(case(format!("hypervisor uptime {big}"), Method::GET, &format!("/os-hypervisors/{big}/uptime"), None, 404)),
        with_header(
            case("hypervisor uptime not a uuid", Method::GET, "/os-hypervisors/abc/uptime", None, 400),
            "openstack-api-version",
            b"compute 2.87",
        ),
        case("hypervisors with_servers garbage", Method::GET, "/os-hypervisors?with_servers=%FF", None, 400),
    ]);
    // Usage, quota classes, extensions, audit log.
    cases.extend([
        case("usage start NUL", Method::GET, "/os-simple-tenant-usage?start=2024%00", None, 400),
        case("usage end %FF", Method::GET, "/os-simple-tenant-usage?end=%FF", None, 400),
        case(format!("usage limit {huge}"), Method::GET, &format!("/os-simple-tenant-usage?limit={huge}"), None, 400),
        case("usage marker unknown", Method::GET, "/os-simple-tenant-usage/proj?marker=x", None, 400),
        case(
            "quota class %FF",
            Method::PUT,
            "/os-quota-class-sets/%FF",
            json_body(json!({"quota_class_set": {"cores": 1}})),
            404,
        ),
        case(
            format!("quota class cores {big}"),
            Method::PUT,
            "/os-quota-class-sets/default",
            Some(format!(r#"{{"quota_class_set": {{"cores": {big}}}}}"#).into_bytes()),
            400,
        ),
        case(
            "quota class NUL",
            Method::PUT,
            "/os-quota-class-sets/default",
            json_body(json!({"quota_class_set": {"cores": "1\u{0}"}})),
            400,
        ),
        case("quota class name 256", Method::GET, &format!("/os-quota-class-sets/{}", "c".repeat(256)), None, 400),
        case("extension %00", Method::GET, "/extensions/%00", None, 404),
        case("audit log %00", Method::GET, "/os-instance_usage_audit_log/%00", None, 404),
        case("audit log garbage", Method::GET, "/os-instance_usage_audit_log/2024-13-45%2099:99:99", None, 400),
    ]);
    // The image proxy (until 2.35) refuses bad bodies before asking the
    // image API.
    let v235 = |c: Case| with_header(c, "openstack-api-version", b"compute 2.35");
    cases.extend([
        v235(case(
            "image metadata not JSON",
            Method::POST,
            &format!("/images/{IMAGE}/metadata"),
            Some(b"{x".to_vec()),
            400,
        )),
        v235(case(
            "image metadata NUL",
            Method::PUT,
            &format!("/images/{IMAGE}/metadata"),
            json_body(json!({"metadata": {"k": "\u{0}"}})),
            400,
        )),
        v235(case(
            "image metadata number",
            Method::POST,
            &format!("/images/{IMAGE}/metadata"),
            json_body(json!({"metadata": {"k": 1}})),
            400,
        )),
        v235(case(
            "image meta two items",
            Method::PUT,
            &format!("/images/{IMAGE}/metadata/k"),
            json_body(json!({"meta": {"k": "1", "j": "2"}})),
            400,
        )),
        v235(case(
            "image meta list",
            Method::PUT,
            &format!("/images/{IMAGE}/metadata/k"),
            json_body(json!({"meta": ["k"]})),
            400,
        )),
        case("images gone at 2.36", Method::GET, "/images", None, 404),
        v235(case("image limit", Method::GET, "/images?limit=-1", None, 400)),
    ]);
    // Unauthenticated: Keystone's 401 (checked separately below).
    let total = cases.len();
    for c in cases {
        let headers: Vec<(&str, &[u8])> = c.headers.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        let (status, h, body) = env.exchange(c.method.clone(), &c.uri, c.body, &headers).await;
        let text = String::from_utf8_lossy(&body);
        let what = &c.what;
        assert_eq!(
            status.as_u16(),
            c.want,
            "{what}: {} {}: {text}",
            c.method,
            c.uri.chars().take(200).collect::<String>()
        );
        assert!(h.contains_key("x-openstack-request-id"), "{what}: no x-openstack-request-id");
        assert!(h.contains_key("x-compute-request-id"), "{what}: no x-compute-request-id");
        let v: Value =
            serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {text}"));
        let name = fault_name(c.want);
        assert_eq!(v[name]["code"], json!(c.want), "{what}: not Nova's {name} body: {text}");
        assert!(v[name]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: no message: {text}");
        let lower = text.to_ascii_lowercase();
        for leak in ["sqlx", "sqlstate", "database", "syntax error", "constraint"] {
            assert!(!lower.contains(leak), "{what}: database text ({leak}) in {text}");
        }
    }
    assert!(total > 100, "the table shrank: {total} cases");
    // Without a token: Keystone's 401, also for hostile paths.
    for uri in ["/compute/v2.1/servers", "/compute/v2.1/flavors/%00", "/compute/v2.1/servers?changes-since=%C3%A9"] {
        let (status, h, body) = env.exchange(Method::GET, uri, Vec::new(), &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(h.contains_key("x-openstack-request-id"), "{uri}");
        assert!(h.contains_key("www-authenticate"), "{uri}");
        let v: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(v["error"]["code"], 401, "{uri}: {v}");
    }
    // Nothing hostile was stored: the victim is unchanged, no stray flavor.
    let (s, v) = env.server(&server).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["name"], "victim");
    assert_eq!(v["metadata"], json!({}));
    assert_eq!(flavor_count(&env).await, flavors_before);
    let (_, v) = env.req(Method::GET, "/os-keypairs", None).await;
    assert_eq!(v, json!({"keypairs": []}), "no hostile key pair was stored");
}
both_backends!(hostile_inputs);

async fn flavor_count(env: &Env) -> usize {
    let (s, v) = env.req(Method::GET, "/flavors/detail?is_public=none", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["flavors"].as_array().map(Vec::len).expect("a flavor list")
}

/// Valid but unusual text still round-trips on both engines (the NUL rule
/// refuses only NUL).
async fn unusual_text_round_trips(backend: Backend) {
    let env = Env::new(backend).await;
    let flavor = env.create_flavor("small", 1, 256, 1).await;
    let server = env.create_server("s", &flavor).await;
    for value in ["\u{1F600}\u{10FFFF}", "\u{202E}bidi", "tab\there", "\u{FFFE}"] {
        let (s, v) =
            env.req(Method::PUT, &format!("/servers/{server}/metadata/k"), Some(json!({"meta": {"k": value}}))).await;
        assert_eq!(s, StatusCode::OK, "{value:?}: {v}");
        let (_, v) = env.req(Method::GET, &format!("/servers/{server}/metadata/k"), None).await;
        assert_eq!(v["meta"]["k"], value, "{value:?}");
    }
}
both_backends!(unusual_text_round_trips);

/// Ordinary answers carry the negotiated version (new and legacy headers),
/// `Vary`, and both request-id headers with the same value; version
/// documents need no token and no version.
async fn version_and_request_id_headers(backend: Backend) {
    let env = Env::new(backend).await;
    for (header, value, want) in [
        ("openstack-api-version", "compute 2.60", "2.60"),
        ("x-openstack-nova-api-version", "2.53", "2.53"),
        ("openstack-api-version", "compute latest", "2.96"),
        ("openstack-api-version", "placement 1.10", "2.1"),
    ] {
        let (s, h, body) = env
            .exchange(
                Method::GET,
                "/compute/v2.1/flavors",
                Vec::new(),
                &[("x-auth-token", TOKEN), (header, value.as_bytes())],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{header}: {value}: {}", String::from_utf8_lossy(&body));
        assert_eq!(h["openstack-api-version"], format!("compute {want}").as_str(), "{value}");
        assert_eq!(h["x-openstack-nova-api-version"], want, "{value}");
        assert_eq!(h["vary"], "OpenStack-API-Version, X-OpenStack-Nova-API-Version");
        let rid = h["x-openstack-request-id"].to_str().unwrap();
        assert!(rid.starts_with("req-"), "{rid}");
        assert_eq!(h["x-compute-request-id"], rid);
    }
    for uri in ["/compute", "/compute/v2.1", "/compute/v2.1/"] {
        let (s, h, body) =
            env.exchange(Method::GET, uri, Vec::new(), &[("openstack-api-version", b"compute 9.9")]).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {}", String::from_utf8_lossy(&body));
        assert!(h.contains_key("x-openstack-request-id"), "{uri}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v.get("version").or(v.get("versions")).is_some(), "{uri}: {v}");
    }
}
both_backends!(version_and_request_id_headers);
