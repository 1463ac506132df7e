//! The pure core: what a report window is, when a job fires, what a target
//! is, the report's vocabulary, how a time argument reads, how server text
//! is made safe to show (and to open as CSV), how durations and sizes read
//! to people, which known name a mistyped one meant.
//!
//! No I/O and no clock: moments are arguments. May not import any other
//! folder of the crate.

pub mod code;
pub mod csv_cell;
pub mod device;
pub mod digest;
pub mod filename;
pub mod human;
pub mod report;
pub mod schedule;
pub mod suggest;
pub mod target;
pub mod text;
pub mod timearg;
pub mod window;
