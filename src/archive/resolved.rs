//! A job and the targets it has at one moment ([`ResolvedJob`]). A fixed
//! job has those of its config; a discovering job (`devices = "all"`, or a
//! group with `per_device`) has one per device of the inventory in its
//! scope, each from its `CreateTime` on. Made here, from the inventory the
//! history holds ([`resolve`]), and passed by value: the config's job is
//! never rewritten, so which targets a job has never depends on who asked.
//!
//! Also the pure arithmetic on a resolved job that the planner, the page,
//! `status` and `check` share: the targets and regions of a window, and
//! the cutoff of a moment (windows ending after it are not complete).

use crate::archive::store::devices::{self, Known};
use crate::config::Job;
use crate::domain::report::RegionScope;
use crate::domain::target::Target;
use crate::domain::window::Window;
use jiff::Timestamp;
use rusqlite::Connection;
use std::sync::Arc;

/// A job and the targets it has at one moment.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedJob {
    job: Arc<Job>,
    targets: Arc<[Target]>,
}

impl ResolvedJob {
    /// `job` with the targets of its config: all a fixed job has; none for
    /// a discovering job (its devices come from [`resolve`]).
    pub(crate) fn from_config(job: Arc<Job>) -> ResolvedJob {
        let targets = match job.discovery {
            None => job.targets.iter().cloned().collect(),
            Some(_) => Arc::from(Vec::new()),
        };
        ResolvedJob { job, targets }
    }

    /// `job` with the targets `known` gives it: one per device for a
    /// discovering job; a fixed job keeps those of its config.
    pub(crate) fn with_devices(job: Arc<Job>, known: &[Known]) -> ResolvedJob {
        if job.discovery.is_none() {
            return ResolvedJob::from_config(job);
        }
        let targets = known
            .iter()
            .map(|k| Target::device_since(k.device_id.clone(), k.created_at))
            .collect();
        ResolvedJob { job, targets }
    }

    /// The job, as the config has it.
    pub(crate) fn job(&self) -> &Arc<Job> {
        &self.job
    }

    pub(crate) fn name(&self) -> &str {
        &self.job.name
    }

    /// The targets it has, in order.
    pub(crate) fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// The targets and regions of `window`, in order: one report each. A
    /// device found by discovery has no report of a window that ended
    /// before it existed ([`Target::covers`]).
    pub(crate) fn targets_in(
        &self,
        window: Window,
    ) -> impl Iterator<Item = (Target, RegionScope)> + '_ {
        self.targets
            .iter()
            .filter(move |t| t.covers(&window))
            .flat_map(|t| {
                self.job
                    .regions
                    .iter()
                    .map(|r| (t.clone(), RegionScope::from(*r)))
            })
    }

    /// Reports in `window`.
    pub(crate) fn per_window(&self, window: &Window) -> u64 {
        let targets = self.targets.iter().filter(|t| t.covers(window)).count();
        (targets as u64).saturating_mul(self.job.regions.len() as u64)
    }

    /// The most reports in any window: every target.
    pub(crate) fn most_per_window(&self) -> u64 {
        (self.targets.len() as u64).saturating_mul(self.job.regions.len() as u64)
    }
}

/// The cutoff of `job` at `now` (`now - lag`): a window ending after it
/// is not complete yet.
pub(crate) fn cutoff(job: &Job, now: Timestamp) -> Option<Timestamp> {
    crate::domain::window::sub(now, job.lag)
}

/// `job` with the targets it has now, the inventory read from `conn`.
pub(crate) fn resolve(conn: &Connection, job: &Arc<Job>) -> rusqlite::Result<ResolvedJob> {
    match &job.discovery {
        None => Ok(ResolvedJob::from_config(job.clone())),
        Some(d) => Ok(ResolvedJob::with_devices(
            job.clone(),
            &devices::known(conn, d)?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn job(extra: &str) -> Arc<Job> {
        let text = format!(
            "[storage]\nstate_dir = \"/tmp/x\"\n[[jobs]]\nname = \"j\"\ngranularity = \"hourly\"\n{extra}\n"
        );
        let c = crate::config::parse(&text, Path::new("/tmp/c.toml")).expect("config");
        Arc::new(c.jobs[0].clone())
    }

    #[test]
    fn a_discovering_job_has_one_target_per_known_device() {
        let j = job("devices = \"all\"\nper_device = true");
        assert!(j.targets.is_empty());
        let known = [
            Known {
                device_id: "a".into(),
                created_at: Some(100),
            },
            Known {
                device_id: "b".into(),
                created_at: None,
            },
        ];
        let now = ResolvedJob::with_devices(j, &known);
        let labels: Vec<String> = now.targets().iter().map(Target::label).collect();
        assert_eq!(labels, ["device:a", "device:b"]);
        assert_eq!(now.targets()[0].since, Some(100));
        let fixed = job("devices = [\"x\"]\nper_device = true");
        assert_eq!(
            ResolvedJob::with_devices(fixed.clone(), &known).targets(),
            &fixed.targets[..]
        );
    }
}
