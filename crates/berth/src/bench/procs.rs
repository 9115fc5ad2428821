//! The cloud under test as child processes of this binary, and what they
//! cost: CPU time and resident memory from /proc.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;

/// One child: `berth up` or `berth compute`, logging to a file.
struct Proc {
    name: String,
    child: tokio::process::Child,
    log: PathBuf,
    args: Vec<String>,
}

/// Every process the benchmark started. Children are killed when this is
/// dropped (errors, panics, a cancelled run) and by [`Procs::stop`].
#[derive(Default)]
pub struct Procs {
    list: Vec<Proc>,
}

impl Procs {
    /// Start `berth ARGS...` (this binary), stdout discarded, logs (level
    /// warn) appended to `log`.
    pub fn spawn(&mut self, name: &str, args: &[String], log: &Path) -> anyhow::Result<()> {
        let child = Self::start(name, args, log)?;
        self.list.push(Proc { name: name.to_string(), child, log: log.to_path_buf(), args: args.to_vec() });
        Ok(())
    }

    fn start(name: &str, args: &[String], log: &Path) -> anyhow::Result<tokio::process::Child> {
        let exe = std::env::current_exe().context("locate the berth binary")?;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("open {}", log.display()))?;
        let child = tokio::process::Command::new(exe)
            .args(args)
            .env("BERTH_LOG", "warn")
            .env_remove("BERTH_LOG_JSON")
            // An error that ends a child is one line in its log, not a
            // backtrace that pushes it out of the tail.
            .env("RUST_LIB_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {name}"))?;
        Ok(child)
    }

    /// How many children were started.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn name(&self, i: usize) -> &str {
        &self.list[i].name
    }

    /// SIGKILL the `i`-th child and reap it.
    pub async fn kill(&mut self, i: usize) {
        let p = &mut self.list[i];
        let _ = p.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), p.child.wait()).await;
    }

    /// Start the `i`-th child again with its arguments (after [`Procs::kill`]
    /// or its own exit); its log goes on in the same file.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        let p = &mut self.list[i];
        p.child = Self::start(&p.name, &p.args, &p.log)?;
        Ok(())
    }

    /// Start again every child that has exited.
    pub fn restart_dead(&mut self) -> anyhow::Result<()> {
        for i in 0..self.list.len() {
            if matches!(self.list[i].child.try_wait(), Ok(Some(_))) {
                self.restart(i)?;
            }
        }
        Ok(())
    }

    /// An error when the `i`-th child has exited.
    pub fn check_alive_one(&mut self, i: usize) -> anyhow::Result<()> {
        let p = &mut self.list[i];
        if let Ok(Some(status)) = p.child.try_wait() {
            anyhow::bail!("{} exited ({status}); last log lines:\n{}", p.name, tail(&p.log, 20));
        }
        Ok(())
    }

    /// An error naming the first child that has exited, with its last log
    /// lines.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for p in &mut self.list {
            if let Ok(Some(status)) = p.child.try_wait() {
                anyhow::bail!("{} exited ({status}); last log lines:\n{}", p.name, tail(&p.log, 20));
            }
        }
        Ok(())
    }

    pub fn pids(&self) -> Vec<u32> {
        self.list.iter().filter_map(|p| p.child.id()).collect()
    }

    /// The last log lines of every child, for a failed run.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut s = String::new();
        for p in &self.list {
            let t = tail(&p.log, lines);
            if !t.trim().is_empty() {
                s.push_str(&format!("--- {} ({}):\n{t}\n", p.name, p.log.display()));
            }
        }
        s
    }

    /// Kill every child and reap it.
    pub async fn stop(&mut self) {
        for p in &mut self.list {
            let _ = p.child.start_kill();
        }
        for p in &mut self.list {
            let _ = tokio::time::timeout(Duration::from_secs(10), p.child.wait()).await;
        }
        self.list.clear();
    }
}

fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// utime + stime of a process, in ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it are
    // plain. utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU used by `pids` over `window`, in percent of one core.
pub async fn cpu_percent(pids: &[u32], window: Duration) -> Option<f64> {
    let sum = || pids.iter().map(|p| cpu_ticks(*p)).sum::<Option<u64>>();
    let (a, t0) = (sum()?, Instant::now());
    tokio::time::sleep(window).await;
    let (b, secs) = (sum()?, t0.elapsed().as_secs_f64());
    Some((b.saturating_sub(a) as f64 / USER_HZ) / secs * 100.0)
}

/// Resident memory of `pids`: (sum of VmRSS, sum of VmHWM), in KiB.
pub fn memory_kib(pids: &[u32]) -> Option<(u64, u64)> {
    let mut rss = 0;
    let mut hwm = 0;
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        };
        rss += field("VmRSS:")?;
        hwm += field("VmHWM:")?;
    }
    Some((rss, hwm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let me = std::process::id();
        assert!(cpu_ticks(me).is_some());
        let (rss, hwm) = memory_kib(&[me]).unwrap();
        assert!(rss > 0 && hwm >= rss);
        assert!(cpu_ticks(u32::MAX).is_none());
    }
}
