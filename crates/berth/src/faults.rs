//! Fault injection for `berth chaos`, switched on per process with the
//! hidden `--fault-dir DIR` flag of `berth up` and `berth compute`.
//!
//! The chaos driver steers every process of the cloud through files in
//! DIR, which a watcher in each process reads every [`POLL`]:
//! - `placement-down`: while it exists, this process cannot reach
//!   Placement. Every other write is still delivered and only its answer
//!   is lost (a timeout after the server acted), the harder half of a real
//!   outage.
//! - `driver-fail-rate`: a number in 0..=1; each operation of the
//!   simulated hypervisor that can fail (see `FakeDriver::fail`) fails
//!   with this probability, drawn from a generator seeded with
//!   `--fault-seed` and the host name, so a run can be replayed.
//!
//! A process without `--fault-dir` has none of this: no watcher, no
//! wrapper, nothing on the request path.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_placement_client::{
    BoxFuture, PlacementClient, PlacementError, PlacementRequest, PlacementResponse, Result as PlacementResult,
};
use rand::{Rng, SeedableRng};

/// How often the watcher reads the fault files.
pub const POLL: Duration = Duration::from_millis(50);
/// File whose presence cuts this process off Placement.
pub const PLACEMENT_DOWN: &str = "placement-down";
/// File holding the probability of a simulated hypervisor failure.
pub const DRIVER_FAIL_RATE: &str = "driver-fail-rate";

/// The faults currently switched on, as last read from the fault files.
#[derive(Debug)]
pub struct Faults {
    dir: PathBuf,
    seed: u64,
    placement_down: AtomicBool,
    /// Failure probability in millionths.
    driver_fail_ppm: AtomicU32,
}

impl Faults {
    /// Read the fault files now and every [`POLL`] from now on.
    pub fn watch(dir: &Path, seed: u64) -> Arc<Faults> {
        let f = Arc::new(Faults {
            dir: dir.to_path_buf(),
            seed,
            placement_down: AtomicBool::new(false),
            driver_fail_ppm: AtomicU32::new(0),
        });
        f.read();
        let weak = Arc::downgrade(&f);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL).await;
                match weak.upgrade() {
                    Some(f) => f.read(),
                    None => return,
                }
            }
        });
        f
    }

    fn read(&self) {
        self.placement_down.store(self.dir.join(PLACEMENT_DOWN).exists(), Ordering::Relaxed);
        let rate = std::fs::read_to_string(self.dir.join(DRIVER_FAIL_RATE))
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|r| r.is_finite())
            .map_or(0, |r| (r.clamp(0.0, 1.0) * 1e6) as u32);
        self.driver_fail_ppm.store(rate, Ordering::Relaxed);
    }

    pub fn placement_down(&self) -> bool {
        self.placement_down.load(Ordering::Relaxed)
    }

    /// The failure oracle of one host's simulated hypervisor: a generator
    /// seeded with the run's seed and the host name.
    pub fn driver_oracle(self: &Arc<Self>, host: &str) -> berth_compute::FailureOracle {
        let seed = host
            .bytes()
            .fold(self.seed ^ 0x9e37_79b9_7f4a_7c15, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
        let rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(seed));
        let faults = self.clone();
        let host = host.to_string();
        Arc::new(move |op: &str| {
            let ppm = faults.driver_fail_ppm.load(Ordering::Relaxed);
            let fail = ppm > 0 && rng.lock().unwrap_or_else(|p| p.into_inner()).random_range(0..1_000_000) < ppm;
            if fail {
                tracing::info!(%host, op, "injected hypervisor failure");
            }
            fail
        })
    }
}

/// A Placement client that fails while `placement-down` exists.
pub struct FaultyPlacement {
    inner: Arc<dyn PlacementClient>,
    faults: Arc<Faults>,
    refused: AtomicU64,
}

impl FaultyPlacement {
    pub fn new(inner: Arc<dyn PlacementClient>, faults: Arc<Faults>) -> FaultyPlacement {
        FaultyPlacement { inner, faults, refused: AtomicU64::new(0) }
    }
}

impl PlacementClient for FaultyPlacement {
    fn send(&self, req: PlacementRequest) -> BoxFuture<'_, PlacementResult<PlacementResponse>> {
        Box::pin(async move {
            if !self.faults.placement_down() {
                return self.inner.send(req).await;
            }
            let n = self.refused.fetch_add(1, Ordering::Relaxed);
            let write = req.method != http::Method::GET;
            let what = format!("{} {}", req.method, req.path);
            if write && n % 2 == 1 {
                // Delivered, answer lost.
                let _ = self.inner.send(req).await;
                return Err(PlacementError::Unavailable(format!("{what}: no answer (injected outage)")));
            }
            Err(PlacementError::Unavailable(format!("{what}: connection refused (injected outage)")))
        })
    }
}

