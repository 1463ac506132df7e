//! A device as the account's inventory knows it: what a device listing
//! (`DeviceInfos`) gives for each device, kept in the `devices` table and
//! turned into the targets of a discovering job. Plain data.

use serde_json::Value;

/// One device as a listing gives it (`DeviceInfos`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub device_id: String,
    pub name: Option<String>,
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub remark: Option<String>,
    /// `CreateTime` (Unix milliseconds in the answer), in Unix seconds.
    pub created: Option<i64>,
    /// The device's object as the answer gave it.
    pub raw: Value,
}
