//! Scenarios of upstream's gabbi files for `GET /allocation_candidates`,
//! run against the engine with rebuilt fixture data. Each test names the
//! gabbi file and test it mirrors.

#[path = "candidates_fixtures.rs"]
mod fixtures;

use fixtures::*;

const V: fn(u16) -> (u16, u16) = |m| (1, m);

fn has(msg: &str, needle: &str) {
    assert!(msg.contains(needle), "{msg:?} does not contain {needle:?}");
}

// ---------------------------------------------------------------------------
// allocation-candidates.yaml (SharedStorageFixture)

#[test]
fn ac_errors() {
    let f = shared_storage();
    has(
        &run(&f, "resources=", V(10)).err(),
        "Badly formed resources parameter. Expected resources query string parameter in form",
    );
    has(&run(&f, "resources=", V(10)).err(), "Got: empty string.");
    has(&run(&f, "", V(10)).err(), "'resources' is a required property");
    has(&run(&f, "resources=MCPU:99", V(10)).err(), "Invalid resource class in resources parameter");
    let e = run(&f, "resources=VCPU:1&limit=5", V(15)).err();
    has(&e, "Invalid query string parameters");
    has(&e, "'limit' was unexpected");
    for bad in ["cow", "-99", "0"] {
        let e = run(&f, &format!("resources=VCPU:1&limit={bad}"), V(16)).err();
        has(&e, "Invalid query string parameters");
        has(&e, "Failed validating 'pattern'");
    }
    let e = run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&required=HW_CPU_X86_SSE", V(16)).err();
    has(&e, "'required' was unexpected");
    has(
        &run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&required=INVALID_TRAIT", V(17)).err(),
        "No such trait(s)",
    );
    let form = "Invalid query string parameters: Expected 'required' parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC.";
    has(&run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&required=", V(17)).err(), form);
    has(
        &run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&required=", V(22)).err(),
        "Invalid query string parameters: Expected 'required' parameter value of the form: HW_CPU_X86_VMX,!CUSTOM_MAGIC.",
    );
    has(&run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&required=,,", V(17)).err(), form);
    has(&run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&required=!CUSTOM_MAGIC", V(17)).err(), form);
    has(&run(&f, "resources=VCPU:1,SRIOV_NET_VF:4&in_tree={cn1}", V(30)).err(), "Invalid query string parameters");
    has(
        &run(&f, "resources=VCPU:1,SRIOV_NET_VF:4&in_tree=life-is-beautiful", V(31)).err(),
        "Expected 'in_tree' parameter to be a format of uuid",
    );
    has(&run(&f, "resources=VCPU:1&in_tree1={cn1}", V(31)).err(), "All request groups must specify resources.");
}

#[test]
fn ac_no_allocations_yet() {
    let f = shared_storage();
    for mv in [V(10), V(12)] {
        let a = run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100", mv).ok();
        assert_eq!(a.n(), 5);
        assert_eq!(a.n_summaries(), 4);
        assert_eq!(a.amounts("cn1", "VCPU"), [1, 1]);
        assert_eq!(a.amounts("cn1", "MEMORY_MB"), [1024, 1024]);
        assert_eq!(a.amounts("cn1", "DISK_GB"), Vec::<i64>::new());
        assert_eq!(a.amounts("cn2", "VCPU"), [1, 1, 1]);
        assert_eq!(a.amounts("cn2", "MEMORY_MB"), [1024, 1024, 1024]);
        assert_eq!(a.amounts("cn2", "DISK_GB"), [100]);
        assert_eq!(a.amounts("ss", "DISK_GB"), [100, 100]);
        assert_eq!(a.amounts("ss2", "DISK_GB"), [100, 100]);
        let cn1 = a.snap.provider(a.snap.index_of(&f.ids["cn1"]).unwrap());
        let vcpu = a.snap.resource_class_id("VCPU").unwrap();
        let mem = a.snap.resource_class_id("MEMORY_MB").unwrap();
        assert_eq!(cn1.inventory(vcpu).unwrap().capacity, 384);
        assert_eq!(cn1.inventory(mem).unwrap().capacity, 196608);
        let ss = a.snap.provider(a.snap.index_of(&f.ids["ss"]).unwrap());
        assert_eq!(ss.inventory(a.snap.resource_class_id("DISK_GB").unwrap()).unwrap().capacity, 1900);
    }
}

#[test]
fn ac_limits() {
    let f = shared_storage();
    assert_eq!(run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&limit=1", V(16)).ok().n(), 1);
    assert_eq!(run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&limit=10&limit=1", V(16)).ok().n(), 5);
    let a = run(&f, "resources=VCPU:1,SRIOV_NET_VF:4&limit=1", V(29)).ok();
    assert_eq!(a.n(), 1);
    assert_eq!(a.c.get(0).by_provider().count(), 2);
    assert_eq!(a.n_summaries(), 5);
    // Before 1.29 summaries hold the used providers, then the limit keeps
    // those in the kept candidates' trees (both PFs of the tree here).
    let a = run(&f, "resources=SRIOV_NET_VF:4&limit=1", V(28)).ok();
    assert_eq!((a.n(), a.n_summaries()), (1, 2));
}

#[test]
fn ac_required_and_forbidden_traits() {
    let f = shared_storage();
    let a = run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&required=HW_CPU_X86_SSE", V(17)).ok();
    assert_eq!((a.n(), a.n_summaries()), (2, 3));
    let a = run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&required=!HW_CPU_X86_SSE", V(22)).ok();
    assert_eq!(a.n(), 3);
    assert_eq!(a.amounts("cn2", "VCPU"), [1, 1, 1]);
    assert_eq!(a.amounts("cn2", "MEMORY_MB"), [1024, 1024, 1024]);
    assert_eq!(a.amounts("cn2", "DISK_GB"), [100]);
    assert_eq!(a.amounts("ss", "DISK_GB"), [100]);
    assert_eq!(a.amounts("ss2", "DISK_GB"), [100]);
    let a = run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&required=HW_CPU_X86_SSE,HW_CPU_X86_SSE2", V(17)).ok();
    assert_eq!((a.n(), a.n_summaries()), (2, 3));
    let a = run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&required=HW_CPU_X86_SSE3", V(17)).ok();
    assert_eq!((a.n(), a.n_summaries()), (0, 0));
}

#[test]
fn ac_summaries_by_microversion() {
    let f = shared_storage();
    for m in [26, 27, 28] {
        let a = run(&f, "resources=VCPU:1", V(m)).ok();
        assert_eq!((a.n(), a.n_summaries()), (2, 2), "1.{m}");
    }
    let a = run(&f, "resources=VCPU:1", V(29)).ok();
    assert_eq!((a.n(), a.n_summaries()), (2, 10));
    assert_eq!(a.req.requested_resource_classes(), ["VCPU"]);
}

#[test]
fn ac_nested_old_and_new_microversions() {
    let f = shared_storage();
    let a = run(&f, "resources=SRIOV_NET_VF:4", V(28)).ok();
    assert_eq!((a.n(), a.n_summaries()), (4, 4));
    let a = run(&f, "resources=SRIOV_NET_VF:4", V(29)).ok();
    assert_eq!((a.n(), a.n_summaries()), (4, 10));
    let a = run(&f, "resources=VCPU:1,SRIOV_NET_VF:4", V(28)).ok();
    assert_eq!((a.n(), a.n_summaries()), (0, 0));
    let a = run(&f, "resources=VCPU:1,SRIOV_NET_VF:4", V(29)).ok();
    assert_eq!((a.n(), a.n_summaries()), (4, 10));
    assert_eq!(a.amounts("cn1", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("cn2", "VCPU"), [1, 1]);
    for pf in ["pf1_1", "pf1_2", "pf2_1", "pf2_2"] {
        assert_eq!(a.amounts(pf, "SRIOV_NET_VF"), [4]);
    }
    let a = run(&f, "resources=DISK_GB:10,SRIOV_NET_VF:4", V(28)).ok();
    assert_eq!((a.n(), a.n_summaries()), (8, 6));
}

#[test]
fn ac_in_tree() {
    let f = shared_storage();
    for t in ["cn1", "pf1_2"] {
        let a = run(&f, &format!("resources=VCPU:1,SRIOV_NET_VF:4&in_tree={{{t}}}"), V(31)).ok();
        assert_eq!((a.n(), a.n_summaries()), (2, 5));
        assert_eq!(a.amounts("cn1", "VCPU"), [1, 1]);
        assert_eq!(a.amounts("pf1_1", "SRIOV_NET_VF"), [4]);
        assert_eq!(a.amounts("pf1_2", "SRIOV_NET_VF"), [4]);
    }
    assert_eq!(run(&f, "resources=VCPU:1,DISK_GB:10&in_tree={cn1}", V(31)).ok().n(), 0);
    let a = run(&f, "resources=VCPU:1,DISK_GB:10&in_tree={cn2}", V(31)).ok();
    assert_eq!(a.n(), 1);
    assert_eq!(a.amounts("cn2", "VCPU"), [1]);
    assert_eq!(a.amounts("cn2", "DISK_GB"), [10]);
    assert_eq!(run(&f, "resources=VCPU:1,DISK_GB:10&in_tree={ss}", V(31)).ok().n(), 0);
}

#[test]
fn ac_in_tree_granular() {
    let f = shared_storage();
    for t in ["cn1", "pf1_1"] {
        let a = run(&f, &format!("resources1=VCPU:1&in_tree1={{{t}}}"), V(31)).ok();
        assert_eq!(a.n(), 1);
        assert_eq!(a.amounts("cn1", "VCPU"), [1]);
        let a = run(&f, &format!("resources1=SRIOV_NET_VF:4&in_tree1={{{t}}}"), V(31)).ok();
        assert_eq!(a.n(), 2);
        assert_eq!(a.amounts("pf1_1", "SRIOV_NET_VF"), [4]);
        assert_eq!(a.amounts("pf1_2", "SRIOV_NET_VF"), [4]);
    }
    assert_eq!(run(&f, "resources=VCPU:1&resources1=DISK_GB:10&in_tree1={cn1}", V(31)).ok().n(), 0);
    let a = run(&f, "resources=VCPU:1&resources1=DISK_GB:10&in_tree1={cn2}", V(31)).ok();
    assert_eq!(a.n(), 1);
    assert_eq!(a.amounts("cn2", "VCPU"), [1]);
    assert_eq!(a.amounts("cn2", "DISK_GB"), [10]);
    let a = run(&f, "resources=VCPU:1&resources1=DISK_GB:10&in_tree1={ss}", V(31)).ok();
    assert_eq!(a.n(), 2);
    assert_eq!(a.amounts("cn1", "VCPU"), [1]);
    assert_eq!(a.amounts("cn2", "VCPU"), [1]);
    assert_eq!(a.amounts("ss", "DISK_GB"), [10, 10]);
    let a = run(&f, "resources=VCPU:1&in_tree={cn1}&resources1=DISK_GB:10", V(31)).ok();
    assert_eq!(a.n(), 2);
    assert_eq!(a.amounts("cn1", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("ss", "DISK_GB"), [10]);
    assert_eq!(a.amounts("ss2", "DISK_GB"), [10]);
    let a = run(&f, "resources=VCPU:1&in_tree={cn2}&resources1=DISK_GB:10", V(31)).ok();
    assert_eq!(a.n(), 3);
    assert_eq!(a.amounts("cn2", "VCPU"), [1, 1, 1]);
    assert_eq!(a.amounts("cn2", "DISK_GB"), [10]);
    assert_eq!(a.amounts("ss", "DISK_GB"), [10]);
    assert_eq!(a.amounts("ss2", "DISK_GB"), [10]);
    let a =
        run(&f, "resources1=VCPU:1&in_tree1={cn1}&resources2=DISK_GB:10&in_tree2={ss}&group_policy=none", V(31)).ok();
    assert_eq!(a.n(), 1);
    assert_eq!(a.amounts("cn1", "VCPU"), [1]);
    assert_eq!(a.amounts("ss", "DISK_GB"), [10]);
}

// ---------------------------------------------------------------------------
// granular.yaml (GranularFixture, 1.25)

#[test]
fn granular_policies() {
    let f = granular();
    let a = run(&f, "resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=none", V(25)).ok();
    assert_eq!((a.n(), a.n_summaries()), (3, 3));
    for cn in ["cn_left", "cn_middle", "cn_right"] {
        assert_eq!(a.amounts(cn, "VCPU"), [1]);
        assert_eq!(a.amounts(cn, "MEMORY_MB"), [1024]);
    }
    let a = run(&f, "resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=isolate", V(25)).ok();
    assert_eq!((a.n(), a.n_summaries()), (0, 0));
    let a = run(&f, "resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=isolate&group_policy=none", V(25)).ok();
    assert_eq!((a.n(), a.n_summaries()), (0, 0));
    let a = run(
        &f,
        "resources=VCPU:3,MEMORY_MB:512&resources1=VCPU:1,MEMORY_MB:1024&resources2=VCPU:2&group_policy=none",
        V(25),
    )
    .ok();
    assert_eq!((a.n(), a.n_summaries()), (3, 3));
    for cn in ["cn_left", "cn_middle", "cn_right"] {
        assert_eq!(a.amounts(cn, "VCPU"), [6]);
        assert_eq!(a.amounts(cn, "MEMORY_MB"), [1536]);
    }
    let a = run(&f, "resources=VCPU:1&resources1=MEMORY_MB:2048", V(25)).ok();
    assert_eq!((a.n(), a.n_summaries()), (3, 3));
}

#[test]
fn granular_disk_sharing() {
    let f = granular();
    let a = run(&f, "resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&group_policy=isolate", V(25)).ok();
    assert_eq!((a.n(), a.n_summaries()), (5, 5));
    let a = run(&f, "resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&group_policy=none", V(25)).ok();
    assert_eq!((a.n(), a.n_summaries()), (7, 5));
    for q in ["resources1=DISK_GB:800", "resources=DISK_GB:800"] {
        let a = run(&f, q, V(25)).ok();
        assert_eq!((a.n(), a.n_summaries()), (2, 2), "{q}");
        assert_eq!(a.amounts("shr_disk_1", "DISK_GB"), [800]);
        assert_eq!(a.amounts("shr_disk_2", "DISK_GB"), [800]);
    }
}

#[test]
fn granular_traits_and_aggregates() {
    let f = granular();
    let a = run(
        &f,
        "resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&required2=CUSTOM_DISK_SSD&group_policy=isolate",
        V(25),
    )
    .ok();
    assert_eq!((a.n(), a.n_summaries()), (2, 3));
    assert_eq!(a.amounts("cn_left", "VCPU"), [1]);
    assert_eq!(a.amounts("cn_middle", "VCPU"), [1]);
    assert_eq!(a.amounts("shr_disk_1", "DISK_GB"), [100, 100]);

    let a =
        run(&f, "resources1=VCPU:1&resources2=DISK_GB:100&required2=!CUSTOM_DISK_SSD&group_policy=none", V(25)).ok();
    assert_eq!((a.n(), a.n_summaries()), (4, 4));
    assert_eq!(a.amounts("cn_left", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("cn_middle", "VCPU"), [1]);
    assert_eq!(a.amounts("cn_right", "VCPU"), [1]);
    assert_eq!(a.amounts("shr_disk_2", "DISK_GB"), [100, 100, 100]);
    assert!(a.summarized("shr_disk_2") && !a.summarized("shr_disk_1"));

    let a = run(&f, "resources1=VCPU:1&resources2=DISK_GB:100&member_of2={aggC}&group_policy=none", V(25)).ok();
    assert_eq!((a.n(), a.n_summaries()), (1, 1));
    assert_eq!(a.describe(), [["cn_right:VCPU=1", "cn_right:DISK_GB=100"]]);

    for (q, mv) in [
        (
            "resources1=VCPU:1&required1=!HW_CPU_X86_SSE&resources2=DISK_GB:100&required2=CUSTOM_DISK_SSD\
             &member_of2=in:{aggA},{aggC}&group_policy=none",
            V(25),
        ),
        (
            "resources_compute=VCPU:1&required_compute=!HW_CPU_X86_SSE&resources_disk=DISK_GB:100\
             &required_disk=CUSTOM_DISK_SSD&member_of_disk=in:{aggA},{aggC}&group_policy=none",
            V(33),
        ),
    ] {
        let a = run(&f, q, mv).ok();
        assert_eq!((a.n(), a.n_summaries()), (2, 3));
        assert_eq!(a.amounts("cn_left", "VCPU"), [1]);
        assert_eq!(a.amounts("cn_right", "VCPU"), [1]);
        assert_eq!(a.amounts("shr_disk_1", "DISK_GB"), [100]);
        assert_eq!(a.amounts("cn_right", "DISK_GB"), [100]);
    }

    let a = run(
        &f,
        "resources1=VCPU:1&resources2=DISK_GB:100&member_of2=in:{aggB},{aggC}&member_of2={aggA}&group_policy=isolate",
        V(25),
    )
    .ok();
    assert_eq!((a.n(), a.n_summaries()), (3, 4));
    for cn in ["cn_left", "cn_middle", "cn_right"] {
        assert_eq!(a.amounts(cn, "VCPU"), [1]);
    }
    assert_eq!(a.amounts("shr_disk_2", "DISK_GB"), [100, 100, 100]);
}

#[test]
fn granular_multiple_disks_multiple_networks() {
    let f = granular();
    let a = run(
        &f,
        "resources1=VCPU:1&resources2=VGPU:1&required2=HW_GPU_API_DXVA&resources3=MEMORY_MB:1024\
         &resources4=DISK_GB:100&required4=CUSTOM_DISK_SSD&resources5=DISK_GB:50&required5=!CUSTOM_DISK_SSD\
         &resources6=SRIOV_NET_VF:1,CUSTOM_NET_MBPS:1000&resources7=SRIOV_NET_VF:2,CUSTOM_NET_MBPS:2000\
         &group_policy=none",
        V(25),
    )
    .ok();
    assert_eq!((a.n(), a.n_summaries()), (3, 5));
    assert_eq!(a.amounts("cn_left", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("cn_left", "MEMORY_MB"), [1024, 1024]);
    assert_eq!(a.amounts("cn_left", "VGPU"), [1, 1]);
    assert_eq!(a.amounts("cn_left", "SRIOV_NET_VF"), [3, 3]);
    assert_eq!(a.amounts("cn_left", "CUSTOM_NET_MBPS"), [3000, 3000]);
    assert_eq!(a.amounts("cn_left", "DISK_GB"), [50]);
    assert_eq!(a.amounts("shr_disk_1", "DISK_GB"), [100, 100]);
    assert_eq!(a.amounts("shr_disk_2", "DISK_GB"), [50, 50]);
    assert_eq!(a.amounts("cn_right", "VCPU"), [1]);
    assert_eq!(a.amounts("cn_right", "MEMORY_MB"), [1024]);
    assert_eq!(a.amounts("cn_right", "VGPU"), [1]);
    assert_eq!(a.amounts("cn_right", "DISK_GB"), [100]);
    assert_eq!(a.amounts("shr_net", "SRIOV_NET_VF"), [3]);
    assert_eq!(a.amounts("shr_net", "CUSTOM_NET_MBPS"), [3000]);
}

#[test]
fn granular_combined_capacity() {
    let f = granular();
    let a = run(
        &f,
        "resources=VCPU:2,MEMORY_MB:2048,SRIOV_NET_VF:1,CUSTOM_NET_MBPS:2000&resources1=SRIOV_NET_VF:1,CUSTOM_NET_MBPS:3000",
        V(25),
    )
    .ok();
    assert_eq!((a.n(), a.n_summaries()), (1, 2));
    assert_eq!(
        a.describe(),
        [["cn_right:VCPU=2", "cn_right:MEMORY_MB=2048", "shr_net:SRIOV_NET_VF=2", "shr_net:CUSTOM_NET_MBPS=5000"]]
    );
    let a = run(&f, "resources=VGPU:1&resources1=VGPU:1&resources2=VGPU:1&group_policy=none", V(25)).ok();
    assert_eq!((a.n(), a.n_summaries()), (1, 1));
    assert_eq!(a.amounts("cn_left", "VGPU"), [3]);
}

#[test]
fn granular_errors() {
    let f = granular();
    for (q, key) in [
        ("resources=MEMORY_MB:1024&resources1=VCPU:1", "'resources1' was unexpected"),
        ("resources=MEMORY_MB:1024&required2=HW_CPU_X86_AVX2", "'required2' was unexpected"),
        ("resources=MEMORY_MB:1024&member_of3={aggB}", "'member_of3' was unexpected"),
        ("resources=VCPU:1&group_policy=isolate", "'group_policy' was unexpected"),
    ] {
        let e = run(&f, q, V(24)).err();
        has(&e, "Invalid query string parameters");
        has(&e, key);
    }
    let e = run(&f, "resources01=VCPU:1", V(25)).err();
    has(&e, "Invalid query string parameters");
    has(&e, "'resources01' does not match any of the regexes");
    let e = run(&f, "resources1@=VCPU:1", V(33)).err();
    has(&e, "'resources1@' does not match any of the regexes");
    has(&e, "^member_of([a-zA-Z0-9_-]{1,64})?$");
    let long = "resources_0123456701234567012345670123456701234567012345670123456701234567";
    let e = run(&f, &format!("{long}=VCPU:1"), V(33)).err();
    has(&e, &format!("'{long}' does not match any of the regexes"));
    has(&e, "^member_of([a-zA-Z0-9_-]{1,64})?$");
    has(&run(&f, "resources=VCPU:1&group_policy=bogus", V(25)).err(), "'bogus' is not one of ['none', 'isolate']");
    has(
        &run(&f, "resources1=VCPU:1&resources2=VCPU:1", V(25)).err(),
        "The \"group_policy\" parameter is required when specifying more than one \"resources{N}\" parameter.",
    );
    has(
        &run(&f, "required=FOO&required1=BAR", V(25)).err(),
        "Found the following orphaned traits keys: required, required1",
    );
    has(
        &run(&f, "member_of={aggA}&member_of3={aggC}", V(25)).err(),
        "Found the following orphaned member_of keys: member_of, member_of3",
    );
    has(
        &run(&f, "group_policy=isolate", V(25)).err(),
        "At least one request group (`resources` or `resources{$S}`) is required.",
    );
}

// ---------------------------------------------------------------------------
// granular-same-subtree.yaml (NUMANetworkFixture, 1.36)

#[test]
fn same_subtree_errors() {
    let f = numa_network();
    let b = run(&f, "resources1=VCPU:1&required2=COMPUTE_VOLUME_MULTI_ATTACH&group_policy=none", V(36)).bad_request();
    has(&b.message, "Resourceless suffixed group request should be specified in `same_subtree` query param");
    assert_eq!(b.code, Some("placement.query.bad_value"));
    let b = run(&f, "resources1=VCPU:1&member_of2={aggA}&group_policy=none", V(36)).bad_request();
    has(&b.message, "Resourceless suffixed group request should be specified in `same_subtree` query param");
    let b = run(&f, "member_of1={aggA}&group_policy=none", V(36)).bad_request();
    has(&b.message, "There must be at least one resources or resources[$S] parameter.");
    assert_eq!(b.code, Some("placement.query.missing_value"));
    let b =
        run(&f, "resources_COMPUTE=VCPU:1&resources_ACCEL=FPGA:1&same_subtree=COMPUTE,_ACCEL&group_policy=none", V(36))
            .bad_request();
    has(&b.message, "Real suffixes should be specified in `same_subtree`:");
    assert_eq!(
        b.message,
        "Real suffixes should be specified in `same_subtree`: ['COMPUTE'] not found in ['_COMPUTE', '_ACCEL']."
    );
    assert_eq!(b.code, Some("placement.query.bad_value"));
    let b = run(
        &f,
        "resources_COMPUTE=VCPU:1&resources_ACCEL=FPGA:1&same_subtree=_COMPUTE,,_ACCEL&group_policy=none",
        V(36),
    )
    .bad_request();
    has(&b.message, "Empty string (unsuffixed group) can not be specified in `same_subtree`");
    assert_eq!(b.code, Some("placement.query.bad_value"));
}

#[test]
fn same_subtree_without_resourceless() {
    let f = numa_network();
    for q in [
        "resources_COMPUTE=VCPU:1&resources_ACCEL=FPGA:1&group_policy=none",
        "resources_COMPUTE=VCPU:1&resources_ACCEL=FPGA:1&same_subtree=_COMPUTE&group_policy=none",
    ] {
        let a = run(&f, q, V(36)).ok();
        assert_eq!(a.n(), 6);
        assert_eq!(a.amounts("numa0", "VCPU"), [1, 1, 1]);
        assert_eq!(a.amounts("numa1", "VCPU"), [1, 1, 1]);
        for fpga in ["fpga0", "fpga1_0", "fpga1_1"] {
            assert_eq!(a.amounts(fpga, "FPGA"), [1, 1]);
        }
    }
    let a = run(
        &f,
        "resources_COMPUTE=VCPU:1&resources_ACCEL=FPGA:1&same_subtree=_COMPUTE,_ACCEL&group_policy=none",
        V(36),
    )
    .ok();
    assert_eq!(a.n(), 3);
    assert_eq!(a.amounts("numa0", "VCPU"), [1]);
    assert_eq!(a.amounts("numa1", "VCPU"), [1, 1]);
    for fpga in ["fpga0", "fpga1_0", "fpga1_1"] {
        assert_eq!(a.amounts(fpga, "FPGA"), [1]);
    }
    let a = run(
        &f,
        "resources_COMPUTE1=VCPU:1&resources_COMPUTE2=MEMORY_MB:1024&same_subtree=_COMPUTE1,_COMPUTE2&group_policy=none",
        V(36),
    )
    .ok();
    assert_eq!(a.n(), 3);
    for p in ["numa0", "numa1", "cn2"] {
        assert_eq!(a.amounts(p, "VCPU"), [1]);
        assert_eq!(a.amounts(p, "MEMORY_MB"), [1024]);
    }
    let a = run(
        &f,
        "resources_COMPUTE1=VCPU:1&resources_COMPUTE2=MEMORY_MB:1024&same_subtree=_COMPUTE1,_COMPUTE2&group_policy=isolate",
        V(36),
    )
    .ok();
    assert_eq!(a.n(), 0);
    let a = run(
        &f,
        "resources=VCPU:1&resources_PORT1=CUSTOM_VF:4&required_PORT1=CUSTOM_PHYSNET1&resources_PORT2=CUSTOM_VF:4\
         &required_PORT2=CUSTOM_PHYSNET2&group_policy=none",
        V(36),
    )
    .ok();
    assert_eq!(a.n(), 2);
    assert_eq!(a.amounts("cn2", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("pf1_1", "CUSTOM_VF"), [4]);
    assert_eq!(a.amounts("pf1_2", "CUSTOM_VF"), [4, 4]);
    assert_eq!(a.amounts("pf3_1", "CUSTOM_VF"), [4]);
}

#[test]
fn same_subtree_resourceless_vfs() {
    let f = numa_network();
    let a = run(
        &f,
        "resources=VCPU:1&required_NIC=CUSTOM_HW_NIC_ROOT&resources_PORT1=CUSTOM_VF:4&required_PORT1=CUSTOM_PHYSNET1\
         &resources_PORT2=CUSTOM_VF:4&required_PORT2=CUSTOM_PHYSNET2&same_subtree=_NIC,_PORT1,_PORT2&group_policy=none",
        V(36),
    )
    .ok();
    assert_eq!(a.n(), 1);
    assert_eq!(a.describe(), [["cn2:VCPU=1", "pf1_1:CUSTOM_VF=4", "pf1_2:CUSTOM_VF=4"]]);
    assert_eq!(a.mappings(), [["=cn2", "_NIC=nic1", "_PORT1=pf1_1", "_PORT2=pf1_2"]]);

    for policy in ["none", "isolate"] {
        let a = run(
            &f,
            &format!(
                "resources=VCPU:1&required_NIC=CUSTOM_HW_NIC_ROOT&resources_PORT1=CUSTOM_VF:2\
                 &required_PORT1=CUSTOM_PHYSNET1&resources_PORT2=CUSTOM_VF:2&required_PORT2=CUSTOM_PHYSNET2\
                 &same_subtree=_NIC,_PORT1,_PORT2&group_policy={policy}"
            ),
            V(36),
        )
        .ok();
        assert_eq!(a.n(), 5, "{policy}");
        assert_eq!(a.amounts("cn2", "VCPU"), [1; 5]);
        assert_eq!(a.amounts("pf1_1", "CUSTOM_VF"), [2]);
        assert_eq!(a.amounts("pf1_2", "CUSTOM_VF"), [2]);
        for pf in ["pf2_1", "pf2_2", "pf2_3", "pf2_4"] {
            assert_eq!(a.amounts(pf, "CUSTOM_VF"), [2, 2]);
        }
    }

    let q =
        "resources=VCPU:1&required_NIC=CUSTOM_HW_NIC_ROOT&resources_PORT1=CUSTOM_VF:2&required_PORT1=CUSTOM_PHYSNET1\
             &resources_PORT2A=CUSTOM_VF:1&required_PORT2A=CUSTOM_PHYSNET2&resources_PORT2B=CUSTOM_VF:1\
             &required_PORT2B=CUSTOM_PHYSNET2&same_subtree=_NIC,_PORT1,_PORT2A,_PORT2B&group_policy=";
    let a = run(&f, &format!("{q}none"), V(36)).ok();
    assert_eq!(a.n(), 9);
    assert_eq!(a.amounts("cn2", "VCPU"), [1; 9]);
    assert_eq!(a.amounts("pf1_1", "CUSTOM_VF"), [2]);
    assert_eq!(a.amounts("pf1_2", "CUSTOM_VF"), [2]);
    assert_eq!(a.amounts("pf2_1", "CUSTOM_VF"), [2, 2, 2, 2]);
    assert_eq!(a.amounts("pf2_3", "CUSTOM_VF"), [2, 2, 2, 2]);
    assert_eq!(a.amounts("pf2_2", "CUSTOM_VF"), [1, 1, 1, 1, 2, 2]);
    assert_eq!(a.amounts("pf2_4", "CUSTOM_VF"), [1, 1, 1, 1, 2, 2]);
    let a = run(&f, &format!("{q}isolate"), V(36)).ok();
    assert_eq!(a.n(), 4);
    assert_eq!(a.amounts("cn2", "VCPU"), [1; 4]);
    assert_eq!(a.amounts("pf2_1", "CUSTOM_VF"), [2, 2]);
    assert_eq!(a.amounts("pf2_3", "CUSTOM_VF"), [2, 2]);
    assert_eq!(a.amounts("pf2_2", "CUSTOM_VF"), [1, 1, 1, 1]);
    assert_eq!(a.amounts("pf2_4", "CUSTOM_VF"), [1, 1, 1, 1]);
}

#[test]
fn same_subtree_resourceless_same_provider() {
    let f = numa_network();
    let q = "resources_PORT1=CUSTOM_VF:8&required_PORT2=CUSTOM_PHYSNET1&same_subtree=_PORT1,_PORT2&group_policy=";
    let a = run(&f, &format!("{q}none"), V(36)).ok();
    assert_eq!(a.describe(), [["pf3_1:CUSTOM_VF=8"]]);
    assert_eq!(a.mappings(), [["_PORT1=pf3_1", "_PORT2=pf3_1"]]);
    assert_eq!(run(&f, &format!("{q}isolate"), V(36)).ok().n(), 0);

    let q = "resources_COMPUTE1=VCPU:1&required_COMPUTE2=CUSTOM_FOO&required_COMPUTE3=HW_NUMA_ROOT\
             &same_subtree=_COMPUTE1,_COMPUTE2,_COMPUTE3&group_policy=";
    let a = run(&f, &format!("{q}none"), V(36)).ok();
    assert_eq!(a.describe(), [["numa1:VCPU=1"]]);
    assert_eq!(a.mappings(), [["_COMPUTE1=numa1", "_COMPUTE2=numa1", "_COMPUTE3=numa1"]]);
    assert_eq!(run(&f, &format!("{q}isolate"), V(36)).ok().n(), 0);
}

#[test]
fn same_subtree_fpgas() {
    let f = numa_network();
    for st in ["_NUMA,_ACCEL1,_ACCEL2", "_NUMA,_ACCEL1,_ACCEL2,_NUMA,_ACCEL1"] {
        let a = run(
            &f,
            &format!(
                "required_NUMA=HW_NUMA_ROOT&resources_ACCEL1=FPGA:1&resources_ACCEL2=FPGA:1&same_subtree={st}\
                 &group_policy=isolate"
            ),
            V(36),
        )
        .ok();
        assert_eq!(a.n(), 2);
        assert_eq!(a.amounts("fpga1_0", "FPGA"), [1, 1]);
        assert_eq!(a.amounts("fpga1_1", "FPGA"), [1, 1]);
        let mut m = a.mappings();
        m.sort();
        assert_eq!(
            m,
            [
                ["_NUMA=numa1", "_ACCEL1=fpga1_0", "_ACCEL2=fpga1_1"],
                ["_NUMA=numa1", "_ACCEL1=fpga1_1", "_ACCEL2=fpga1_0"]
            ]
        );
    }
    let a = run(
        &f,
        "required_NUMA=HW_NUMA_ROOT,!CUSTOM_FOO&resources_ACCEL1=FPGA:1&resources_ACCEL2=FPGA:1\
         &same_subtree=_NUMA,_ACCEL1,_ACCEL2&group_policy=isolate",
        V(36),
    )
    .ok();
    assert_eq!(a.n(), 0);
}

#[test]
fn same_subtree_multiple() {
    let f = numa_network();
    let a = run(
        &f,
        "required_NUMA=HW_NUMA_ROOT&resources_COMPUTE=VCPU:2,MEMORY_MB:512&resources_FPGA=FPGA:1&resources_GPU=VGPU:1\
         &required_SRIOV=CUSTOM_VNIC_TYPE_DIRECT&resources_NET1=NET_BW_EGR_KILOBIT_PER_SEC:100\
         &required_NET1=CUSTOM_PHYSNET1&resources_NET2=NET_BW_EGR_KILOBIT_PER_SEC:100&required_NET2=CUSTOM_PHYSNET2\
         &same_subtree=_NUMA,_COMPUTE,_GPU,_FPGA&same_subtree=_SRIOV,_NET1,_NET2&group_policy=none",
        V(36),
    )
    .ok();
    assert_eq!(a.n(), 1);
    assert_eq!(
        a.describe(),
        [[
            "numa0:VCPU=2",
            "numa0:MEMORY_MB=512",
            "fpga0:FPGA=1",
            "pgpu0:VGPU=1",
            "esn1:NET_BW_EGR_KILOBIT_PER_SEC=100",
            "esn2:NET_BW_EGR_KILOBIT_PER_SEC=100"
        ]]
    );
    let mut m = a.mappings()[0].clone();
    m.sort();
    assert_eq!(
        m,
        [
            "_COMPUTE=numa0",
            "_FPGA=fpga0",
            "_GPU=pgpu0",
            "_NET1=esn1",
            "_NET2=esn2",
            "_NUMA=numa0",
            "_SRIOV=sriov_agent"
        ]
    );
}

#[test]
fn same_subtree_overlapping_and_combined() {
    let f = numa_network();
    let base = "resources_COMPUTE=VCPU:1&required_NIC=CUSTOM_HW_NIC_ROOT&resources_PORT1=CUSTOM_VF:2\
                &required_PORT1=CUSTOM_PHYSNET1&group_policy=none";
    let a = run(&f, &format!("{base}&same_subtree=_NIC,_COMPUTE&same_subtree=_NIC,_PORT1"), V(36)).ok();
    assert_eq!((a.n(), a.n_summaries()), (4, 11));
    assert_eq!(a.amounts("cn2", "VCPU"), [1; 4]);
    for pf in ["pf1_1", "pf3_1", "pf2_1", "pf2_3"] {
        assert_eq!(a.amounts(pf, "CUSTOM_VF"), [2]);
    }
    let a = run(&f, &format!("{base}&same_subtree=_NIC,_COMPUTE,_PORT1"), V(36)).ok();
    assert_eq!((a.n(), a.n_summaries()), (12, 11));
    assert_eq!(a.amounts("cn2", "VCPU"), [1; 12]);
    for pf in ["pf1_1", "pf3_1", "pf2_1", "pf2_3"] {
        assert_eq!(a.amounts(pf, "CUSTOM_VF"), [2, 2, 2]);
    }
    let a = run(
        &f,
        "required_MULTI_ATTACH=COMPUTE_VOLUME_MULTI_ATTACH&resources_BW=NET_BW_EGR_KILOBIT_PER_SEC:100\
         &resources_COMPUTE=VCPU:4&same_subtree=_MULTI_ATTACH,_BW,_COMPUTE&group_policy=isolate",
        V(36),
    )
    .ok();
    assert_eq!(a.n(), 3);
}

// ---------------------------------------------------------------------------
// same-subtree-deep.yaml (DeepNUMANetworkFixture, 1.36)

#[test]
fn same_subtree_deep() {
    let f = deep_numa_network();
    for q in [
        "resources_COMPUTE=VCPU:1&required_COMPUTE=CUSTOM_FOO&required_NIC=CUSTOM_HW_NIC_ROOT&resources_PORT1=CUSTOM_VF:2\
         &required_PORT1=CUSTOM_PHYSNET1&same_subtree=_NIC,_COMPUTE&same_subtree=_NIC,_PORT1&group_policy=none",
        "resources_COMPUTE=VCPU:1&required_COMPUTE=CUSTOM_FOO&resources_PORT1=CUSTOM_VF:2&required_PORT1=CUSTOM_PHYSNET1\
         &same_subtree=_COMPUTE,_PORT1&group_policy=none",
        "resources_COMPUTE=VCPU:1&resources_PORT1=CUSTOM_VF:2&required_PORT1=CUSTOM_PHYSNET1\
         &same_subtree=_COMPUTE,_PORT1&group_policy=none",
    ] {
        let a = run(&f, q, V(36)).ok();
        assert_eq!((a.n(), a.n_summaries()), (4, 26), "{q}");
        assert_eq!(a.amounts("cn2", "VCPU"), [1; 4]);
        for pf in ["pf1_1", "pf3_1", "pf2_1", "pf2_3"] {
            assert_eq!(a.amounts(pf, "CUSTOM_VF"), [2]);
        }
    }
}

// ---------------------------------------------------------------------------
// allocation-candidates-mappings-numa.yaml (NUMANetworkFixture, 1.34)

#[test]
fn mappings_numa() {
    let f = numa_network();
    let a = run(&f, "resources=VCPU:1", V(34)).ok();
    assert_eq!((a.n(), a.n_summaries()), (3, 23));
    let m = a.mappings();
    assert!(m.iter().all(|m| m.len() == 1 && ["=cn2", "=numa0", "=numa1"].contains(&m[0].as_str())), "{m:?}");

    let a = run(&f, "resources_LEFT=VCPU:1&resources_RIGHT=VCPU:1&group_policy=isolate", V(34)).ok();
    assert_eq!((a.n(), a.n_summaries()), (2, 12));
    let mut m = a.mappings();
    m.sort();
    assert_eq!(m, [["_LEFT=numa0", "_RIGHT=numa1"], ["_LEFT=numa1", "_RIGHT=numa0"]]);

    let a = run(
        &f,
        "required_NET1=CUSTOM_PHYSNET1&resources_NET1=NET_BW_EGR_KILOBIT_PER_SEC:10&required_NET2=CUSTOM_PHYSNET2\
         &resources_NET2=NET_BW_EGR_KILOBIT_PER_SEC:20&resources=VCPU:1&group_policy=isolate",
        V(34),
    )
    .ok();
    assert_eq!((a.n(), a.n_summaries()), (2, 12));
    let mut m = a.mappings();
    m.sort();
    assert_eq!(m, [["_NET1=esn1", "_NET2=esn2", "=numa0"], ["_NET1=esn1", "_NET2=esn2", "=numa1"]]);

    let a = run(
        &f,
        "resources_BWA=NET_BW_EGR_KILOBIT_PER_SEC:10&required_BWA=CUSTOM_PHYSNET1\
         &resources_BWB=NET_BW_EGR_KILOBIT_PER_SEC:20&required_BWB=CUSTOM_PHYSNET1&group_policy=none",
        V(34),
    )
    .ok();
    assert_eq!((a.n(), a.n_summaries()), (1, 12));
    assert_eq!(a.mappings(), [["_BWA=esn1", "_BWB=esn1"]]);
    assert_eq!(a.describe(), [["esn1:NET_BW_EGR_KILOBIT_PER_SEC=30"]]);

    let a = run(
        &f,
        "required_NET1=CUSTOM_PHYSNET1&resources_NET1=NET_BW_EGR_KILOBIT_PER_SEC:10&required_NET2=CUSTOM_PHYSNET2\
         &resources_NET2=NET_BW_EGR_KILOBIT_PER_SEC:20&resources_COMPUTE=VCPU:1,MEMORY_MB:1024&group_policy=isolate",
        V(34),
    )
    .ok();
    assert_eq!((a.n(), a.n_summaries()), (2, 12));
    let mut m = a.mappings();
    m.sort();
    assert_eq!(m, [["_NET1=esn1", "_NET2=esn2", "_COMPUTE=numa0"], ["_NET1=esn1", "_NET2=esn2", "_COMPUTE=numa1"]]);
}

// ---------------------------------------------------------------------------
// allocation-candidates-mappings-sharing.yaml (GranularFixture, 1.34)

#[test]
fn mappings_sharing() {
    let f = granular();
    let a = run(&f, "resources=VCPU:1&required=HW_CPU_X86_SSE", V(34)).ok();
    assert_eq!((a.n(), a.n_summaries()), (1, 1));
    assert_eq!(a.mappings(), [["=cn_middle"]]);
    let a = run(&f, "resources=VCPU:1,DISK_GB:1&required=HW_CPU_X86_SSE", V(34)).ok();
    assert_eq!((a.n(), a.n_summaries()), (2, 3));
    let mut m = a.mappings();
    m.sort();
    assert_eq!(m, [["=cn_middle,shr_disk_1"], ["=cn_middle,shr_disk_2"]]);
    let a = run(
        &f,
        "resources=VCPU:1&resources_DISK_A=DISK_GB:1&resources_DISK_B=DISK_GB:1&required=HW_CPU_X86_SSE&group_policy=isolate",
        V(34),
    )
    .ok();
    assert_eq!((a.n(), a.n_summaries()), (2, 3));
    let mut m = a.mappings();
    m.sort();
    assert_eq!(
        m,
        [
            ["=cn_middle", "_DISK_A=shr_disk_1", "_DISK_B=shr_disk_2"],
            ["=cn_middle", "_DISK_A=shr_disk_2", "_DISK_B=shr_disk_1"]
        ]
    );
}

// ---------------------------------------------------------------------------
// allocation-candidates-root-required.yaml (NUMANetworkFixture, 1.35)

#[test]
fn root_required_errors() {
    let f = numa_network();
    let e = run(&f, "resources=VCPU:1&root_required=HW_CPU_X86_AVX2", V(34)).err();
    has(&e, "Invalid query string parameters");
    has(&e, "'root_required' does not match any of the regexes");
    let b =
        run(&f, "resources=VCPU:1&root_required=HW_CPU_X86_AVX2,HW_CPU_X86_SSE,!HW_CPU_X86_AVX2", V(35)).bad_request();
    has(&b.message, "Conflicting required and forbidden traits found in root_required: HW_CPU_X86_AVX2");
    assert_eq!(b.code, Some("placement.query.bad_value"));
    has(
        &run(&f, "resources=VCPU:1&root_required=CUSTOM_NO_EXIST,HW_CPU_X86_SSE,!HW_CPU_X86_AVX", V(35)).err(),
        "No such trait(s): CUSTOM_NO_EXIST",
    );
    has(
        &run(&f, "resources=VCPU:1&root_required=!CUSTOM_NO_EXIST,HW_CPU_X86_SSE,!HW_CPU_X86_AVX", V(35)).err(),
        "No such trait(s): CUSTOM_NO_EXIST",
    );
    let b = run(&f, "resources=VCPU:1&root_required=MISC_SHARES_VIA_AGGREGATE&root_required=!HW_NUMA_ROOT", V(35))
        .bad_request();
    has(&b.message, "Query parameter 'root_required' may be specified only once.");
    assert_eq!(b.code, Some("placement.query.duplicate_key"));
}

#[test]
fn root_required_filters() {
    let f = numa_network();
    let n = |q: &str| run(&f, q, V(35)).ok().n();
    assert_eq!(n("resources=VCPU:1&root_required=HW_NUMA_ROOT"), 0);
    assert_eq!(n("resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&root_required=MISC_SHARES_VIA_AGGREGATE"), 0);
    assert_eq!(n("resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&root_required=HW_NUMA_ROOT"), 0);
    assert_eq!(n("resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&root_required=HW_CPU_X86_AVX2"), 0);

    let a = run(&f, "resources=VCPU:1,MEMORY_MB:1024&root_required=COMPUTE_VOLUME_MULTI_ATTACH", V(35)).ok();
    assert_eq!(a.n(), 4);
    assert_eq!(a.amounts("numa0", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("numa1", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("numa0", "MEMORY_MB"), [1024, 1024]);
    assert_eq!(a.amounts("numa1", "MEMORY_MB"), [1024, 1024]);

    let a = run(
        &f,
        "resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=none&root_required=COMPUTE_VOLUME_MULTI_ATTACH",
        V(35),
    )
    .ok();
    assert_eq!(a.n(), 4);
    assert!(a.summarized("numa0") && a.summarized("numa1"));

    let a = run(
        &f,
        "resources1=VCPU:1&resources2=MEMORY_MB:1024&group_policy=isolate&root_required=COMPUTE_VOLUME_MULTI_ATTACH",
        V(35),
    )
    .ok();
    assert_eq!(a.n(), 2);
    assert_eq!(a.amounts("numa0", "VCPU"), [1]);
    assert_eq!(a.amounts("numa1", "VCPU"), [1]);
    assert_eq!(a.amounts("numa0", "MEMORY_MB"), [1024]);
    assert_eq!(a.amounts("numa1", "MEMORY_MB"), [1024]);

    let a =
        run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&root_required=COMPUTE_VOLUME_MULTI_ATTACH", V(35)).ok();
    assert_eq!(a.n(), 4);
    let numa1 = a.snap.provider(a.snap.index_of(&f.ids["numa1"]).unwrap());
    assert_eq!(numa1.traits, ["HW_NUMA_ROOT", "CUSTOM_FOO"]);

    let a = run(
        &f,
        "resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&&group_policy=none&root_required=COMPUTE_VOLUME_MULTI_ATTACH",
        V(35),
    )
    .ok();
    assert_eq!(a.n(), 2);
    assert_eq!(a.amounts("numa0", "VCPU"), [1]);
    assert_eq!(a.amounts("numa1", "VCPU"), [1]);
    assert_eq!(a.amounts("numa0", "MEMORY_MB"), [1024]);
    assert_eq!(a.amounts("numa1", "MEMORY_MB"), [1024]);
}

#[test]
fn root_required_trait_on_root_vs_child() {
    let f = numa_network();
    for q in [
        "resources=VCPU:1,DISK_GB:100&required=CUSTOM_FOO",
        "resources1=VCPU:1&required1=CUSTOM_FOO&resources2=DISK_GB:100&group_policy=none",
    ] {
        let a = run(&f, q, V(35)).ok();
        assert_eq!(a.n(), 3, "{q}");
        assert_eq!(a.amounts("numa1", "VCPU"), [1]);
        assert_eq!(a.amounts("cn2", "VCPU"), [1, 1]);
        assert_eq!(a.amounts("ss1", "DISK_GB"), [100, 100]);
        assert_eq!(a.amounts("cn2", "DISK_GB"), [100]);
    }
    for q in [
        "resources=VCPU:1,DISK_GB:100&root_required=CUSTOM_FOO",
        "resources1=VCPU:1&resources2=DISK_GB:100&group_policy=none&root_required=CUSTOM_FOO",
    ] {
        let a = run(&f, q, V(35)).ok();
        assert_eq!(a.n(), 2, "{q}");
        assert_eq!(a.amounts("cn2", "VCPU"), [1, 1]);
        assert_eq!(a.amounts("ss1", "DISK_GB"), [100]);
        assert_eq!(a.amounts("cn2", "DISK_GB"), [100]);
    }
}

#[test]
fn root_required_forbidden() {
    let f = numa_network();
    let a = run(&f, "resources=VCPU:3&root_required=!HW_NUMA_ROOT", V(35)).ok();
    assert_eq!(a.n(), 2);
    assert_eq!(a.amounts("numa1", "VCPU"), [3]);
    assert_eq!(a.amounts("cn2", "VCPU"), [3]);
    let a = run(&f, "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&root_required=!MISC_SHARES_VIA_AGGREGATE", V(35)).ok();
    assert_eq!(a.n(), 6);
    assert_eq!(a.amounts("ss1", "DISK_GB"), [100; 5]);
    for q in [
        "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&root_required=CUSTOM_FOO,!HW_NUMA_ROOT",
        "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&root_required=CUSTOM_FOO,!COMPUTE_VOLUME_MULTI_ATTACH",
    ] {
        let a = run(&f, q, V(35)).ok();
        assert_eq!(a.n(), 2);
        assert_eq!(a.amounts("cn2", "VCPU"), [1, 1]);
        assert_eq!(a.amounts("cn2", "MEMORY_MB"), [1024, 1024]);
        assert_eq!(a.amounts("cn2", "DISK_GB"), [100]);
        assert_eq!(a.amounts("ss1", "DISK_GB"), [100]);
    }
    let n = |q: &str| run(&f, q, V(35)).ok().n();
    assert_eq!(
        n("resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100&root_required=!CUSTOM_FOO,!COMPUTE_VOLUME_MULTI_ATTACH"),
        0
    );
    let a = run(
        &f,
        "resources1=VCPU:1,MEMORY_MB:1024&resources2=DISK_GB:100&&group_policy=none&root_required=!CUSTOM_FOO",
        V(35),
    )
    .ok();
    assert_eq!(a.n(), 2);
    assert_eq!(a.amounts("numa0", "VCPU"), [1]);
    assert_eq!(a.amounts("numa1", "VCPU"), [1]);
    assert_eq!(a.amounts("ss1", "DISK_GB"), [100, 100]);
    for q in [
        "resources=VCPU:1&required=CUSTOM_FOO&root_required=CUSTOM_FOO",
        "resources1=VCPU:1&required1=CUSTOM_FOO&root_required=CUSTOM_FOO",
    ] {
        let a = run(&f, q, V(35)).ok();
        assert_eq!(a.n(), 1);
        assert_eq!(a.amounts("cn2", "VCPU"), [1]);
    }
    let a = run(&f, "resources1=VCPU:1&required1=CUSTOM_FOO&root_required=!CUSTOM_FOO", V(35)).ok();
    assert_eq!(a.n(), 1);
    assert_eq!(a.amounts("numa1", "VCPU"), [1]);
    assert_eq!(n("resources1=VCPU:1&required1=!CUSTOM_FOO&root_required=CUSTOM_FOO"), 0);
}

// ---------------------------------------------------------------------------
// allocation-candidates-any-traits.yaml (GranularFixture, latest)

#[test]
fn any_traits() {
    let f = granular();
    for q in [
        "required=in:CUSTOM_FOO,HW_CPU_X86_MMX&resources=VCPU:1",
        "requiredX=in:CUSTOM_FOO,HW_CPU_X86_MMX&resourcesX=VCPU:1",
    ] {
        has(
            &run(&f, q, V(38)).err(),
            "The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only supported since microversion 1.39.",
        );
    }
    assert_eq!(run(&f, "required=CUSTOM_FOO&required=HW_CPU_X86_MMX&resources=VCPU:1", V(38)).ok().n(), 1);
    assert_eq!(run(&f, "requiredX=CUSTOM_FOO&requiredX=HW_CPU_X86_MMX&resourcesX=VCPU:1", V(38)).ok().n(), 1);
    // At 1.39 repeated `required` AND together: no provider has both.
    assert_eq!(run(&f, "required=CUSTOM_FOO&required=HW_CPU_X86_MMX&resources=VCPU:1", V(39)).ok().n(), 0);

    let a = run(
        &f,
        "required=in:HW_GPU_API_DXVA,HW_NIC_ACCEL_TLS&required=HW_CPU_X86_AVX,!CUSTOM_FOO&resources=VCPU:1,DISK_GB:1",
        V(39),
    )
    .ok();
    assert_eq!(a.n(), 2);
    assert_eq!(a.amounts("cn_middle", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("shr_disk_1", "DISK_GB"), [1]);
    assert_eq!(a.amounts("shr_disk_2", "DISK_GB"), [1]);

    let a = run(
        &f,
        "required=in:HW_CPU_X86_MMX,HW_NIC_ACCEL_TLS&required=in:CUSTOM_DISK_SSD,CUSTOM_FOO&resources=VCPU:1,DISK_GB:1",
        V(39),
    )
    .ok();
    assert_eq!(a.n(), 3);
    assert_eq!(a.amounts("cn_middle", "VCPU"), [1]);
    assert_eq!(a.amounts("shr_disk_1", "DISK_GB"), [1]);
    assert_eq!(a.amounts("cn_right", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("cn_right", "DISK_GB"), [1]);
    assert_eq!(a.amounts("shr_disk_2", "DISK_GB"), [1]);
}

// ---------------------------------------------------------------------------
// allocation-candidates-any-traits-groups.yaml (NeutronQoSMultiSegmentFixture, latest)

#[test]
fn any_traits_groups() {
    let f = neutron_qos();
    let a = run(
        &f,
        "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:10&resources-port-normal-pps=NET_PACKET_RATE_KILOPACKET_PER_SEC:1000\
         &required-port-normal-pps=CUSTOM_VNIC_TYPE_NORMAL\
         &resources-port-normal-bw=NET_BW_EGR_KILOBIT_PER_SEC:1000,NET_BW_IGR_KILOBIT_PER_SEC:1000\
         &required-port-normal-bw=CUSTOM_VNIC_TYPE_NORMAL,CUSTOM_PHYSNET_OTHER\
         &same_subtree=-port-normal-pps,-port-normal-bw&group_policy=none",
        V(39),
    )
    .ok();
    assert_eq!(a.n(), 1);
    assert_eq!(
        a.describe(),
        [[
            "compute0:VCPU=1",
            "compute0:MEMORY_MB=1024",
            "compute0:DISK_GB=10",
            "compute0:ovs_agent:NET_PACKET_RATE_KILOPACKET_PER_SEC=1000",
            "compute0:br_ex:NET_BW_EGR_KILOBIT_PER_SEC=1000",
            "compute0:br_ex:NET_BW_IGR_KILOBIT_PER_SEC=1000"
        ]]
    );

    let a = run(
        &f,
        "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:10&resources-port-msn-pps=NET_PACKET_RATE_KILOPACKET_PER_SEC:1000\
         &required-port-msn-pps=CUSTOM_VNIC_TYPE_NORMAL\
         &resources-port-msn-bw=NET_BW_EGR_KILOBIT_PER_SEC:1000,NET_BW_IGR_KILOBIT_PER_SEC:1000\
         &required-port-msn-bw=CUSTOM_VNIC_TYPE_NORMAL&required-port-msn-bw=in:CUSTOM_PHYSNET_MSN_S1,CUSTOM_PHYSNET_MSN_S2\
         &same_subtree=-port-msn-pps,-port-msn-bw&group_policy=none",
        V(39),
    )
    .ok();
    assert_eq!(a.n(), 4);
    assert_eq!(a.amounts("compute1", "VCPU"), [1]);
    assert_eq!(a.amounts("compute2", "VCPU"), [1]);
    assert_eq!(a.amounts("compute3", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("compute3:ovs_agent", "NET_PACKET_RATE_KILOPACKET_PER_SEC"), [1000, 1000]);
    assert_eq!(a.amounts("compute3:br_ex", "NET_BW_IGR_KILOBIT_PER_SEC"), [1000]);
    assert_eq!(a.amounts("compute3:br_ex2", "NET_BW_IGR_KILOBIT_PER_SEC"), [1000]);

    let two_ports = |bw: i64| {
        format!(
            "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:10\
             &resources-port1-msn-pps=NET_PACKET_RATE_KILOPACKET_PER_SEC:100&required-port1-msn-pps=CUSTOM_VNIC_TYPE_NORMAL\
             &resources-port1-msn-bw=NET_BW_EGR_KILOBIT_PER_SEC:{bw},NET_BW_IGR_KILOBIT_PER_SEC:{bw}\
             &required-port1-msn-bw=CUSTOM_VNIC_TYPE_NORMAL\
             &required-port1-msn-bw=in:CUSTOM_PHYSNET_MSN_S1,CUSTOM_PHYSNET_MSN_S2\
             &same_subtree=-port1-msn-pps,-port1-msn-bw\
             &resources-port2-msn-pps=NET_PACKET_RATE_KILOPACKET_PER_SEC:100&required-port2-msn-pps=CUSTOM_VNIC_TYPE_NORMAL\
             &resources-port2-msn-bw=NET_BW_EGR_KILOBIT_PER_SEC:{bw},NET_BW_IGR_KILOBIT_PER_SEC:{bw}\
             &required-port2-msn-bw=CUSTOM_VNIC_TYPE_NORMAL\
             &required-port2-msn-bw=in:CUSTOM_PHYSNET_MSN_S1,CUSTOM_PHYSNET_MSN_S2\
             &same_subtree=-port2-msn-pps,-port2-msn-bw&group_policy=none"
        )
    };
    let a = run(&f, &two_ports(1000), V(39)).ok();
    assert_eq!(a.n(), 4);
    assert_eq!(a.amounts("compute1:ovs_agent", "NET_PACKET_RATE_KILOPACKET_PER_SEC"), [200]);
    assert_eq!(a.amounts("compute1:br_ex", "NET_BW_IGR_KILOBIT_PER_SEC"), [2000]);
    assert_eq!(a.amounts("compute2:br_ex", "NET_BW_IGR_KILOBIT_PER_SEC"), [2000]);
    assert_eq!(a.amounts("compute3", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("compute3:ovs_agent", "NET_PACKET_RATE_KILOPACKET_PER_SEC"), [200, 200]);
    assert_eq!(a.amounts("compute3:br_ex", "NET_BW_IGR_KILOBIT_PER_SEC"), [1000, 1000]);
    assert_eq!(a.amounts("compute3:br_ex2", "NET_BW_IGR_KILOBIT_PER_SEC"), [1000, 1000]);

    let a = run(&f, &two_ports(100), V(39)).ok();
    assert_eq!(a.n(), 6);
    assert_eq!(a.amounts("compute1:br_ex", "NET_BW_EGR_KILOBIT_PER_SEC"), [200]);
    assert_eq!(a.amounts("compute3", "VCPU"), [1; 4]);
    assert_eq!(a.amounts("compute3:br_ex", "NET_BW_IGR_KILOBIT_PER_SEC"), [100, 100, 200]);
    assert_eq!(a.amounts("compute3:br_ex2", "NET_BW_EGR_KILOBIT_PER_SEC"), [100, 100, 200]);
}

// ---------------------------------------------------------------------------
// allocation-candidates-member-of.yaml (NonSharedStorageFixture, 1.24)

#[test]
fn member_of_errors() {
    let f = non_shared_storage();
    let e = run(&f, "resources=VCPU:1&member_of=in:{aggA},{aggB}", V(18)).err();
    has(&e, "Invalid query string parameters");
    has(&e, "'member_of' was unexpected");
    let r = "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100";
    has(
        &run(&f, &format!("{r}&member_of=INVALID_UUID"), V(24)).err(),
        "Expected 'member_of' parameter to contain valid UUID(s).",
    );
    has(
        &run(&f, &format!("{r}&member_of={{aggA}},{{aggB}}"), V(24)).err(),
        "Multiple values for 'member_of' must be prefixed with the 'in:' or '!in:' keyword using the valid microversion.",
    );
    has(
        &run(&f, &format!("{r}&member_of=in:{{aggA}},INVALID_UUID"), V(24)).err(),
        "Expected 'member_of' parameter to contain valid UUID(s).",
    );
    has(
        &run(&f, &format!("&member_of=in:&{r}"), V(24)).err(),
        "Expected 'member_of' parameter to contain valid UUID(s).",
    );
    has(
        &run(&f, &format!("{r}&member_of={{aggA}}&member_of={{aggB}}"), V(23)).err(),
        "Multiple member_of parameters are not supported",
    );
    for q in ["resources=VCPU:1&member_of=!{aggA}", "resources=VCPU:1&member_of=!in:{aggA}"] {
        has(&run(&f, q, V(31)).err(), "Forbidden member_of parameters are not supported in the specified microversion");
    }
    has(&run(&f, "member_of=!{aggA}", V(32)).err(), "All member_of parameters must be associated with resources");
    for q in ["resources=VCPU:1&member_of=!(^o^)", "resources=VCPU:1&member_of=in:{aggA},!{aggB}"] {
        has(
            &run(&f, q, V(32)).err(),
            "Invalid query string parameters: Expected 'member_of' parameter to contain valid UUID(s).",
        );
    }
}

#[test]
fn member_of_scenarios() {
    let mut f = non_shared_storage();
    let r = "resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100";
    assert_eq!(run(&f, &format!("{r}&member_of={{aggA}}"), V(24)).ok().n(), 0);
    f.aggs("cn1", &["aggA"]);
    assert_eq!(run(&f, &format!("{r}&member_of=in:{{aggA}},{{aggB}}"), V(24)).ok().n(), 1);
    f.aggs("cn2", &["aggB"]);
    assert_eq!(run(&f, &format!("{r}&member_of=in:{{aggA}},{{aggB}}"), V(24)).ok().n(), 2);
    assert_eq!(run(&f, &format!("{r}&member_of={{aggC}}"), V(24)).ok().n(), 0);
    f.aggs("cn1", &["aggA", "aggC"]);
    assert_eq!(run(&f, &format!("{r}&member_of=in:{{aggA}},{{aggB}}"), V(24)).ok().n(), 2);
    assert_eq!(run(&f, &format!("{r}&member_of={{aggA}}&member_of={{aggB}}"), V(24)).ok().n(), 0);
    f.aggs("cn2", &["aggA", "aggB"]);
    assert_eq!(run(&f, &format!("{r}&member_of={{aggA}}&member_of={{aggB}}"), V(24)).ok().n(), 1);

    let a = run(&f, "resources=VCPU:1&member_of=!{aggC}", V(32)).ok();
    assert_eq!((a.n(), a.n_summaries()), (2, 2));
    assert_eq!(a.amounts("cn2", "VCPU"), [1]);
    assert_eq!(a.amounts("cn3", "VCPU"), [1]);
    let a = run(&f, "resources=VCPU:1&member_of=!in:{aggB},{aggC}", V(32)).ok();
    assert_eq!((a.n(), a.n_summaries()), (1, 1));
    assert_eq!(a.amounts("cn3", "VCPU"), [1]);
    for q in [
        "resources=VCPU:1&member_of=!{aggB}&member_of={aggC}",
        "resources=VCPU:1&member_of=!{aggB}&member_of=in:{aggB},{aggC}",
    ] {
        let a = run(&f, q, V(32)).ok();
        assert_eq!((a.n(), a.n_summaries()), (1, 1));
        assert_eq!(a.amounts("cn1", "VCPU"), [1]);
    }
    for q in [
        "resources=VCPU:1&member_of=!in:{aggB},{aggC}&member_of={aggA}",
        "resources=VCPU:1&member_of=!{aggB}&member_of={aggB}",
    ] {
        let a = run(&f, q, V(32)).ok();
        assert_eq!((a.n(), a.n_summaries()), (0, 0));
    }
}

// ---------------------------------------------------------------------------
// allocation-candidates-bug-1792503.yaml (NUMAAggregateFixture, 1.32)

#[test]
fn bug_1792503_aggregates_on_trees() {
    let f = numa_aggregate();
    let run32 = |q: &str| run(&f, q, V(32)).ok();
    for q in ["resources=VCPU:1", "resources=VCPU:1&member_of={aggA}"] {
        let a = run32(q);
        assert_eq!(a.n(), 4);
        for n in ["numa1_1", "numa1_2", "numa2_1", "numa2_2"] {
            assert_eq!(a.amounts(n, "VCPU"), [1]);
        }
    }
    assert_eq!(run32("resources1=VCPU:1&member_of1={aggA}").n(), 0);
    let a = run32("resources=VCPU:1&member_of={aggB}");
    assert_eq!(a.n(), 2);
    assert_eq!(a.amounts("numa2_1", "VCPU"), [1]);
    assert_eq!(a.amounts("numa2_2", "VCPU"), [1]);
    for q in ["resources=VCPU:1&member_of={aggC}", "resources1=VCPU:1&member_of1={aggC}"] {
        let a = run32(q);
        assert_eq!(a.n(), 1);
        assert_eq!(a.amounts("numa1_1", "VCPU"), [1]);
    }
    let a = run32("resources=VCPU:1,DISK_GB:1000");
    assert_eq!(a.n(), 6);
    assert_eq!(a.amounts("numa1_1", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("numa1_2", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("numa2_1", "VCPU"), [1]);
    assert_eq!(a.amounts("numa2_2", "VCPU"), [1]);
    assert_eq!(a.amounts("ss1", "DISK_GB"), [1000; 4]);
    assert_eq!(a.amounts("ss2", "DISK_GB"), [1000; 2]);
    let a = run32("resources=VCPU:1,DISK_GB:1000&member_of={aggA}");
    assert_eq!(a.n(), 4);
    assert_eq!(a.amounts("ss1", "DISK_GB"), [1000; 4]);
    assert_eq!(run32("resources=VCPU:1,DISK_GB:1000&member_of={aggB}").n(), 0);
    let a = run32("resources=VCPU:1,DISK_GB:1000&member_of={aggC}");
    assert_eq!(a.describe(), [["ss2:DISK_GB=1000", "numa1_1:VCPU=1"]]);
    assert_eq!(run32("resources=VCPU:1,DISK_GB:1000&member_of=!{aggA}").n(), 0);
    let a = run32("resources=VCPU:1,DISK_GB:1000&member_of=!{aggB}");
    assert_eq!(a.n(), 4);
    assert_eq!(a.amounts("numa1_1", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("numa1_2", "VCPU"), [1, 1]);
    assert_eq!(a.amounts("ss1", "DISK_GB"), [1000, 1000]);
    assert_eq!(a.amounts("ss2", "DISK_GB"), [1000, 1000]);
    for q in [
        "resources=VCPU:1,DISK_GB:1000&member_of=!{aggC}",
        "resources=VCPU:1,DISK_GB:1000&member_of=in:{aggA},{aggB}&member_of=!{aggC}",
    ] {
        let a = run32(q);
        assert_eq!(a.n(), 3, "{q}");
        assert_eq!(a.amounts("numa1_2", "VCPU"), [1]);
        assert_eq!(a.amounts("numa2_1", "VCPU"), [1]);
        assert_eq!(a.amounts("numa2_2", "VCPU"), [1]);
        assert_eq!(a.amounts("ss1", "DISK_GB"), [1000; 3]);
    }
    let a = run32("resources=VCPU:1,DISK_GB:1000&member_of={aggA}&member_of=!in:{aggB},{aggC}");
    assert_eq!(a.describe(), [["ss1:DISK_GB=1000", "numa1_2:VCPU=1"]]);
}

// ---------------------------------------------------------------------------
// shared-resources.yaml (APIFixture + providers made by the test)

#[test]
fn shared_custom_resource() {
    let mut f = Fx::default();
    f.rp("cn1", None, &[]).inv("cn1", "VCPU", inv(20)).inv("cn1", "MEMORY_MB", inv(100000));
    f.rp("cn2", None, &[]).inv("cn2", "VCPU", inv(20)).inv("cn2", "MEMORY_MB", inv(100000)).inv(
        "cn2",
        "DISK_GB",
        inv(100000),
    );
    f.rp("shared", None, &[]).inv("shared", "CUSTOM_MAGIC", inv(5));
    let a = run(&f, "resources=VCPU:1,CUSTOM_MAGIC:1", V(39)).ok();
    assert_eq!((a.n(), a.n_summaries()), (0, 0));
    f.aggs("shared", &["agg"]).aggs("cn1", &["agg"]);
    let a = run(&f, "resources=VCPU:1,CUSTOM_MAGIC:1", V(39)).ok();
    assert_eq!((a.n(), a.n_summaries()), (0, 0));
    f.traits("shared", &["MISC_SHARES_VIA_AGGREGATE"]);
    let a = run(&f, "resources=VCPU:1,CUSTOM_MAGIC:1", V(39)).ok();
    assert_eq!((a.n(), a.n_summaries()), (1, 2));
    assert_eq!(a.describe(), [["cn1:VCPU=1", "shared:CUSTOM_MAGIC=1"]]);
}

// ---------------------------------------------------------------------------
// allocations-1.28.yaml (the candidate it writes back)

#[test]
fn usage_reduces_capacity() {
    let mut f = Fx::default();
    f.rp("rp", None, &["agg"]).inv("rp", "VCPU", inv(4));
    f.rp("ssd", None, &["agg"])
        .inv("ssd", "DISK_GB", inv(500))
        .traits("ssd", &["MISC_SHARES_VIA_AGGREGATE", "STORAGE_DISK_SSD"]);
    let a = run(&f, "resources=VCPU:1,DISK_GB:200&required=STORAGE_DISK_SSD", V(28)).ok();
    assert_eq!(a.describe(), [["rp:VCPU=1", "ssd:DISK_GB=200"]]);
    f.used("ssd", "DISK_GB", 301);
    assert_eq!(run(&f, "resources=VCPU:1,DISK_GB:200&required=STORAGE_DISK_SSD", V(28)).ok().n(), 0);
}