/// The hidden flags that switch fault injection on in a process.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FaultArgs {
    /// Directory of fault files written by `berth chaos` (testing only).
    #[arg(long, hide = true)]
    pub fault_dir: Option<PathBuf>,
    /// Seed of the injected hypervisor failures (testing only).
    #[arg(long, hide = true, default_value_t = 0)]
    pub fault_seed: u64,
}

impl FaultArgs {
    /// The watcher, when `--fault-dir` is given.
    pub fn start(&self) -> Option<Arc<Faults>> {
        let dir = self.fault_dir.as_ref()?;
        tracing::warn!(dir = %dir.display(), "fault injection is on (berth chaos)");
        Some(Faults::watch(dir, self.fault_seed))
    }
}

/// `client`, behind the Placement fault switch when faults are on.
pub fn placement(client: Arc<dyn PlacementClient>, faults: &Option<Arc<Faults>>) -> Arc<dyn PlacementClient> {
    match faults {
        Some(f) => Arc::new(FaultyPlacement::new(client, f.clone())),
        None => client,
    }
}

/// The simulated hypervisor of `host`, failing at random when faults are on.
pub fn driver(host: &str, faults: &Option<Arc<Faults>>) -> Arc<berth_compute::FakeDriver> {
    match faults {
        Some(f) => berth_compute::FakeDriver::with_failures(f.driver_oracle(host)),
        None => berth_compute::FakeDriver::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_switch_faults_on_and_off() {
        let dir = std::env::temp_dir().join(format!("berth-faults-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = Faults::watch(&dir, 7);
        assert!(!f.placement_down());
        let oracle = f.driver_oracle("compute1");
        assert!((0..100).all(|_| !oracle("finish_resize")), "no rate file: no failures");
        std::fs::write(dir.join(PLACEMENT_DOWN), b"").unwrap();
        std::fs::write(dir.join(DRIVER_FAIL_RATE), b"1\n").unwrap();
        f.read();
        assert!(f.placement_down());
        assert!((0..100).all(|_| oracle("finish_resize")), "rate 1: every call fails");
        std::fs::write(dir.join(DRIVER_FAIL_RATE), b"0.5").unwrap();
        f.read();
        let fails = (0..1000).filter(|_| oracle("rebuild")).count();
        assert!((350..650).contains(&fails), "rate 0.5: {fails} of 1000");
        // The same seed and host draw the same sequence.
        let (a, b) = (f.driver_oracle("compute2"), f.driver_oracle("compute2"));
        let sa: Vec<bool> = (0..64).map(|_| a("x")).collect();
        let sb: Vec<bool> = (0..64).map(|_| b("x")).collect();
        assert_eq!(sa, sb);
        std::fs::remove_file(dir.join(PLACEMENT_DOWN)).unwrap();
        std::fs::write(dir.join(DRIVER_FAIL_RATE), b"not a number").unwrap();
        f.read();
        assert!(!f.placement_down());
        assert!((0..100).all(|_| !oracle("finish_resize")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A Placement stand-in that counts the requests it receives.
    struct Counting(AtomicU64);

    impl PlacementClient for Counting {
        fn send(&self, _req: PlacementRequest) -> BoxFuture<'_, PlacementResult<PlacementResponse>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(PlacementResponse { status: 204, body: serde_json::Value::Null }) })
        }
    }

    #[tokio::test]
    async fn an_outage_refuses_reads_and_loses_half_the_writes_answers() {
        let dir = std::env::temp_dir().join(format!("berth-faults-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = Faults::watch(&dir, 1);
        let inner = Arc::new(Counting(AtomicU64::new(0)));
        let p = FaultyPlacement::new(inner.clone(), f.clone());
        assert!(p.send(PlacementRequest::get("/")).await.is_ok());
        std::fs::write(dir.join(PLACEMENT_DOWN), b"").unwrap();
        f.read();
        for _ in 0..4 {
            let e = p.send(PlacementRequest::get("/")).await.unwrap_err();
            assert!(e.is_unavailable());
        }
        assert_eq!(inner.0.load(Ordering::SeqCst), 1, "reads never reach Placement during an outage");
        for _ in 0..4 {
            let e = p.send(PlacementRequest::delete("/allocations/x")).await.unwrap_err();
            assert!(e.is_unavailable());
        }
        assert_eq!(inner.0.load(Ordering::SeqCst), 3, "two of four writes were delivered, their answers lost");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
