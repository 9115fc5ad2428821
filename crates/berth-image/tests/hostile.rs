//! Hostile input against every image route, on SQLite and PostgreSQL: each
//! case answers its documented 4xx in Glance's error body (never a 5xx, a
//! dropped connection or a database message), or 200 where Glance accepts
//! the input (an odd but valid filter value, an unknown filter that is a
//! property filter).

mod common;

use axum::http::{Method, StatusCode};
use common::{Backend, Case, Env};
use serde_json::json;

const BIG: &str = "9223372036854775808"; // 2^63
const HUGE: &str = "18446744073709551616"; // 2^64

/// Paths no route matches.
const UNROUTED: [&str; 2] = ["/image/v2/%FF", "/image/v2/images/{id}/%00"];

fn deep(n: usize) -> Vec<u8> {
    let mut v = "[".repeat(n);
    v.push_str(&"]".repeat(n));
    v.into_bytes()
}

fn patch(ops: &str) -> Case {
    Case::new(Method::PATCH, "/image/v2/images/{id}", 400).body(common::PATCH, ops.as_bytes().to_vec())
}

fn want(mut c: Case, status: u16) -> Case {
    c.want = StatusCode::from_u16(status).unwrap();
    c
}

fn list_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // Dates and times in filters: non-ASCII, malformed, out of range.
    for q in [
        "created_at=2015-11-06%2Ba%C3%A9b",
        "updated_at=2015-11-06%2Ba%C3%A9b",
        "created_at=gte:2015-11-06T10:00:00.%C3%A9%C3%A9",
        "updated_at=lt:2015-11-06T10:%C3%A9",
        "created_at=%C3%A9%C3%A9%C3%A9%C3%A9-11-06",
        "created_at=lt:%FF",
        "created_at=%00",
        "created_at=2015-11-06T10:00:00Z%00",
        "created_at=2015-02-30",
        "created_at=2015-11-06T25:00:00Z",
        "created_at=2015-11-06T10:00:00%2B99:00",
        "created_at=99999-01-01",
        "created_at=gte:",
        "created_at=in:2015-11-06",
        "created_at=between:2015-11-06",
        "updated_at=yesterday",
    ] {
        cases.push(Case::get(format!("/image/v2/images?{q}"), 400));
    }
    // NUL anywhere in a filter: 400.
    for q in [
        "name=a%00b",
        "name=in:a,b%00",
        "id=%00",
        "status=%00",
        "owner=%00",
        "checksum=%00",
        "os_hash_value=%00",
        "os_distro=a%00",
        "tag=%00",
        "%00=1",
        "a%00b=1",
        "visibility=%00",
        "member_status=%00",
        "os_hidden=%00",
        "protected=%00",
        "size_min=%00",
        "marker=%00",
        "sort_key=%00",
        "sort_dir=%00",
        "sort=%00",
        "sort=name:%00",
        "limit=%00",
    ] {
        cases.push(Case::get(format!("/image/v2/images?{q}"), 400));
    }
    // Integers of 2^63 and more, and other bad numbers.
    for q in [
        format!("size_min={BIG}"),
        format!("size_max={HUGE}"),
        format!("size_min=-{HUGE}"),
        format!("min_disk={BIG}"),
        format!("min_ram={HUGE}"),
        format!("virtual_size={BIG}"),
        "min_disk=big".to_string(),
        "size_max=1.5".to_string(),
        format!("limit={BIG}"),
        format!("limit={HUGE}"),
        format!("limit=-{BIG}"),
        "limit=-1".to_string(),
        "limit=1.5".to_string(),
        "limit=".to_string(),
        "limit=%C3%A9".to_string(),
        "limit=%FF".to_string(),
        "limit=1&limit=x".to_string(),
    ] {
        cases.push(Case::get(format!("/image/v2/images?{q}"), 400));
    }
    // Bad markers and sorting.
    for q in [
        "marker=not-a-uuid",
        "marker=%FF",
        "marker=%C3%A9",
        "marker=00000000-0000-0000-0000-000000000000",
        "sort_key=%C3%A9",
        "sort_key=",
        "sort_key=name&sort_key=pony",
        "sort_dir=sideways",
        "sort_dir=%C3%A9",
        "sort_dir=asc&sort_dir=desc",
        "sort_key=name&sort_dir=asc&sort_dir=desc",
        "sort=",
        "sort=name:%C3%A9",
        "sort=%FF",
        "sort=name&sort_key=name",
        "visibility=public&visibility=bogus",
        "member_status=maybe",
        "os_hidden=%C3%A9",
        "name=in:%22a",
        "name=gt:a",
        "changes-since=2015-11-06",
    ] {
        cases.push(Case::get(format!("/image/v2/images?{q}"), 400));
    }
    // Accepted as Glance accepts them: unknown parameters are property
    // filters, duplicates take the last value, undecodable bytes are
    // replacement characters.
    for q in [
        "pony=1",
        "%FF=1",
        "name=%FF",
        "name=%C3%A9",
        "limit=x&limit=1",
        "visibility=bogus&visibility=public",
        "created_at=2015-11-06&created_at=gte:2015-11-06T00:00:00Z",
        "size_min=0&size_max=9223372036854775807",
        "sort_key=name&sort_dir=asc",
        "name=%ED%A0%80",
        "os_distro=%ED%B0%80x",
        "name=%",
        "name=%ZZ",
        "%=1",
        "&&&",
        "=",
        "name",
    ] {
        cases.push(Case::get(format!("/image/v2/images?{q}"), 200));
    }
    cases
}

