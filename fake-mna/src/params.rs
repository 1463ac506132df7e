//! The `GetStatisticData` request body: its typed form and its validation.
//!
//! This module owns the rules of the official request model (required and
//! optional fields, their JSON types and allowed values) and the error code
//! each violation maps to.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The most device ids `DeviceList` may hold.
pub const MAX_DEVICE_LIST: usize = 10;

/// The regions `AccessRegion` accepts.
pub const REGIONS: [&str; 4] = ["MC", "AP", "EU", "AM"];

/// A valid `GetStatisticData` request, typed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Params {
    pub device_id: String,
    pub begin: i64,
    pub end: i64,
    /// 1 hourly, 2 daily, 3 per minute, 4 per 5 minutes.
    pub granularity: u8,
    pub region: Option<String>,
    pub gateway: Option<u8>,
    pub device_list: Option<Vec<String>>,
    pub group_id: Option<String>,
}

impl Params {
    /// The minimal request: one device, a span and a granularity.
    pub fn new(device_id: impl Into<String>, begin: i64, end: i64, granularity: u8) -> Params {
        Params {
            device_id: device_id.into(),
            begin,
            end,
            granularity,
            region: None,
            gateway: None,
            device_list: None,
            group_id: None,
        }
    }

    /// The JSON body an SDK would send for these parameters (absent
    /// optional fields are left out).
    pub fn to_body(&self) -> Value {
        let mut m = Map::new();
        m.insert("DeviceId".into(), Value::from(self.device_id.clone()));
        m.insert("BeginTime".into(), Value::from(self.begin));
        m.insert("EndTime".into(), Value::from(self.end));
        m.insert("TimeGranularity".into(), Value::from(self.granularity));
        if let Some(r) = &self.region {
            m.insert("AccessRegion".into(), Value::from(r.clone()));
        }
        if let Some(g) = self.gateway {
            m.insert("GatewayType".into(), Value::from(g));
        }
        if let Some(l) = &self.device_list {
            m.insert("DeviceList".into(), Value::from(l.clone()));
        }
        if let Some(g) = &self.group_id {
            m.insert("GroupId".into(), Value::from(g.clone()));
        }
        Value::Object(m)
    }

    /// Seconds between two report rows for this granularity.
    pub fn step_seconds(&self) -> i64 {
        match self.granularity {
            2 => 86_400,
            3 => 60,
            4 => 300,
            _ => 3600,
        }
    }

    /// What the report's device column shows: `a+b` for a device list, the
    /// group id for a group, else the device id (`-1` for "all").
    pub fn subject(&self) -> String {
        match (&self.device_list, &self.group_id) {
            (Some(list), _) if !list.is_empty() => list.join("+"),
            (_, Some(group)) => group.clone(),
            _ => self.device_id.clone(),
        }
    }
}

/// A rejected body: the API error code and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    pub code: &'static str,
    pub message: String,
}

fn invalid(message: impl Into<String>) -> ParamError {
    ParamError {
        code: "InvalidParameter",
        message: message.into(),
    }
}

fn missing(name: &str) -> ParamError {
    ParamError {
        code: "MissingParameter",
        message: format!("The request is missing a required parameter `{name}`."),
    }
}

const KNOWN: [&str; 8] = [
    "DeviceId",
    "BeginTime",
    "EndTime",
    "TimeGranularity",
    "AccessRegion",
    "GatewayType",
    "DeviceList",
    "GroupId",
];

/// A field's value; JSON `null` counts as absent.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

fn required<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a Value, ParamError> {
    field(obj, name).ok_or_else(|| missing(name))
}

fn as_string(name: &str, v: &Value) -> Result<String, ParamError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| invalid(format!("`{name}` must be a string.")))
}

fn as_int(name: &str, v: &Value) -> Result<i64, ParamError> {
    v.as_i64()
        .ok_or_else(|| invalid(format!("`{name}` must be an integer.")))
}

