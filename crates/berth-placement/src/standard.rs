//! The standard resource classes (os-resource-classes 1.1.0) and standard
//! traits (os-traits 3.9.0) every Placement database starts with.

/// Standard resource classes in os-resource-classes order. The position is the
/// class id upstream uses, so the order is part of the data.
pub const RESOURCE_CLASSES: [&str; 21] = [
    "VCPU",
    "MEMORY_MB",
    "DISK_GB",
    "PCI_DEVICE",
    "SRIOV_NET_VF",
    "NUMA_SOCKET",
    "NUMA_CORE",
    "NUMA_THREAD",
    "NUMA_MEMORY_MB",
    "IPV4_ADDRESS",
    "VGPU",
    "VGPU_DISPLAY_HEAD",
    "NET_BW_EGR_KILOBIT_PER_SEC",
    "NET_BW_IGR_KILOBIT_PER_SEC",
    "PCPU",
    "MEM_ENCRYPTION_CONTEXT",
    "FPGA",
    "PGPU",
    "NET_PACKET_RATE_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
];

static TRAITS_DATA: &str = include_str!("../data/os-traits-3.9.0.txt");

/// Every standard trait name, sorted.
pub fn traits() -> impl Iterator<Item = &'static str> {
    TRAITS_DATA.lines().map(str::trim).filter(|l| !l.is_empty())
}

pub fn is_standard_class(name: &str) -> bool {
    RESOURCE_CLASSES.contains(&name)
}

pub fn is_standard_trait(name: &str) -> bool {
    traits().any(|t| t == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traits_list_is_the_release() {
        let all: Vec<_> = traits().collect();
        assert_eq!(all.len(), 377);
        assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert!(is_standard_trait("MISC_SHARES_VIA_AGGREGATE"));
        assert!(is_standard_trait("COMPUTE_STATUS_DISABLED"));
        assert!(is_standard_trait("HW_CPU_X86_AVX2"));
        assert!(!is_standard_trait("CUSTOM_FOO"));
        assert!(all.iter().all(|t| !t.starts_with("CUSTOM_")));
    }

    #[test]
    fn classes() {
        assert!(is_standard_class("VCPU"));
        assert!(!is_standard_class("CUSTOM_X"));
        assert_eq!(RESOURCE_CLASSES[2], "DISK_GB");
    }
}
