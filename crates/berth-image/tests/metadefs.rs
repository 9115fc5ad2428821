//! Metadata definitions over HTTP, on SQLite and PostgreSQL: namespaces
//! (visibility, protection, list filters, rename), objects, properties,
//! tags, resource types and associations, with Glance's statuses and
//! messages.

mod common;

use axum::http::{Method, StatusCode};
use common::{Backend, Env, Who};
use serde_json::{json, Value};

const NS: &str = "/image/v2/metadefs/namespaces";

async fn put(env: &Env, path: &str, who: &Who, body: Value) -> (StatusCode, Value) {
    env.put_json(path, who, body).await
}

async fn post_empty(env: &Env, path: &str, who: &Who) -> (StatusCode, Value) {
    let r = env.raw(Method::POST, path, Some(who), &[], vec![]).await;
    (r.status, r.json())
}

fn names(v: &Value, list: &str, key: &str) -> Vec<String> {
    v[list].as_array().unwrap().iter().map(|x| x[key].as_str().unwrap().to_string()).collect()
}

async fn namespaces_crud_and_visibility(backend: Backend) {
    let env = Env::new(backend).await;
    // Only administrators write (metadef_admin).
    let (s, v) = env.post(NS, &env.alice, json!({"namespace": "Mine"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["message"], "You are not authorized to complete add_metadef_namespace action.");

    let (s, v) = env
        .post(
            NS,
            &env.admin,
            json!({"namespace": "OS::Compute::Test", "display_name": "Test", "description": "d",
                   "visibility": "public", "protected": true, "owner": "pa",
                   "resource_type_associations": [{"name": "OS::Nova::Flavor", "prefix": "hw:"}],
                   "properties": {"cpu_policy": {"title": "CPU policy", "type": "string", "enum": ["shared", "dedicated"]}},
                   "objects": [{"name": "Topology", "required": ["cores"],
                                "properties": {"cores": {"title": "Cores", "type": "integer", "minimum": 1}}}],
                   "tags": [{"name": "fast"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["namespace"], "OS::Compute::Test");
    assert_eq!(v["owner"], "pa");
    assert_eq!(v["visibility"], "public");
    assert_eq!(v["protected"], true);
    assert_eq!(v["self"], "/v2/metadefs/namespaces/OS::Compute::Test");
    assert_eq!(v["schema"], "/v2/schemas/metadefs/namespace");
    assert_eq!(v["resource_type_associations"][0]["name"], "OS::Nova::Flavor");
    assert_eq!(v["resource_type_associations"][0]["prefix"], "hw:");
    assert_eq!(v["properties"]["cpu_policy"]["enum"], json!(["shared", "dedicated"]));
    assert_eq!(v["objects"][0]["name"], "Topology");
    assert_eq!(v["tags"], json!([{"name": "fast"}]));

    // A private namespace without display name: unset attributes are left
    // out, the owner is the creator's project.
    let (s, v) = env.post(NS, &env.admin, json!({"namespace": "private-ns"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["visibility"], "private");
    assert_eq!(v["protected"], false);
    assert_eq!(v["owner"], "admin");
    assert!(v.get("display_name").is_none() && v.get("properties").is_none(), "{v}");
    let (s, v) = env.post(NS, &env.admin, json!({"namespace": "private-ns"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["message"], "The metadata definition namespace=private-ns already exists.");

    // Readers see public namespaces and their project's own; the private
    // namespace of another project is hidden.
    let (s, v) = env.get(NS, &env.rita).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(names(&v, "namespaces", "namespace"), vec!["OS::Compute::Test"]);
    assert_eq!(v["first"], "/v2/metadefs/namespaces");
    assert_eq!(v["schema"], "/v2/schemas/metadefs/namespaces");
    assert_eq!(v["namespaces"][0]["resource_type_associations"][0]["name"], "OS::Nova::Flavor");
    assert!(v["namespaces"][0].get("objects").is_none(), "lists show no objects: {v}");
    let (s, v) = env.get(NS, &env.admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(names(&v, "namespaces", "namespace"), vec!["private-ns", "OS::Compute::Test"]);
    let (_, v) = env.get(&format!("{NS}?visibility=private"), &env.admin).await;
    assert_eq!(names(&v, "namespaces", "namespace"), vec!["private-ns"]);
    let (_, v) = env.get(&format!("{NS}?resource_types=OS::Glance::Image,OS::Nova::Flavor"), &env.admin).await;
    assert_eq!(names(&v, "namespaces", "namespace"), vec!["OS::Compute::Test"]);
    let (_, v) = env.get(&format!("{NS}?sort_key=namespace&sort_dir=asc&limit=1"), &env.admin).await;
    assert_eq!(names(&v, "namespaces", "namespace"), vec!["OS::Compute::Test"]);
    assert_eq!(
        v["next"],
        "/v2/metadefs/namespaces?sort_key=namespace&sort_dir=asc&limit=1&marker=OS%3A%3ACompute%3A%3ATest"
    );
    let (_, v) = env.get(&format!("{NS}?sort_key=namespace&sort_dir=asc&marker=OS::Compute::Test"), &env.admin).await;
    assert_eq!(names(&v, "namespaces", "namespace"), vec!["private-ns"]);
    for (q, msg) in [
        ("visibility=shared", "Invalid visibility value: shared"),
        ("sort_dir=up", "Invalid sort direction: up"),
        ("limit=-1", "limit param must be positive"),
        ("limit=x", "limit param must be an integer"),
    ] {
        let (s, v) = env.get(&format!("{NS}?{q}"), &env.admin).await;
        assert_eq!((s, v["message"].as_str().unwrap()), (StatusCode::BAD_REQUEST, msg), "{q}");
    }
    let (s, _) = env.get(&format!("{NS}?marker=nope"), &env.admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Show: the full namespace; a property prefix for a resource type.
    let (s, v) = env.get(&format!("{NS}/OS::Compute::Test"), &env.bob).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["objects"][0]["properties"]["cores"]["minimum"], 1);
    assert_eq!(v["objects"][0]["self"], "/v2/metadefs/namespaces/OS::Compute::Test/objects/Topology");
    let (_, v) = env.get(&format!("{NS}/OS::Compute::Test?resource_type=OS::Nova::Flavor"), &env.bob).await;
    assert!(v["properties"].get("hw:cpu_policy").is_some(), "{v}");
    assert_eq!(v["objects"][0]["required"], json!(["hw:cores"]));
    let (s, v) = env.get(&format!("{NS}/private-ns"), &env.alice).await;
    assert_eq!((s, v["message"].clone()), (StatusCode::NOT_FOUND, json!("The resource could not be found.")));
    let (s, v) = env.get(&format!("{NS}/nope"), &env.alice).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["message"], "Metadata definition namespace=nope was not found.");

    // Update replaces every attribute (a rename carries the children);
    // renaming onto another namespace is a conflict.
    let (s, v) = put(&env, &format!("{NS}/OS::Compute::Test"), &env.alice, json!({"namespace": "x"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = put(&env, &format!("{NS}/OS::Compute::Test"), &env.admin, json!({"namespace": "private-ns"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(
        v["message"],
        "Invalid update. It would result in a duplicate metadata definition namespace with the same name of private-ns"
    );
    let (s, v) = put(
        &env,
        &format!("{NS}/OS::Compute::Test"),
        &env.admin,
        json!({"namespace": "OS::Compute::Renamed", "visibility": "public", "protected": true, "owner": "pa"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["namespace"], "OS::Compute::Renamed");
    assert!(v.get("display_name").is_none(), "{v}");
    let (s, v) = env.get(&format!("{NS}/OS::Compute::Renamed/objects/Topology"), &env.rita).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = env.get(&format!("{NS}/OS::Compute::Test"), &env.admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Protected: nothing in it can be deleted.
    let ns = format!("{NS}/OS::Compute::Renamed");
    let s = env.delete(&ns, &env.admin).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let r = env.raw(Method::DELETE, &ns, Some(&env.admin), &[], vec![]).await;
    assert_eq!(
        r.json()["message"],
        "Metadata definition namespace OS::Compute::Renamed is protected and cannot be deleted."
    );
    let r = env.raw(Method::DELETE, &format!("{ns}/objects/Topology"), Some(&env.admin), &[], vec![]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["message"], "Metadata definition object Topology is protected and cannot be deleted.");
    assert_eq!(env.delete(&format!("{ns}/properties/cpu_policy"), &env.admin).await, StatusCode::FORBIDDEN);
    assert_eq!(env.delete(&format!("{ns}/tags/fast"), &env.admin).await, StatusCode::FORBIDDEN);
    assert_eq!(env.delete(&format!("{ns}/resource_types/OS::Nova::Flavor"), &env.admin).await, StatusCode::FORBIDDEN);
    assert_eq!(env.delete(&format!("{ns}/objects"), &env.admin).await, StatusCode::FORBIDDEN);
    let (s, _) = put(&env, &ns, &env.admin, json!({"namespace": "OS::Compute::Renamed", "visibility": "public"})).await;
    assert_eq!(s, StatusCode::OK);
    // Unprotected: deleted with everything in it.
    assert_eq!(env.delete(&ns, &env.alice).await, StatusCode::FORBIDDEN);
    assert_eq!(env.delete(&ns, &env.admin).await, StatusCode::NO_CONTENT);
    let (s, _) = env.get(&format!("{ns}/objects/Topology"), &env.admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = env.post(NS, &env.admin, json!({"namespace": "OS::Compute::Renamed"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(v.get("objects").is_none() && v.get("tags").is_none(), "children went with the namespace: {v}");
}
both_engines!(namespaces_crud_and_visibility);

async fn objects_properties_tags(backend: Backend) {
    let env = Env::new(backend).await;
    let (s, _) = env.post(NS, &env.admin, json!({"namespace": "ns1", "owner": "pa"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let ns = format!("{NS}/ns1");

    // Objects.
    let obj = json!({"name": "o1", "description": "first", "required": ["p"],
                     "properties": {"p": {"title": "P", "type": "string", "maxLength": 10}}});
    let (s, v) = env.post(&format!("{ns}/objects"), &env.alice, obj.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = env.post(&format!("{ns}/objects"), &env.admin, obj.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["name"], "o1");
    assert_eq!(v["schema"], "/v2/schemas/metadefs/object");
    let (s, v) = env.post(&format!("{ns}/objects"), &env.admin, obj.clone()).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["message"], "A metadata definition object with name=o1 already exists in namespace=ns1.");
    let (s, v) = env.post(&format!("{ns}/objects"), &env.admin, json!({"name": "o2"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = env.get(&format!("{ns}/objects"), &env.rita).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["schema"], "v2/schemas/metadefs/objects");
    let mut got = names(&v, "objects", "name");
    got.sort();
    assert_eq!(got, vec!["o1", "o2"]);
    let (s, v) = env.get(&format!("{ns}/objects/o1"), &env.rita).await;
    assert_eq!((s, v["properties"]["p"]["maxLength"].clone()), (StatusCode::OK, json!(10)));
    let (s, v) = env.get(&format!("{ns}/objects/none"), &env.rita).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["message"], "The metadata definition object with name=none was not found in namespace=ns1.");
    let (s, v) = put(&env, &format!("{ns}/objects/o1"), &env.admin, json!({"name": "o2"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = put(&env, &format!("{ns}/objects/o1"), &env.admin, json!({"name": "o3", "description": "new"})).await;
    assert_eq!((s, v["description"].clone()), (StatusCode::OK, json!("new")));
    assert!(v.get("properties").is_none(), "an update replaces: {v}");
    assert_eq!(env.delete(&format!("{ns}/objects/o3"), &env.admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&format!("{ns}/objects/o3"), &env.admin).await, StatusCode::NOT_FOUND);
    assert_eq!(env.delete(&format!("{ns}/objects"), &env.admin).await, StatusCode::NO_CONTENT);
    let (_, v) = env.get(&format!("{ns}/objects"), &env.rita).await;
    assert_eq!(v["objects"], json!([]));
    // Another project's reader does not see a private namespace.
    let (s, v) = env.get(&format!("{ns}/objects"), &env.bob).await;
    assert_eq!((s, v["message"].clone()), (StatusCode::NOT_FOUND, json!("Namespace ns1 not found")));

    // Properties.
    let prop = json!({"name": "hw_rng", "title": "RNG", "type": "boolean", "default": false});
    let (s, v) = env.post(&format!("{ns}/properties"), &env.admin, prop.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v, prop);
    let (s, v) = env.post(&format!("{ns}/properties"), &env.admin, prop.clone()).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["message"], "A metadata definition property with name=hw_rng already exists in namespace=ns1.");
    for (body, reason) in [
        (json!({"name": "x", "type": "boolean"}), "'title' is a required property"),
        (json!({"name": "x", "title": "X", "type": "text"}), "'text' is not one of"),
        (json!({"title": "X", "type": "string"}), "'name' is a required property"),
        (json!({"name": "x", "title": "X", "type": "string", "bogus": 1}), "Additional properties are not allowed"),
        (json!({"name": "x", "title": 5, "type": "string"}), "5 is not of type 'string'"),
    ] {
        let (s, v) = env.post(&format!("{ns}/properties"), &env.admin, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        let m = v["message"].as_str().unwrap();
        assert!(m.starts_with("Provided object does not match schema 'property': ") && m.contains(reason), "{m}");
    }
    let (s, v) = env.get(&format!("{ns}/properties"), &env.rita).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"properties": {"hw_rng": {"title": "RNG", "type": "boolean", "default": false}}}));
    let (s, v) = env.get(&format!("{ns}/properties/hw_rng"), &env.rita).await;
    assert_eq!((s, v["name"].clone()), (StatusCode::OK, json!("hw_rng")));
    let (s, v) = env.get(&format!("{ns}/properties/none"), &env.rita).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["message"], "The metadata definition property with name=none was not found in namespace=ns1.");
    // A prefixed name through a resource-type association.
    let (s, v) = env
        .post(&format!("{ns}/resource_types"), &env.admin, json!({"name": "OS::Glance::Image", "prefix": "img_"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["prefix"], "img_");
    let (s, v) = env.get(&format!("{ns}/properties/img_hw_rng?resource_type=OS::Glance::Image"), &env.rita).await;
    assert_eq!((s, v["name"].clone()), (StatusCode::OK, json!("hw_rng")));
    let (s, v) = env.get(&format!("{ns}/properties/hw_rng?resource_type=OS::Glance::Image"), &env.rita).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        v["message"],
        "Property hw_rng does not start with the expected resource type association prefix of 'img_'."
    );
    let (s, v) = put(
        &env,
        &format!("{ns}/properties/hw_rng"),
        &env.admin,
        json!({"name": "hw_rng_model", "title": "RNG model", "type": "string", "enum": ["virtio"]}),
    )
    .await;
    assert_eq!((s, v["name"].clone()), (StatusCode::OK, json!("hw_rng_model")), "{v}");
    assert_eq!(env.delete(&format!("{ns}/properties/hw_rng_model"), &env.rita).await, StatusCode::FORBIDDEN);
    assert_eq!(env.delete(&format!("{ns}/properties/hw_rng_model"), &env.admin).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&format!("{ns}/properties"), &env.admin).await, StatusCode::NO_CONTENT);

    // Tags: one, many (replacing or appending), case-insensitive names.
    let (s, v) = post_empty(&env, &format!("{ns}/tags/Alpha"), &env.admin).await;
    assert_eq!((s, v["name"].clone()), (StatusCode::CREATED, json!("Alpha")));
    let (s, v) = post_empty(&env, &format!("{ns}/tags/alpha"), &env.admin).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        v["message"],
        "A metadata tag with name=alpha already exists in namespace=ns1. (Please note that metadata tag names are case \
         insensitive)."
    );
    let (s, v) = env.get(&format!("{ns}/tags/ALPHA"), &env.rita).await;
    assert_eq!((s, v["name"].clone()), (StatusCode::OK, json!("Alpha")));
    let (s, v) = env.post(&format!("{ns}/tags"), &env.admin, json!({"tags": [{"name": "b"}, {"name": "c"}]})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v, json!({"tags": [{"name": "b"}, {"name": "c"}]}));
    let (_, v) = env.get(&format!("{ns}/tags"), &env.rita).await;
    let mut got = names(&v, "tags", "name");
    got.sort();
    assert_eq!(got, vec!["b", "c"], "without X-Openstack-Append the tags are replaced");
    let r = env
        .raw(
            Method::POST,
            &format!("{ns}/tags"),
            Some(&env.admin),
            &[("content-type", "application/json"), ("x-openstack-append", "True")],
            json!({"tags": [{"name": "d"}]}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let (_, v) = env.get(&format!("{ns}/tags"), &env.rita).await;
    assert_eq!(v["tags"].as_array().unwrap().len(), 3, "{v}");
    let (s, _) = env.post(&format!("{ns}/tags"), &env.admin, json!({"tags": [{"name": "x"}, {"name": "X"}]})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, v) = env.get(&format!("{ns}/tags"), &env.rita).await;
    assert_eq!(v["tags"].as_array().unwrap().len(), 3, "a refused replacement changes nothing: {v}");
    let (s, v) = put(&env, &format!("{ns}/tags/b"), &env.admin, json!({"name": "C"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = put(&env, &format!("{ns}/tags/b"), &env.admin, json!({"name": "bee"})).await;
    assert_eq!((s, v["name"].clone()), (StatusCode::OK, json!("bee")));
    assert_eq!(env.delete(&format!("{ns}/tags/BEE"), &env.admin).await, StatusCode::NO_CONTENT);
    let (s, v) = env.get(&format!("{ns}/tags/bee"), &env.admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["message"], "The metadata definition tag with name=bee was not found in namespace=ns1.");
    assert_eq!(env.delete(&format!("{ns}/tags"), &env.admin).await, StatusCode::NO_CONTENT);
    let (_, v) = env.get(&format!("{ns}/tags"), &env.rita).await;
    assert_eq!(v["tags"], json!([]));
}
both_engines!(objects_properties_tags);

async fn resource_types(backend: Backend) {
    let env = Env::new(backend).await;
    // Glance's shipped resource types are there from the start.
    let (s, v) = env.get("/image/v2/metadefs/resource_types", &env.rita).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let seeded = names(&v, "resource_types", "name");
    for rt in ["OS::Cinder::Volume", "OS::Glance::Image", "OS::Nova::Aggregate", "OS::Nova::Flavor", "OS::Nova::Server"]
    {
        assert!(seeded.contains(&rt.to_string()), "{rt} in {seeded:?}");
    }
    let (s, _) = env.post(NS, &env.admin, json!({"namespace": "ns-rt", "visibility": "public"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let rts = format!("{NS}/ns-rt/resource_types");
    // Associating with a new name creates that resource type.
    let (s, v) = env.post(&rts, &env.admin, json!({"name": "OS::Trove::Instance", "properties_target": "x"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["properties_target"], "x");
    assert!(v.get("prefix").is_none(), "{v}");
    let (_, v) = env.get("/image/v2/metadefs/resource_types", &env.rita).await;
    assert!(names(&v, "resource_types", "name").contains(&"OS::Trove::Instance".to_string()));
    let (s, v) = env.post(&rts, &env.admin, json!({"name": "OS::Trove::Instance"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        v["message"],
        "The metadata definition resource-type association of resource-type=OS::Trove::Instance to namespace=ns-rt \
         already exists."
    );
    let (s, _) = env.post(&rts, &env.alice, json!({"name": "OS::Nova::Server"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = env.get(&rts, &env.bob).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(names(&v, "resource_type_associations", "name"), vec!["OS::Trove::Instance"]);
    let (s, v) = env.post(&rts, &env.admin, json!({"prefix": "p"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["message"].as_str().unwrap().ends_with("'name' is a required property"), "{v}");
    let (s, v) = env.post(&rts, &env.admin, json!({"name": "x", "created_at": "now"})).await;
    assert_eq!((s, v["message"].clone()), (StatusCode::FORBIDDEN, json!("Attribute 'created_at' is read-only.")));
    // Listing namespaces by resource type.
    let (_, v) = env.get(&format!("{NS}?resource_types=OS::Trove::Instance"), &env.rita).await;
    assert_eq!(names(&v, "namespaces", "namespace"), vec!["ns-rt"]);
    assert_eq!(env.delete(&format!("{rts}/OS::Trove::Instance"), &env.alice).await, StatusCode::FORBIDDEN);
    assert_eq!(env.delete(&format!("{rts}/OS::Trove::Instance"), &env.admin).await, StatusCode::NO_CONTENT);
    let r = env.raw(Method::DELETE, &format!("{rts}/OS::Trove::Instance"), Some(&env.admin), &[], vec![]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["message"], "Failed to find resource type OS::Trove::Instance to delete");
    let (_, v) = env.get(&format!("{NS}?resource_types=OS::Trove::Instance"), &env.rita).await;
    assert_eq!(v["namespaces"], json!([]));
    // Unknown namespaces.
    let (s, v) = env.get(&format!("{NS}/nope/resource_types"), &env.admin).await;
    assert_eq!((s, v["message"].clone()), (StatusCode::NOT_FOUND, json!("Namespace nope not found")));
}
both_engines!(resource_types);

async fn schemas(backend: Backend) {
    let env = Env::new(backend).await;
    for (name, key) in [
        ("namespace", "namespace"),
        ("namespaces", "namespaces"),
        ("object", "name"),
        ("objects", "objects"),
        ("property", "title"),
        ("properties", "properties"),
        ("tag", "name"),
        ("tags", "tags"),
        ("resource_type", "prefix"),
        ("resource_types", "resource_type_associations"),
    ] {
        let (s, v) = env.get(&format!("/image/v2/schemas/metadefs/{name}"), &env.rita).await;
        assert_eq!(s, StatusCode::OK, "{name}");
        assert!(v["properties"].get(key).is_some(), "{name}: {v}");
    }
    let (s, v) = env.get("/image/v2/schemas/metadefs/namespace", &env.rita).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["required"], json!(["namespace"]));
    assert_eq!(v["properties"]["visibility"]["enum"], json!(["public", "private"]));
    let (s, _) = env.get("/image/v2/schemas/metadefs/pony", &env.rita).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
both_engines!(schemas);