/// Validates a request body like the official model does.
pub fn parse_body(body: &[u8]) -> Result<Params, ParamError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("The request body is not valid JSON: {e}.")))?;
    let Value::Object(obj) = value else {
        return Err(invalid("The request body must be a JSON object."));
    };
    if let Some(unknown) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(invalid(format!(
            "The parameter `{unknown}` is not recognized."
        )));
    }

    let device_id = as_string("DeviceId", required(&obj, "DeviceId")?)?;
    let begin = as_int("BeginTime", required(&obj, "BeginTime")?)?;
    let end = as_int("EndTime", required(&obj, "EndTime")?)?;
    let granularity = as_int("TimeGranularity", required(&obj, "TimeGranularity")?)?;
    let granularity = u8::try_from(granularity)
        .ok()
        .filter(|g| (1..=4).contains(g))
        .ok_or_else(|| invalid("`TimeGranularity` must be 1, 2, 3 or 4."))?;

    let region = match field(&obj, "AccessRegion") {
        None => None,
        Some(v) => {
            let r = as_string("AccessRegion", v)?;
            if !REGIONS.contains(&r.as_str()) {
                return Err(invalid("`AccessRegion` must be one of MC, AP, EU, AM."));
            }
            Some(r)
        }
    };
    let gateway = match field(&obj, "GatewayType") {
        None => None,
        Some(v) => match as_int("GatewayType", v)? {
            0 => Some(0),
            1 => Some(1),
            _ => return Err(invalid("`GatewayType` must be 0 or 1.")),
        },
    };
    let device_list = match field(&obj, "DeviceList") {
        None => None,
        Some(v) => {
            let items = v
                .as_array()
                .ok_or_else(|| invalid("`DeviceList` must be an array of strings."))?;
            if items.len() > MAX_DEVICE_LIST {
                return Err(invalid(format!(
                    "`DeviceList` holds at most {MAX_DEVICE_LIST} device ids."
                )));
            }
            let list = items
                .iter()
                .map(|i| as_string("DeviceList", i))
                .collect::<Result<Vec<_>, _>>()?;
            Some(list)
        }
    };
    let group_id = match field(&obj, "GroupId") {
        None => None,
        Some(v) => Some(as_string("GroupId", v)?),
    };
    if begin >= end {
        return Err(invalid("`BeginTime` must be earlier than `EndTime`."));
    }
    Ok(Params {
        device_id,
        begin,
        end,
        granularity,
        region,
        gateway,
        device_list,
        group_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> &'static str {
        match parse_body(body.as_bytes()) {
            Ok(_) => "Ok",
            Err(e) => e.code,
        }
    }

    #[test]
    fn accepts_minimal_and_full() {
        let p = parse_body(br#"{"DeviceId":"-1","BeginTime":1,"EndTime":2,"TimeGranularity":1}"#)
            .expect("valid");
        assert_eq!(p, Params::new("-1", 1, 2, 1));
        let full = Params {
            device_id: "-1".into(),
            begin: 10,
            end: 20,
            granularity: 4,
            region: Some("EU".into()),
            gateway: Some(1),
            device_list: Some(vec!["a".into(), "b".into()]),
            group_id: Some("g".into()),
        };
        let body = serde_json::to_vec(&full.to_body()).expect("json");
        assert_eq!(parse_body(&body), Ok(full));
    }

    #[test]
    fn null_optional_is_absent() {
        assert_eq!(
            code(
                r#"{"DeviceId":"d","BeginTime":1,"EndTime":2,"TimeGranularity":2,"AccessRegion":null,"GatewayType":null,"DeviceList":null,"GroupId":null}"#
            ),
            "Ok"
        );
    }

    #[test]
    fn rejects() {
        for (body, expected) in [
            ("not json", "InvalidParameter"),
            ("[]", "InvalidParameter"),
            (
                r#"{"BeginTime":1,"EndTime":2,"TimeGranularity":1}"#,
                "MissingParameter",
            ),
            (
                r#"{"DeviceId":null,"BeginTime":1,"EndTime":2,"TimeGranularity":1}"#,
                "MissingParameter",
            ),
            (
                r#"{"DeviceId":"d","EndTime":2,"TimeGranularity":1}"#,
                "MissingParameter",
            ),
            (
                r#"{"DeviceId":"d","BeginTime":1,"TimeGranularity":1}"#,
                "MissingParameter",
            ),
            (
                r#"{"DeviceId":"d","BeginTime":1,"EndTime":2}"#,
                "MissingParameter",
            ),
            (
                r#"{"DeviceId":5,"BeginTime":1,"EndTime":2,"TimeGranularity":1}"#,
                "InvalidParameter",
            ),
            (
                r#"{"DeviceId":"d","BeginTime":"1","EndTime":2,"TimeGranularity":1}"#,
                "InvalidParameter",
            ),
            (
                r#"{"DeviceId":"d","BeginTime":1.5,"EndTime":2,"TimeGranularity":1}"#,
                "InvalidParameter",
            ),
            (
                r#"{"DeviceId":"d","BeginTime":2,"EndTime":2,"TimeGranularity":1}"#,
                "InvalidParameter",
            ),
            (
                r#"{"DeviceId":"d","BeginTime":1,"EndTime":2,"TimeGranularity":5}"#,
                "InvalidParameter",
            ),
            (
                r#"{"DeviceId":"d","BeginTime":1,"EndTime":2,"TimeGranularity":0}"#,
                "InvalidParameter",
            ),
            (
                r#"{"DeviceId":"d","BeginTime":1,"EndTime":2,"TimeGranularity":1,"AccessRegion":"XX"}"#,
                "InvalidParameter",
            ),
            (
                r#"{"DeviceId":"d","BeginTime":1,"EndTime":2,"TimeGranularity":1,"GatewayType":2}"#,
                "InvalidParameter",
            ),
            (
                r#"{"DeviceId":"d","BeginTime":1,"EndTime":2,"TimeGranularity":1,"DeviceList":"a"}"#,
                "InvalidParameter",
            ),
            (
                r#"{"DeviceId":"d","BeginTime":1,"EndTime":2,"TimeGranularity":1,"DeviceList":[1]}"#,
                "InvalidParameter",
            ),
            (
                r#"{"DeviceId":"d","BeginTime":1,"EndTime":2,"TimeGranularity":1,"DeviceList":["1","2","3","4","5","6","7","8","9","10","11"]}"#,
                "InvalidParameter",
            ),
            (
                r#"{"DeviceId":"d","BeginTime":1,"EndTime":2,"TimeGranularity":1,"GroupId":7}"#,
                "InvalidParameter",
            ),
            (
                r#"{"DeviceId":"d","BeginTime":1,"EndTime":2,"TimeGranularity":1,"Extra":1}"#,
                "InvalidParameter",
            ),
        ] {
            assert_eq!(code(body), expected, "{body}");
        }
    }

    #[test]
    fn subject_and_step() {
        let mut p = Params::new("dev", 0, 1, 3);
        assert_eq!(p.subject(), "dev");
        assert_eq!(p.step_seconds(), 60);
        p.group_id = Some("grp".into());
        assert_eq!(p.subject(), "grp");
        p.device_list = Some(vec!["a".into(), "b".into()]);
        assert_eq!(p.subject(), "a+b");
    }
}
