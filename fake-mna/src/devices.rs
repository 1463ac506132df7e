//! The account's devices and groups, and the listing actions `GetDevices`,
//! `GetGroupList` and `GetGroupDetail`: their parameters (`PageSize` and
//! `PageNumber` required, both `-1` for everything in one page), paging and
//! `TotalPage`. Tests change the device list while the fake runs
//! ([`crate::FakeMna::set_devices`], `add_device`, `remove_device`), and
//! can add any number of made-up devices that cost nothing until a page
//! holds them ([`crate::FakeMna::set_synthetic_devices`]), in a group of
//! their own if asked ([`crate::FakeMna::set_synthetic_group`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// `GetDevices`.
pub const GET_DEVICES: &str = "GetDevices";
/// `GetGroupList`.
pub const GET_GROUP_LIST: &str = "GetGroupList";
/// `GetGroupDetail`.
pub const GET_GROUP_DETAIL: &str = "GetGroupDetail";

/// Whether `action` is one of the listing actions.
pub fn is_listing(action: &str) -> bool {
    [GET_DEVICES, GET_GROUP_LIST, GET_GROUP_DETAIL].contains(&action)
}

/// One device of the account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeDevice {
    pub id: String,
    pub name: String,
    pub group: Option<(String, String)>,
    pub remark: String,
    /// Unix seconds (served as milliseconds in a string, like the API).
    pub created: i64,
    /// 1 own device, 2 third-party.
    pub device_type: u8,
}

impl FakeDevice {
    /// An own device named `name-<id>`, created at `created` (Unix seconds), in no group.
    pub fn new(id: impl Into<String>, created: i64) -> FakeDevice {
        let id = id.into();
        FakeDevice {
            name: format!("name-{id}"),
            id,
            group: None,
            remark: String::new(),
            created,
            device_type: 1,
        }
    }

    /// In group `id` named `name`.
    pub fn in_group(mut self, id: impl Into<String>, name: impl Into<String>) -> FakeDevice {
        self.group = Some((id.into(), name.into()));
        self
    }

    /// A third-party device (`DeviceType` 2).
    pub fn third_party(mut self) -> FakeDevice {
        self.device_type = 2;
        self
    }

    /// The `DeviceInfos` entry the API gives for it.
    pub fn info(&self) -> Value {
        let (gid, gname) = self.group.clone().unwrap_or_default();
        json!({
            "DeviceId": self.id,
            "DeviceName": self.name,
            "CreateTime": (self.created * 1000).to_string(),
            "LastTime": (self.created * 1000).to_string(),
            "Remark": self.remark,
            "AccessScope": 0,
            "LicensePayMode": 0,
            "Payer": 0,
            "GroupId": gid,
            "GroupName": gname,
            "FlowTrunc": 0,
            "Sn": format!("sn-{}", self.id),
            "Vendor": "fake",
            "AllowedRegions": ["MC", "AP", "EU", "AM"],
        })
    }
}

/// When every synthetic device was created (Unix seconds): 2001-09-09.
pub const SYNTHETIC_CREATED: i64 = 1_000_000_000;

/// The name the group of the synthetic devices is listed with.
pub const SYNTHETIC_GROUP_NAME: &str = "synthetic devices";

/// Synthetic device number `i`.
pub fn synthetic(i: u64) -> FakeDevice {
    FakeDevice::new(format!("syn-{i:09}"), SYNTHETIC_CREATED)
}

/// The made-up devices: how many, and the group they are in (if any).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Synthetic {
    pub count: u64,
    pub group: Option<String>,
}

impl Synthetic {
    fn info(&self, i: u64) -> Value {
        let d = synthetic(i);
        match &self.group {
            Some(g) => d.in_group(g.clone(), SYNTHETIC_GROUP_NAME).info(),
            None => d.info(),
        }
    }

    /// How many of them are in group `id`.
    fn in_group(&self, id: &str) -> u64 {
        if self.group.as_deref() == Some(id) {
            self.count
        } else {
            0
        }
    }
}

/// An API error: code and message.
type ApiErr = (&'static str, String);

fn invalid(message: impl Into<String>) -> ApiErr {
    ("InvalidParameterValue", message.into())
}

fn int(obj: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiErr> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| ("InvalidParameter", format!("`{key}` must be an integer."))),
    }
}

/// `PageSize` and `PageNumber`: required; both `-1` for everything.
fn paging(obj: &Map<String, Value>) -> Result<(i64, i64), ApiErr> {
    let (Some(size), Some(number)) = (int(obj, "PageSize")?, int(obj, "PageNumber")?) else {
        return Err((
            "MissingParameter",
            "`PageSize` and `PageNumber` are required.".to_string(),
        ));
    };
    match (size, number) {
        (-1, -1) => Ok((-1, -1)),
        (s, n) if (1..=1000).contains(&s) && n >= 1 => Ok((s, n)),
        _ => Err(invalid(
            "`PageSize` must be 1..=1000 and `PageNumber` at least 1 (or both -1).",
        )),
    }
}