fn path_cases() -> Vec<Case> {
    use Method as M;
    let status = br#"{"status": "accepted"}"#.to_vec();
    vec![
        // NUL in a path names nothing: 404.
        Case::get("/image/v2/images/%00", 404),
        Case::get("/image/v2/images/a%00b", 404),
        Case::get("/image/v2/images/%00/file", 404),
        Case::new(M::DELETE, "/image/v2/images/%00", 404),
        want(patch(r#"[{"op": "replace", "path": "/name", "value": "x"}]"#), 404).path_to("/image/v2/images/%00"),
        Case::new(M::PUT, "/image/v2/images/%00/file", 404).body("application/octet-stream", b"x".to_vec()),
        Case::new(M::POST, "/image/v2/images/%00/actions/deactivate", 404),
        Case::new(M::POST, "/image/v2/images/%00/actions/reactivate", 404),
        Case::new(M::PUT, "/image/v2/images/%00/tags/t", 404),
        Case::new(M::DELETE, "/image/v2/images/%00/tags/t", 404),
        Case::get("/image/v2/images/%00/members", 404),
        Case::new(M::POST, "/image/v2/images/%00/members", 404).json(br#"{"member": "pc"}"#.to_vec()),
        Case::get("/image/v2/images/%00/members/pb", 404),
        Case::get("/image/v2/images/{id}/members/%00", 404),
        Case::get("/image/v2/images/{id}/members/pb%00", 404),
        Case::new(M::PUT, "/image/v2/images/{id}/members/%00", 404).json(status.clone()),
        Case::new(M::DELETE, "/image/v2/images/{id}/members/%00", 404),
        Case::new(M::DELETE, "/image/v2/images/{id}/tags/a%00b", 404),
        Case::new(M::PUT, "/image/v2/images/{id}/tags/a%00b", 404),
        // Bytes that are not UTF-8 in a path name nothing either: the edge
        // answers 404 before any route (berth-http's documented order).
        Case::get("/image/v2/images/%FF", 404),
        Case::get("/image/v2/images/%FF/file", 404),
        Case::new(M::DELETE, "/image/v2/images/%FF", 404),
        Case::new(M::PUT, "/image/v2/images/{id}/tags/%FF", 404),
        Case::new(M::DELETE, "/image/v2/images/{id}/tags/%FF", 404),
        Case::get("/image/v2/images/{id}/members/%FF", 404),
        // A lone surrogate encoded as UTF-8 bytes is not UTF-8 either.
        Case::get("/image/v2/images/%ED%A0%80", 404),
        Case::new(M::PUT, "/image/v2/images/{id}/tags/%ED%A0%80", 404),
        // Non-ASCII that is valid UTF-8 is just an unknown id.
        Case::get("/image/v2/images/%C3%A9", 404),
        Case::get("/image/v2/images/{id}/members/%C3%A9", 404),
        Case::new(M::DELETE, "/image/v2/images/{id}/tags/%C3%A9", 404),
        Case::get(UNROUTED[0], 404),
        Case::get(UNROUTED[1], 404),
        // Staging and importing name no image.
        Case::new(M::PUT, "/image/v2/images/%00/stage", 404).body("application/octet-stream", b"x".to_vec()),
        Case::new(M::PUT, "/image/v2/images/%FF/stage", 404).body("application/octet-stream", b"x".to_vec()),
        Case::new(M::POST, "/image/v2/images/%00/import", 404)
            .json(br#"{"method": {"name": "glance-direct"}}"#.to_vec()),
        Case::new(M::POST, "/image/v2/images/%C3%A9/import", 404)
            .json(br#"{"method": {"name": "glance-direct"}}"#.to_vec()),
        Case::get("/image/v2/images/%00/tasks", 404),
        Case::get("/image/v2/images/%C3%A9/tasks", 404),
    ]
}

trait PathTo {
    fn path_to(self, path: &str) -> Case;
}
impl PathTo for Case {
    fn path_to(mut self, path: &str) -> Case {
        self.path = path.to_string();
        self
    }
}

fn body_cases() -> Vec<Case> {
    use Method as M;
    let create = |body: Vec<u8>, status: u16| Case::new(M::POST, "/image/v2/images", status).json(body);
    let member = |body: Vec<u8>, status: u16| Case::new(M::POST, "/image/v2/images/{id}/members", status).json(body);
    let member_status =
        |body: Vec<u8>, status: u16| Case::new(M::PUT, "/image/v2/images/{id}/members/pb", status).json(body);
    let ten_mb = "x".repeat(10 << 20);
    let one_mb = "x".repeat(1 << 20);
    let mut cases = vec![
        // NUL inside JSON strings.
        create(br#"{"name": "a\u0000b"}"#.to_vec(), 400),
        create(br#"{"os_distro": "a\u0000b"}"#.to_vec(), 400),
        create(br#"{"a\u0000b": "x"}"#.to_vec(), 400),
        create(br#"{"tags": ["a\u0000b"]}"#.to_vec(), 400),
        create(br#"{"disk_format": "raw\u0000"}"#.to_vec(), 400),
        create(br#"{"id": "0b5c7b4e-6c6f-4f5e-9a34-1d2e3f4a5b6\u0000"}"#.to_vec(), 400),
        member(br#"{"member": "p\u0000"}"#.to_vec(), 400),
        member(br#"{"member": "\u0000"}"#.to_vec(), 400),
        member_status(br#"{"status": "accepted\u0000"}"#.to_vec(), 400),
        want(patch(r#"[{"op": "replace", "path": "/name", "value": "a\u0000b"}]"#), 400),
        want(patch(r#"[{"op": "add", "path": "/os_distro", "value": "a\u0000b"}]"#), 400),
        want(patch(r#"[{"op": "add", "path": "/a\u0000b", "value": "x"}]"#), 400),
        want(patch(r#"[{"op": "add", "path": "/tags/-", "value": "a\u0000b"}]"#), 400),
        want(patch(r#"[{"op": "replace", "path": "/tags", "value": ["\u0000"]}]"#), 400),
        want(patch(r#"[{"op": "remove", "path": "/a\u0000b"}]"#), 409),
        want(patch(r#"[{"op": "replace\u0000", "path": "/name", "value": "x"}]"#), 400),
        // Integers of 2^63 and more.
        create(format!(r#"{{"min_disk": {BIG}}}"#).into_bytes(), 400),
        create(format!(r#"{{"min_ram": {HUGE}}}"#).into_bytes(), 400),
        create(format!(r#"{{"min_disk": -{BIG}}}"#).into_bytes(), 400),
        create(br#"{"min_ram": 1e400}"#.to_vec(), 400),
        create(br#"{"min_disk": 2147483648}"#.to_vec(), 400),
        want(patch(&format!(r#"[{{"op": "replace", "path": "/min_ram", "value": {BIG}}}]"#)), 400),
        want(patch(&format!(r#"[{{"op": "replace", "path": "/tags/{HUGE}", "value": "t"}}]"#)), 409),
        Case::new(M::PUT, "/image/v2/images/{id}/file", 400)
            .body("application/octet-stream", b"x".to_vec())
            .header("x-openstack-image-size", HUGE),
        Case::new(M::PUT, "/image/v2/images/{id}/file", 413)
            .body("application/octet-stream", b"x".to_vec())
            .header("x-openstack-image-size", BIG),
        Case::new(M::PUT, "/image/v2/images/{id}/file", 400)
            .body("application/octet-stream", b"x".to_vec())
            .header("x-openstack-image-size", "-1"),
        Case::new(M::PUT, "/image/v2/images/{id}/file", 413)
            .body("application/octet-stream", b"x".to_vec())
            .header("content-length", BIG),
        // Deeply nested JSON.
        create(deep(10_000), 400),
        member(deep(10_000), 400),
        member_status(deep(10_000), 400),
        want(patch("").body(common::PATCH, deep(10_000)), 400),
        create(format!(r#"{{"name": {}}}"#, String::from_utf8(deep(100)).unwrap()).into_bytes(), 400),
        // Lone surrogates.
        create(br#"{"name": "\ud800"}"#.to_vec(), 400),
        create(br#"{"name": "\udc00x"}"#.to_vec(), 400),
        create(br#"{"\ud800": "x"}"#.to_vec(), 400),
        member(br#"{"member": "\ud800"}"#.to_vec(), 400),
        want(patch(r#"[{"op": "replace", "path": "/name", "value": "\ud800"}]"#), 400),
        // Invalid UTF-8 in a JSON body.
        create(b"{\"name\": \"\xff\"}".to_vec(), 400),
        // Huge strings: 10 MB is over the body limit (413); 1 MB is a 400
        // whose message does not echo the value.
        create(format!(r#"{{"name": "{ten_mb}"}}"#).into_bytes(), 413),
        create(format!(r#"{{"name": "{one_mb}"}}"#).into_bytes(), 400),
        create(format!(r#"{{"os_distro": "{one_mb}"}}"#).into_bytes(), 400),
        create(format!(r#"{{"{one_mb}": "x"}}"#).into_bytes(), 400),
        create(format!(r#"{{"tags": ["{one_mb}"]}}"#).into_bytes(), 400),
        member(format!(r#"{{"member": "{one_mb}"}}"#).into_bytes(), 400),
        want(patch(&format!(r#"[{{"op": "replace", "path": "/name", "value": "{one_mb}"}}]"#)), 400),
        want(patch(&format!(r#"[{{"op": "add", "path": "/{one_mb}", "value": "x"}}]"#)), 400),
        Case::new(M::PUT, format!("/image/v2/images/{{id}}/tags/{}", "t".repeat(60_000)), 400),
        // Wrong content types.
        want(patch(r#"[{"op": "replace", "path": "/name", "value": "x"}]"#), 415).header_replace("application/json"),
        want(patch(r#"[{"op": "replace", "path": "/name", "value": "x"}]"#), 415)
            .header_replace("application/json-patch+json"),
        want(patch(r#"{"name": "x"}"#), 415).header_replace("application/merge-patch+json"),
        want(patch(r#"[{"op": "replace", "path": "/name", "value": "x"}]"#), 415).header_replace("text/plain"),
        want(patch(r#"[{"op": "replace", "path": "/name", "value": "x"}]"#), 415)
            .header_replace("application/openstack-images-v2.9-json-patch"),
        Case::new(M::PATCH, "/image/v2/images/{id}", 415),
        want(patch(r#"[{"replace": "/name", "value": "x"}]"#), 400),
        want(patch(r#"{"op": "replace", "path": "/name", "value": "x"}"#), 400),
        Case::new(M::PUT, "/image/v2/images/{id}/file", 415).json(b"{}".to_vec()),
        Case::new(M::PUT, "/image/v2/images/{id}/file", 415).body("text/plain", b"x".to_vec()),
        Case::new(M::PUT, "/image/v2/images/{id}/file", 415),
        Case::new(M::POST, "/image/v2/images", 400).body("application/xml", b"<image/>".to_vec()),
        Case::new(M::POST, "/image/v2/images", 400).body("text/plain", b"name=x".to_vec()),
        Case::new(M::POST, "/image/v2/images", 400),
        Case::new(M::POST, "/image/v2/images/{id}/members", 400),
        Case::new(M::PUT, "/image/v2/images/{id}/members/pb", 400),
    ];
    // Import requests: malformed, hostile or naming what berth lacks. The
    // target image is queued (not staged): a valid request answers 409.
    let import = |body: Vec<u8>, status: u16| Case::new(M::POST, "/image/v2/images/{id}/import", status).json(body);
    cases.extend([
        import(deep(10_000), 400),
        import(br#"{"method": {"name": "glance-direct\u0000"}}"#.to_vec(), 400),
        import(br#"{"method": {"name": "\ud800"}}"#.to_vec(), 400),
        import(br#"{"method": {"name": 12}}"#.to_vec(), 400),
        import(br#"{"method": {"name": ["glance-direct"]}}"#.to_vec(), 400),
        import(br#"{"method": "glance-direct"}"#.to_vec(), 400),
        import(format!(r#"{{"method": {{"name": "{one_mb}"}}}}"#).into_bytes(), 400),
        import(br#"{"method": {"name": "web-download", "uri": "file:///etc/passwd"}}"#.to_vec(), 400),
        import(br#"{"method": {"name": "glance-direct"}, "all_stores": null}"#.to_vec(), 400),
        import(br#"{"method": {"name": "glance-direct"}}"#.to_vec(), 409),
        import(br#"{"method": {"name": "glance-direct"}, "stores": ["a\u0000"]}"#.to_vec(), 409),
        Case::new(M::POST, "/image/v2/images/{id}/import", 400),
        Case::new(M::POST, "/image/v2/images/{id}/import", 400).body("text/plain", b"method=glance-direct".to_vec()),
        // Staging: the upload's header checks, before the image changes.
        Case::new(M::PUT, "/image/v2/images/{id}/stage", 415).json(b"{}".to_vec()),
        Case::new(M::PUT, "/image/v2/images/{id}/stage", 415),
        Case::new(M::PUT, "/image/v2/images/{id}/stage", 400)
            .body("application/octet-stream", b"x".to_vec())
            .header("x-openstack-image-size", HUGE),
        Case::new(M::PUT, "/image/v2/images/{id}/stage", 413)
            .body("application/octet-stream", b"x".to_vec())
            .header("x-openstack-image-size", BIG),
        Case::new(M::PUT, "/image/v2/images/{id}/stage", 413)
            .body("application/octet-stream", b"x".to_vec())
            .header("content-length", BIG),
    ]);
    for body in [&b"[]"[..], b"\"x\"", b"null", b"1", b"true"] {
        cases.push(import(body.to_vec(), 400));
    }
    // A JSON body that is not an object where one is expected.
    for body in [&b"[]"[..], b"\"x\"", b"null", b"1", b"true"] {
        cases.push(create(body.to_vec(), 400));
        cases.push(member(body.to_vec(), 400));
        cases.push(member_status(body.to_vec(), 400));
    }
    cases
}

trait HeaderReplace {
    fn header_replace(self, content_type: &str) -> Case;
}
impl HeaderReplace for Case {
    fn header_replace(mut self, content_type: &str) -> Case {
        self.headers.retain(|(k, _)| *k != "content-type");
        self.header("content-type", content_type)
    }
}

async fn hostile_inputs(backend: Backend) {
    let env = Env::new(backend).await;
    let img = env
        .create(
            &env.alice,
            json!({"name": "target", "disk_format": "raw", "container_format": "bare", "visibility": "shared", "tags": ["t"]}),
        )
        .await;
    let id = img["id"].as_str().unwrap().to_string();
    let (s, v) = env.post(&format!("/image/v2/images/{id}/members"), &env.alice, json!({"member": "pb"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let mut cases = list_cases();
    cases.extend(path_cases());
    cases.extend(body_cases());
    let total = cases.len();
    // As the image owner's member, then as an administrator (who sees every
    // image and lists without a project scope): the same answers.
    for who in [&env.alice, &env.admin] {
        let failures = env.check_cases(who, &id, &cases).await;
        assert!(
            failures.is_empty(),
            "as {}: {} of {total} cases failed:\n{}",
            who.token,
            failures.len(),
            failures.join("\n")
        );
    }
    assert!(total >= 150, "{total} cases");
    // Without a token, authentication comes first: 401 for every case
    // (unknown paths, NUL or non-UTF-8 paths included), but one: a declared
    // Content-Length over the body limit answers 413 before authentication,
    // as berth-http's edge documents (the body limit is stage 5, before
    // authentication at stage 6), so an unauthenticated client cannot make
    // the service read a body it will refuse.
    let before_auth = |c: &Case| c.body.len() > image_body_limit();
    let (early, routed): (Vec<Case>, Vec<Case>) = cases.into_iter().partition(before_auth);
    assert_eq!(early.len(), 1);
    let failures = env.check_cases_as_nobody(&id, &early, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(failures.is_empty(), "unauthenticated, over the limit:\n{}", failures.join("\n"));
    let failures = env.check_cases_unauthenticated(&id, &routed).await;
    assert!(
        failures.is_empty(),
        "unauthenticated: {} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Nothing was written by the refused requests: the image is unchanged
    // and the only one.
    let (s, after) = env.show(&id, &env.alice).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(after, img, "a refused request changed the image");
    assert_eq!(env.names("?visibility=all", &env.admin).await, vec!["target"]);
    let (_, members) = env.get(&format!("/image/v2/images/{id}/members"), &env.alice).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 1, "{members}");

    // Unusual but valid text (4-byte characters, a right-to-left override,
    // a noncharacter, control characters other than NUL, 255 characters of
    // 4 bytes each) is stored and returned unchanged on both engines.
    let long = "\u{1F600}".repeat(255);
    let odd = json!({
        "name": long,
        "os_distro": "\u{e9}\u{1F600}\u{202e}\u{FFFF}\u{1}\t\n\u{7f}",
        "\u{1F600}key": "x".repeat(65_535),
        "tags": ["\u{1F600}", "\u{202e}t", "\u{1}"],
    });
    let created = env.create(&env.alice, odd.clone()).await;
    let odd_id = created["id"].as_str().unwrap().to_string();
    let (_, shown) = env.show(&odd_id, &env.alice).await;
    for key in ["name", "os_distro", "\u{1F600}key"] {
        assert_eq!(shown[key], odd[key], "{key}");
    }
    // Tags come back in byte order on both engines, whatever the collation.
    let mut tags: Vec<String> =
        odd["tags"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
    tags.sort();
    assert_eq!(shown["tags"], json!(tags));
    let (s, v) =
        env.post(&format!("/image/v2/images/{odd_id}/members"), &env.alice, json!({"member": "p\u{1F600}"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let path = format!("/image/v2/images/{odd_id}/members/p%F0%9F%98%80");
    let (s, v) = env.get(&path, &env.alice).await;
    assert_eq!((s, v["member_id"].clone()), (StatusCode::OK, json!("p\u{1F600}")));
    assert_eq!(env.names("?os_distro=%C3%A9%F0%9F%98%80%E2%80%AE%EF%BF%BF%01%09%0A%7F", &env.alice).await.len(), 1);
}
both_engines!(hostile_inputs);

/// The task routes (an administrator's: others are refused by
/// `tasks_api_access` before any input is read).
async fn hostile_task_queries(backend: Backend) {
    let env = Env::new(backend).await;
    let mut cases = Vec::new();
    for q in ["status=%00", "status=bogus", "type=%00", "type=import%00", "limit=-1", "limit=x", "marker=%00"] {
        cases.push(Case::get(format!("/image/v2/tasks?{q}"), 400));
    }
    cases.push(Case::get(format!("/image/v2/tasks?limit={BIG}"), 400));
    cases.push(Case::get(format!("/image/v2/tasks?limit={HUGE}"), 400));
    cases.push(Case::get("/image/v2/tasks?pony=1&status=success", 200));
    for p in ["%00", "%C3%A9", "not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        cases.push(Case::get(format!("/image/v2/tasks/{p}"), 404));
    }
    cases.push(Case::get("/image/v2/tasks/%FF", 404));
    let failures = env.check_cases(&env.admin, "", &cases).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for c in &mut cases {
        // Paths that are not text answer 404 at the edge, before any route.
        if !["/image/v2/tasks/%FF", "/image/v2/tasks/%00"].contains(&c.path.as_str()) {
            c.want = StatusCode::FORBIDDEN;
        }
    }
    let failures = env.check_cases(&env.alice, "", &cases).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
both_engines!(hostile_task_queries);

fn image_body_limit() -> usize {
    berth_image::MAX_BODY
}

/// Hostile input against the metadata definitions routes, as an
/// administrator (who may write): every case a 4xx in Glance's body, and
/// the namespace unchanged afterwards.
async fn hostile_metadefs(backend: Backend) {
    use Method as M;
    let env = Env::new(backend).await;
    let (s, v) = env
        .post(
            "/image/v2/metadefs/namespaces",
            &env.admin,
            json!({"namespace": "target", "visibility": "public", "objects": [{"name": "o"}],
                   "properties": {"p": {"title": "P", "type": "string"}}, "tags": [{"name": "t"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ns = "/image/v2/metadefs/namespaces";
    let one_mb = "x".repeat(1 << 20);
    let post = |path: String, body: Vec<u8>, status: u16| Case::new(M::POST, path, status).json(body);
    let put = |path: String, body: Vec<u8>, status: u16| Case::new(M::PUT, path, status).json(body);
    let mut cases = vec![
        post(ns.into(), br#"{"namespace": "a\u0000b"}"#.to_vec(), 400),
        post(ns.into(), br#"{"namespace": "\ud800"}"#.to_vec(), 400),
        post(ns.into(), br#"{"namespace": "n", "description": "\u0000"}"#.to_vec(), 400),
        post(ns.into(), br#"{"namespace": "n", "tags": [{"name": "a\u0000"}]}"#.to_vec(), 400),
        post(ns.into(), format!(r#"{{"namespace": "{one_mb}"}}"#).into_bytes(), 400),
        post(ns.into(), br#"{"namespace": "n", "protected": "yes"}"#.to_vec(), 400),
        post(ns.into(), br#"{"namespace": "n", "visibility": "shared"}"#.to_vec(), 400),
        post(ns.into(), br#"{"namespace": 12}"#.to_vec(), 400),
        post(ns.into(), br#"{"namespace": "n", "created_at": "x"}"#.to_vec(), 403),
        post(ns.into(), br#"{"namespace": "n", "objects": "o"}"#.to_vec(), 400),
        post(ns.into(), br#"{"namespace": "n", "objects": [{"name": 1}]}"#.to_vec(), 400),
        post(ns.into(), br#"{"namespace": "n", "properties": {"p": {"title": "P"}}}"#.to_vec(), 400),
        post(ns.into(), br#"{"namespace": "n", "properties": []}"#.to_vec(), 400),
        post(ns.into(), br#"{"namespace": "n", "resource_type_associations": [{}]}"#.to_vec(), 400),
        post(ns.into(), br#"{"namespace": "n", "pony": 1}"#.to_vec(), 400),
        post(ns.into(), deep(10_000), 400),
        post(ns.into(), b"{\"namespace\": \"\xff\"}".to_vec(), 400),
        post(ns.into(), br#"{"namespace": "target"}"#.to_vec(), 409),
        Case::new(M::POST, ns, 400),
        Case::new(M::POST, ns, 400).body("text/plain", b"namespace=x".to_vec()),
        put(format!("{ns}/target"), br#"{"namespace": "a\u0000"}"#.to_vec(), 400),
        put(format!("{ns}/target"), br#"{"display_name": "x"}"#.to_vec(), 400),
        put(format!("{ns}/target"), br#"{"namespace": "target", "self": "x"}"#.to_vec(), 403),
        put(format!("{ns}/%00"), br#"{"namespace": "x"}"#.to_vec(), 404),
        // Properties: wrong types, numbers out of range, unknown keys.
        post(
            format!("{ns}/target/properties"),
            br#"{"name": "q", "title": "Q", "type": "string", "maxLength": 9223372036854775808}"#.to_vec(),
            400,
        ),
        post(
            format!("{ns}/target/properties"),
            br#"{"name": "q", "title": "Q", "type": "string", "minLength": -1}"#.to_vec(),
            400,
        ),
        post(
            format!("{ns}/target/properties"),
            br#"{"name": "q", "title": "Q", "type": "string", "minimum": 1e400}"#.to_vec(),
            400,
        ),
        post(
            format!("{ns}/target/properties"),
            br#"{"name": "q", "title": "Q", "type": "string", "minimum": "1"}"#.to_vec(),
            400,
        ),
        post(
            format!("{ns}/target/properties"),
            br#"{"name": "q", "title": "Q", "type": "string", "items": []}"#.to_vec(),
            400,
        ),
        post(format!("{ns}/target/properties"), br#"{"name": "q", "title": "Q", "type": ["string"]}"#.to_vec(), 400),
        post(
            format!("{ns}/target/properties"),
            br#"{"name": "q", "title": "Q", "type": "string", "operators": [1]}"#.to_vec(),
            400,
        ),
        post(
            format!("{ns}/target/properties"),
            format!(r#"{{"name": "{one_mb}", "title": "Q", "type": "string"}}"#).into_bytes(),
            400,
        ),
        post(format!("{ns}/target/properties"), br#"{"name": "p", "title": "P", "type": "string"}"#.to_vec(), 409),
        post(format!("{ns}/target/properties"), b"[]".to_vec(), 400),
        put(format!("{ns}/target/properties/p"), br#"{"title": "P", "type": "string"}"#.to_vec(), 400),
        // Objects.
        post(format!("{ns}/target/objects"), br#"{"name": "o"}"#.to_vec(), 409),
        post(format!("{ns}/target/objects"), br#"{"name": "o2", "required": "p"}"#.to_vec(), 400),
        post(format!("{ns}/target/objects"), br#"{"name": "o2", "required": ["p", "p"]}"#.to_vec(), 400),
        post(format!("{ns}/target/objects"), br#"{"name": "o2", "schema": "x"}"#.to_vec(), 403),
        post(format!("{ns}/target/objects"), br#"{"name": "o\u0000"}"#.to_vec(), 400),
        put(format!("{ns}/target/objects/o"), br#"{"description": "no name"}"#.to_vec(), 400),
        // Tags.
        post(format!("{ns}/target/tags"), br#"{"tags": "t"}"#.to_vec(), 400),
        post(format!("{ns}/target/tags"), br#"{"tags": [{"name": 1}]}"#.to_vec(), 400),
        post(format!("{ns}/target/tags"), br#"{"tags": [{"name": "a"}, {"name": "A"}]}"#.to_vec(), 409),
        post(format!("{ns}/target/tags"), br#"{}"#.to_vec(), 400),
        Case::new(M::POST, format!("{ns}/target/tags/{}", "t".repeat(60_000)), 400),
        Case::new(M::POST, format!("{ns}/target/tags/T"), 409),
        put(format!("{ns}/target/tags/t"), br#"{"name": null}"#.to_vec(), 400),
        // Resource-type associations.
        post(format!("{ns}/target/resource_types"), br#"{"name": "a\u0000"}"#.to_vec(), 400),
        post(format!("{ns}/target/resource_types"), br#"{"name": "x", "prefix": 1}"#.to_vec(), 400),
        post(format!("{ns}/target/resource_types"), format!(r#"{{"name": "{one_mb}"}}"#).into_bytes(), 400),
        // Names that name nothing.
        Case::get(format!("{ns}/%00"), 404),
        Case::get(format!("{ns}/%C3%A9"), 404),
        Case::get(format!("{ns}/%FF"), 404),
        Case::get(format!("{ns}/target/objects/%00"), 404),
        Case::get(format!("{ns}/target/properties/%00"), 404),
        Case::get(format!("{ns}/target/tags/%00"), 404),
        Case::get(format!("{ns}/target/tags/%C3%A9"), 404),
        Case::get(format!("{ns}/%00/objects"), 404),
        Case::new(M::DELETE, format!("{ns}/%00"), 404),
        Case::new(M::DELETE, format!("{ns}/target/objects/%00"), 404),
        Case::new(M::DELETE, format!("{ns}/target/tags/%00"), 404),
        Case::new(M::DELETE, format!("{ns}/target/resource_types/%00"), 404),
        Case::get(format!("{ns}/target/properties/p?resource_type=%00"), 404),
        Case::get("/image/v2/schemas/metadefs/%00", 404),
    ];
    for q in
        ["visibility=%00", "visibility=shared", "sort_dir=%00", "sort_key=pony", "limit=-1", "limit=x", "marker=%00"]
    {
        cases.push(Case::get(format!("{ns}?{q}"), 400));
    }
    cases.push(Case::get(format!("{ns}?limit={BIG}"), 400));
    cases.push(Case::get(format!("{ns}?marker=nope"), 404));
    cases.push(Case::get(format!("{ns}?resource_types=%C3%A9&pony=1"), 200));
    for body in [&b"[]"[..], b"\"x\"", b"null", b"1", b"true"] {
        cases.push(post(ns.into(), body.to_vec(), 400));
        cases.push(post(format!("{ns}/target/objects"), body.to_vec(), 400));
        cases.push(post(format!("{ns}/target/tags"), body.to_vec(), 400));
        cases.push(post(format!("{ns}/target/resource_types"), body.to_vec(), 400));
    }
    let (_, before) = env.get(&format!("{ns}/target"), &env.admin).await;
    let failures = env.check_cases(&env.admin, "", &cases).await;
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    let (_, after) = env.get(&format!("{ns}/target"), &env.admin).await;
    assert_eq!(before, after, "a refused request changed the namespace");
    let (_, list) = env.get(ns, &env.admin).await;
    assert_eq!(list["namespaces"].as_array().unwrap().len(), 1, "{list}");
}
both_engines!(hostile_metadefs);
