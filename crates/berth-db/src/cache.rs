//! A read cache kept exact within its process: entries are dropped by
//! [`ReadCache::invalidate`], which the owner calls from a commit hook (or
//! an after-commit future) of the writes that may change them, and live at
//! most a TTL, which bounds how long a write of another process sharing
//! the database goes unseen.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Values by string key, each valid while no invalidation happened since
/// it was read and for at most the TTL.
///
/// The read that fills an entry takes [`ReadCache::generation`] *before*
/// it queries, and [`ReadCache::put`] keeps the value only if no
/// invalidation happened since: a write that commits while the read runs
/// never leaves its old value behind.
pub struct ReadCache<V> {
    generation: AtomicU64,
    ttl: Duration,
    max: usize,
    entries: Mutex<HashMap<String, Entry<V>>>,
}

struct Entry<V> {
    generation: u64,
    at: Instant,
    value: V,
}

impl<V: Clone> ReadCache<V> {
    /// A cache whose entries live at most `ttl`, holding at most `max` of
    /// them (it is emptied when it would grow past).
    pub fn new(ttl: Duration, max: usize) -> Self {
        ReadCache { generation: AtomicU64::new(0), ttl, max: max.max(1), entries: Mutex::new(HashMap::new()) }
    }

    /// The generation to pass to [`ReadCache::put`]: take it before the
    /// read whose result is kept.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The value of `key`, if kept, not invalidated and younger than the
    /// TTL.
    pub fn get(&self, key: &str) -> Option<V> {
        let generation = self.generation();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let e = entries.get(key)?;
        (e.generation == generation && e.at.elapsed() < self.ttl).then(|| e.value.clone())
    }

    /// Keep `value`, read at `generation`; nothing is kept when the cache
    /// was invalidated since.
    pub fn put(&self, key: String, generation: u64, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if generation != self.generation() {
            return;
        }
        if entries.len() >= self.max && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, Entry { generation, at: Instant::now(), value });
    }

    /// Something an entry may depend on changed: forget every entry.
    pub fn invalidate(&self) {
        // Under the lock, so that a put racing with this cannot slip its
        // entry in between the bump and the clear.
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

impl<V> std::fmt::Debug for ReadCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache").field("ttl", &self.ttl).field("max", &self.max).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_until_invalidated() {
        let c = ReadCache::new(Duration::from_secs(60), 10);
        let g = c.generation();
        c.put("a".into(), g, 1);
        assert_eq!(c.get("a"), Some(1));
        c.invalidate();
        assert_eq!(c.get("a"), None);
    }

    #[test]
    fn a_read_overtaken_by_a_write_is_not_kept() {
        let c = ReadCache::new(Duration::from_secs(60), 10);
        let before_read = c.generation();
        c.invalidate(); // a write commits while the read runs
        c.put("a".into(), before_read, 1);
        assert_eq!(c.get("a"), None);
        c.put("a".into(), c.generation(), 2);
        assert_eq!(c.get("a"), Some(2));
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let c = ReadCache::new(Duration::ZERO, 10);
        c.put("a".into(), c.generation(), 1);
        assert_eq!(c.get("a"), None);
    }

    #[test]
    fn bounded() {
        let c = ReadCache::new(Duration::from_secs(60), 2);
        for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
            c.put(k.into(), c.generation(), i);
        }
        assert_eq!(c.get("c"), Some(2));
        assert_eq!(c.get("a"), None, "the full cache was emptied before c went in");
    }
}
