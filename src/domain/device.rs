//! A device as the account's inventory knows it: what a device listing
//! (`DeviceInfos`) gives for each device, kept in the `devices` table and
//! turned into the targets of a discovering job. Plain data.

use serde_json::Value;

/// One device as a listing gives it (`DeviceInfos`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeviceInfo {
    pub(crate) device_id: String,
    pub(crate) name: Option<String>,
    pub(crate) group_id: Option<String>,
    pub(crate) group_name: Option<String>,
    pub(crate) remark: Option<String>,
    /// `CreateTime` (Unix milliseconds in the answer), in Unix seconds.
    pub(crate) created: Option<i64>,
    /// The device's object as the answer gave it.
    pub(crate) raw: Value,
}
