//! The pure core: what a report window is, when a job fires, what a target
//! is, the report's vocabulary, how a time argument reads, how server text
//! is made safe to show (and to open as CSV), how durations and sizes read
//! to people, which known name a mistyped one meant.
//!
//! No I/O and no clock: moments are arguments. May not import any other
//! folder of the crate.

pub(crate) mod code;
pub(crate) mod csv_cell;
pub(crate) mod device;
pub(crate) mod digest;
pub(crate) mod filename;
pub(crate) mod human;
pub(crate) mod report;
pub(crate) mod schedule;
pub(crate) mod suggest;
pub(crate) mod target;
pub(crate) mod text;
pub(crate) mod timearg;
pub(crate) mod window;