/// Page `number` of `items`, with `Length` and `TotalPage`.
fn page(items: Vec<Value>, paging: (i64, i64), key: &str) -> Map<String, Value> {
    let len = items.len() as u64;
    page_of(len, paging, key, |i| items[i as usize].clone())
}

/// Page `number` of `len` items, item `i` made by `item` only when on the page.
fn page_of(
    len: u64,
    (size, number): (i64, i64),
    key: &str,
    item: impl Fn(u64) -> Value,
) -> Map<String, Value> {
    let (range, total) = if size == -1 {
        (0..len, i64::from(len > 0))
    } else {
        let skip = u64::try_from((number - 1).saturating_mul(size)).unwrap_or(u64::MAX);
        let take = u64::try_from(size).unwrap_or(0);
        let total = (len as i64 + size - 1) / size;
        (skip.min(len)..skip.saturating_add(take).min(len), total)
    };
    let items: Vec<Value> = range.map(item).collect();
    let len = len as i64;
    let mut m = Map::new();
    m.insert(key.into(), Value::Array(items));
    m.insert("Length".into(), Value::from(len));
    m.insert("TotalPage".into(), Value::from(total));
    m
}

/// The answer (the `Response` fields but `RequestId`) of a listing `action`
/// with request `body`, over `devices` and the `groups` ever known.
pub(crate) fn answer(
    action: &str,
    body: &Value,
    devices: &[FakeDevice],
    groups: &BTreeMap<String, String>,
    synthetic: &Synthetic,
) -> Result<Map<String, Value>, ApiErr> {
    let Some(obj) = body.as_object() else {
        return Err((
            "InvalidParameter",
            "The request body must be a JSON object.".to_string(),
        ));
    };
    let paging = paging(obj)?;
    match action {
        GET_DEVICES => {
            let device_type = int(obj, "DeviceType")?;
            if device_type.is_some_and(|t| t != 1 && t != 2) {
                return Err(invalid("`DeviceType` must be 1 or 2."));
            }
            let keyword = obj.get("Keyword").and_then(Value::as_str).unwrap_or("");
            let own: Vec<&FakeDevice> = devices
                .iter()
                .filter(|d| device_type.is_none_or(|t| i64::from(d.device_type) == t))
                .filter(|d| {
                    keyword.is_empty() || d.id.contains(keyword) || d.name.contains(keyword)
                })
                .collect();
            // Synthetic devices are own devices; a keyword leaves them out.
            let made_up = if keyword.is_empty() && device_type.is_none_or(|t| t == 1) {
                synthetic.count
            } else {
                0
            };
            let n = own.len() as u64;
            Ok(page_of(n + made_up, paging, "DeviceInfos", |i| {
                match own.get(i as usize) {
                    Some(d) => d.info(),
                    None => synthetic.info(i - n),
                }
            }))
        }
        GET_GROUP_LIST => {
            let mut groups = groups.clone();
            if let Some(g) = &synthetic.group {
                groups
                    .entry(g.clone())
                    .or_insert_with(|| SYNTHETIC_GROUP_NAME.to_string());
            }
            let items = groups
                .iter()
                .map(|(id, name)| {
                    let n = devices
                        .iter()
                        .filter(|d| d.group.as_ref().is_some_and(|(g, _)| g == id))
                        .count() as u64
                        + synthetic.in_group(id);
                    json!({"GroupId": id, "GroupName": name, "CreateTime": "0", "UpdateTime": "0", "Description": "", "DeviceNum": n})
                })
                .collect();
            Ok(page(items, paging, "GroupInfos"))
        }
        _ => {
            let Some(group) = obj.get("GroupId").and_then(Value::as_str) else {
                return Err(("MissingParameter", "`GroupId` is required.".to_string()));
            };
            let name = match groups.get(group) {
                Some(name) => name.as_str(),
                None if synthetic.group.as_deref() == Some(group) => SYNTHETIC_GROUP_NAME,
                None => {
                    return Err((
                        "ResourceNotFound",
                        format!("The group `{group}` does not exist."),
                    ));
                }
            };
            let own: Vec<&FakeDevice> = devices
                .iter()
                .filter(|d| d.group.as_ref().is_some_and(|(g, _)| g == group))
                .collect();
            let n = own.len() as u64;
            let mut m = page_of(
                n + synthetic.in_group(group),
                paging,
                "DeviceInfos",
                |i| match own.get(i as usize) {
                    Some(d) => d.info(),
                    None => synthetic.info(i - n),
                },
            );
            m.insert(
                "GroupInfo".into(),
                json!({"GroupId": group, "GroupName": name, "Description": ""}),
            );
            Ok(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(n: usize) -> Vec<FakeDevice> {
        (0..n)
            .map(|i| {
                FakeDevice::new(format!("d{i:04}"), 1_000)
                    .in_group(if i % 2 == 0 { "even" } else { "odd" }, "G")
            })
            .collect()
    }

    fn groups() -> BTreeMap<String, String> {
        [
            ("even".to_string(), "G".to_string()),
            ("odd".to_string(), "G".to_string()),
        ]
        .into()
    }

    #[test]
    fn pages_and_total_page() {
        let devices = fleet(250);
        let a = answer(
            GET_DEVICES,
            &json!({"PageSize": 100, "PageNumber": 3}),
            &devices,
            &groups(),
            &Synthetic::default(),
        )
        .expect("page");
        assert_eq!(a["TotalPage"], 3);
        assert_eq!(a["Length"], 250);
        assert_eq!(a["DeviceInfos"].as_array().map(Vec::len), Some(50));
        assert_eq!(a["DeviceInfos"][0]["CreateTime"], "1000000");
        let all = answer(
            GET_DEVICES,
            &json!({"PageSize": -1, "PageNumber": -1}),
            &devices,
            &groups(),
            &Synthetic::default(),
        )
        .expect("all");
        assert_eq!(all["DeviceInfos"].as_array().map(Vec::len), Some(250));
        let g = answer(
            GET_GROUP_DETAIL,
            &json!({"GroupId": "odd", "PageSize": 100, "PageNumber": 1}),
            &devices,
            &groups(),
            &Synthetic::default(),
        )
        .expect("group");
        assert_eq!(g["Length"], 125);
        assert!(
            answer(
                GET_GROUP_DETAIL,
                &json!({"GroupId": "nope", "PageSize": 1, "PageNumber": 1}),
                &devices,
                &groups(),
                &Synthetic::default()
            )
            .is_err()
        );
        assert!(
            answer(
                GET_DEVICES,
                &json!({"PageSize": 100}),
                &devices,
                &groups(),
                &Synthetic::default()
            )
            .is_err()
        );
        let l = answer(
            GET_GROUP_LIST,
            &json!({"PageSize": 10, "PageNumber": 1}),
            &devices,
            &groups(),
            &Synthetic::default(),
        )
        .expect("groups");
        assert_eq!(l["GroupInfos"][0]["DeviceNum"], 125);
    }

    fn million() -> Synthetic {
        Synthetic {
            count: 1_000_000,
            group: None,
        }
    }

    #[test]
    fn synthetic_devices_in_a_group_are_listed_by_the_group_listings() {
        let syn = Synthetic {
            count: 250,
            group: Some("grp-syn".into()),
        };
        let g = answer(
            GET_GROUP_DETAIL,
            &json!({"GroupId": "grp-syn", "PageSize": 100, "PageNumber": 3}),
            &fleet(4),
            &groups(),
            &syn,
        )
        .expect("group");
        assert_eq!(g["Length"], 250);
        assert_eq!(g["TotalPage"], 3);
        assert_eq!(g["DeviceInfos"].as_array().map(Vec::len), Some(50));
        assert_eq!(g["DeviceInfos"][49]["DeviceId"], "syn-000000249");
        assert_eq!(g["DeviceInfos"][49]["GroupId"], "grp-syn");
        let l = answer(
            GET_GROUP_LIST,
            &json!({"PageSize": 10, "PageNumber": 1}),
            &fleet(4),
            &groups(),
            &syn,
        )
        .expect("groups");
        let listed = l["GroupInfos"].as_array().expect("groups");
        assert!(
            listed
                .iter()
                .any(|g| g["GroupId"] == "grp-syn" && g["DeviceNum"] == 250)
        );
        let all = answer(
            GET_DEVICES,
            &json!({"PageSize": 100, "PageNumber": 1}),
            &fleet(4),
            &groups(),
            &syn,
        )
        .expect("devices");
        assert_eq!(all["Length"], 254);
    }

    #[test]
    fn synthetic_devices_follow_the_own_ones() {
        let devices = fleet(150);
        let a = answer(
            GET_DEVICES,
            &json!({"PageSize": 100, "PageNumber": 2}),
            &devices,
            &groups(),
            &million(),
        )
        .expect("page");
        assert_eq!(a["Length"], 1_000_150);
        assert_eq!(a["TotalPage"], 10_002);
        assert_eq!(a["DeviceInfos"][49]["DeviceId"], "d0149");
        assert_eq!(a["DeviceInfos"][50]["DeviceId"], "syn-000000000");
        let last = answer(
            GET_DEVICES,
            &json!({"PageSize": 100, "PageNumber": 10_002}),
            &devices,
            &groups(),
            &million(),
        )
        .expect("last page");
        assert_eq!(last["DeviceInfos"].as_array().map(Vec::len), Some(50));
        assert_eq!(last["DeviceInfos"][49]["DeviceId"], "syn-000999999");
        let typed = answer(
            GET_DEVICES,
            &json!({"PageSize": 100, "PageNumber": 1, "DeviceType": 2}),
            &devices,
            &groups(),
            &million(),
        )
        .expect("third-party");
        assert_eq!(typed["Length"], 0);
    }
}
