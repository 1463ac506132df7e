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
pub use crate::fetch::plan::due;
