//! What the integration tests and the benches reach inside the crate, and
//! nothing else: the command line is the program's interface, not this.

pub use crate::archive::ingest::{Ingested, ingest};
pub use crate::archive::root::{ArchiveRoot, RelPath};
pub use crate::archive::store::Store;
pub use crate::archive::store::reports;
pub use crate::commands::completions::{CompletionShell, man_pages, script};
pub use crate::config::{ConfigError, parse};
pub use crate::domain::report::{ReportKey, Trigger};
pub use crate::domain::schedule::next_fires;
pub use crate::fetch::download::check_xlsx;

/// Every report of `job` (with the targets of its config) due at `now`
/// ([`crate::fetch::plan::due`]).
pub fn due(
    job: &std::sync::Arc<crate::config::Job>,
    now: jiff::Timestamp,
    at_start: bool,
) -> Vec<crate::fetch::plan::Planned> {
    let job = crate::archive::resolved::ResolvedJob::from_config(job.clone());
    crate::fetch::plan::due(&job, now, at_start)
}
