//! The MNA listing actions a discovering job uses: `GetDevices` (every
//! device of the account) and `GetGroupDetail` (the devices of a group):
//! their request bodies, one page at a time, and their answers. Pure;
//! [`super::client`] sends them.
//!
//! A device id is kept exactly as the answer gives it, or refused: an id
//! longer than [`MAX_DEVICE_ID`] bytes, or holding a control character,
//! could not be sent back byte for byte (it would be cut or escaped), so
//! such a device is left out of the page and named in [`Page::refused`].

use super::{ApiError, CallError};
use crate::domain::code;
pub(crate) use crate::domain::device::DeviceInfo;
use crate::domain::text;
use serde::Serialize;
use serde_json::Value;

/// `GetDevices`.
pub(crate) const GET_DEVICES: &str = "GetDevices";
/// `GetGroupDetail`.
pub(crate) const GET_GROUP_DETAIL: &str = "GetGroupDetail";

/// Devices asked for per page: every answer stays small whatever the fleet.
pub(crate) const PAGE_SIZE: i64 = 100;

/// Fewest pages one listing may read (a million devices at [`PAGE_SIZE`]).
pub(crate) const MAX_PAGES: i64 = 10_000;

/// Most pages one listing of at most `max_devices` devices reads: twice
/// the pages they fill (a server may give fewer a page), at least
/// [`MAX_PAGES`]; an answer whose `TotalPage` never ends cannot keep a
/// listing going forever.
pub(crate) fn max_pages(max_devices: u64) -> i64 {
    let full = max_devices.div_ceil(PAGE_SIZE as u64).saturating_mul(2);
    i64::try_from(full).unwrap_or(i64::MAX).max(MAX_PAGES)
}

/// The longest device id kept, in bytes: the API's ids are far shorter,
/// and a longer one is refused rather than cut.
pub(crate) const MAX_DEVICE_ID: usize = 256;

/// One page of a listing: which action, with which body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageRequest {
    pub(crate) action: &'static str,
    pub(crate) body: Vec<u8>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DevicesBody<'a> {
    page_size: i64,
    page_number: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<&'a str>,
}

/// Page `page` (from 1) of `GetDevices` (`device_type`: 1 own, 2 third-party).
pub(crate) fn devices_page(page: i64, device_type: Option<u8>) -> PageRequest {
    body(
        GET_DEVICES,
        &DevicesBody {
            page_size: PAGE_SIZE,
            page_number: page,
            device_type,
            group_id: None,
        },
    )
}

/// Page `page` (from 1) of `GetGroupDetail` for `group`.
pub(crate) fn group_detail_page(page: i64, group: &str) -> PageRequest {
    body(
        GET_GROUP_DETAIL,
        &DevicesBody {
            page_size: PAGE_SIZE,
            page_number: page,
            device_type: None,
            group_id: Some(group),
        },
    )
}

fn body(action: &'static str, b: &DevicesBody<'_>) -> PageRequest {
    PageRequest {
        action,
        // Serializing plain strings and integers cannot fail.
        body: serde_json::to_vec(b).unwrap_or_default(),
    }
}

/// One page of an answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    /// Devices left out for their ids ([`MAX_DEVICE_ID`], control
    /// characters): each id as shown in a log (escaped and cut).
    pub(crate) refused: Vec<String>,
    /// `TotalPage`: how many pages the listing has.
    pub(crate) total_page: i64,
    /// `Length`: how many items in all.
    pub(crate) length: i64,
    pub(crate) request_id: String,
}

/// Interpret a `GetDevices` or `GetGroupDetail` answer.
pub(crate) fn parse_devices(status: u16, body: &[u8]) -> Result<Page<DeviceInfo>, CallError> {
    let (response, request_id) = envelope(status, body)?;
    let mut items = Vec::new();
    let mut refused = Vec::new();
    for d in list(&response, "DeviceInfos", &request_id)? {
        match device(d, &request_id)? {
            Ok(info) => items.push(info),
            Err(shown) => refused.push(shown),
        }
    }
    let mut page = page(&response, items, request_id)?;
    page.refused = refused;
    Ok(page)
}

fn bad(detail: &str, request_id: &str) -> CallError {
    CallError::BadResponse {
        detail: detail.to_string(),
        request_id: Some(request_id.to_string()).filter(|r| !r.is_empty()),
    }
}

/// `Response` of an answer, and its request id; an error answer as its error.
fn envelope(status: u16, body: &[u8]) -> Result<(Value, String), CallError> {
    if status != 200 {
        return Err(CallError::HttpStatus { status });
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| CallError::BadResponse {
        detail: text::clean(
            &format!("not the API's JSON envelope: {e}"),
            text::MAX_MESSAGE,
        ),
        request_id: None,
    })?;
    let Some(response) = v.get("Response").filter(|r| r.is_object()).cloned() else {
        return Err(bad("no Response object in the answer", ""));
    };
    let request_id = text::clean(
        response
            .get("RequestId")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        text::MAX_FIELD,
    );
    if let Some(err) = response.get("Error") {
        let code = err.get("Code").and_then(Value::as_str).unwrap_or_default();
        let message = err
            .get("Message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(CallError::Api(ApiError {
            code: code::ApiCode::new(text::clean(code, text::MAX_FIELD)),
            message: text::clean(message, text::MAX_MESSAGE),
            request_id,
        }));
    }
    Ok((response, request_id))
}

fn list<'a>(response: &'a Value, key: &str, request_id: &str) -> Result<&'a [Value], CallError> {
    match response.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(bad(&format!("{key} is not a list"), request_id)),
    }
}

fn page<T>(response: &Value, items: Vec<T>, request_id: String) -> Result<Page<T>, CallError> {
    let total_page = number(response, "TotalPage").unwrap_or(1).max(0);
    let length = number(response, "Length").unwrap_or(items.len() as i64);
    Ok(Page {
        items,
        refused: Vec::new(),
        total_page,
        length,
        request_id,
    })
}

/// A string field, cleaned and capped; `None` when absent or empty.
fn string(v: &Value, key: &str) -> Option<String> {
    let s = match v.get(key)? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some(text::clean(&s, text::MAX_FIELD)).filter(|s| !s.is_empty())
}

/// An integer field given as a number or as a string of digits.
fn number(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The device `d`, or (inner `Err`) its id as shown when the id is refused.
fn device(d: &Value, request_id: &str) -> Result<Result<DeviceInfo, String>, CallError> {
    let device_id = match d.get("DeviceId") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if device_id.is_empty() {
        return Err(bad("a device without DeviceId", request_id));
    }
    let shown = text::clean(&device_id, text::MAX_FIELD);
    if device_id.len() > MAX_DEVICE_ID || shown != device_id {
        return Ok(Err(shown));
    }
    Ok(Ok(DeviceInfo {
        device_id,
        name: string(d, "DeviceName"),
        group_id: string(d, "GroupId"),
        group_name: string(d, "GroupName"),
        remark: string(d, "Remark"),
        created: number(d, "CreateTime")
            .filter(|ms| *ms > 0)
            .map(|ms| ms / 1000),
        raw: d.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_bodies_ask_for_a_hundred_at_a_time() {
        let p = devices_page(3, Some(2));
        assert_eq!(p.action, "GetDevices");
        assert_eq!(
            String::from_utf8(p.body).expect("utf8"),
            r#"{"PageSize":100,"PageNumber":3,"DeviceType":2}"#
        );
        let g = group_detail_page(1, "g-1");
        assert_eq!(g.action, "GetGroupDetail");
        assert_eq!(
            String::from_utf8(g.body).expect("utf8"),
            r#"{"PageSize":100,"PageNumber":1,"GroupId":"g-1"}"#
        );
    }

    #[test]
    fn parses_a_device_page() {
        let body = br#"{"Response": {"DeviceInfos": [
            {"DeviceId": "d1", "DeviceName": "one", "CreateTime": "1793491200000", "GroupId": "g", "GroupName": "G", "Remark": ""},
            {"DeviceId": "d2", "CreateTime": 1793491201000}
        ], "Length": 250, "TotalPage": 3, "RequestId": "r"}}"#;
        let p = parse_devices(200, body).expect("page");
        assert_eq!(p.total_page, 3);
        assert_eq!(p.length, 250);
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[0].created, Some(1_793_491_200));
        assert_eq!(p.items[0].name.as_deref(), Some("one"));
        assert_eq!(p.items[0].remark, None);
        assert_eq!(p.items[1].created, Some(1_793_491_201));
        assert_eq!(p.items[1].raw["DeviceId"], "d2");
    }

    #[test]
    fn errors_and_garbage_are_call_errors() {
        let e = parse_devices(
            200,
            br#"{"Response": {"Error": {"Code": "AuthFailure", "Message": "no"}, "RequestId": "r"}}"#,
        )
        .expect_err("error");
        assert_eq!(e.code(), "AuthFailure");
        assert_eq!(parse_devices(502, b"x").expect_err("502").code(), "HTTP502");
        assert_eq!(
            parse_devices(200, b"[").expect_err("junk").code(),
            "BadResponse"
        );
        let e = parse_devices(
            200,
            br#"{"Response": {"DeviceInfos": [{"DeviceName": "x"}], "RequestId": "r"}}"#,
        )
        .expect_err("no id");
        assert_eq!(e.request_id(), Some("r"));
    }

    /// An id of 300 bytes, one with a newline, and one of exactly 256
    /// bytes: the first two are refused (named, escaped and cut, in
    /// `refused`), the last kept byte for byte. Before, the long id was
    /// cut to 256 bytes with a marker and the other escaped, and a report
    /// was asked for a device that does not exist.
    #[test]
    fn ids_are_kept_exactly_or_refused() {
        let long = "d".repeat(300);
        let edge = "e".repeat(MAX_DEVICE_ID);
        let body = serde_json::json!({"Response": {"DeviceInfos": [
            {"DeviceId": long}, {"DeviceId": "a\nb"}, {"DeviceId": edge}, {"DeviceId": 42}
        ], "Length": 4, "TotalPage": 1, "RequestId": "r"}});
        let p = parse_devices(200, body.to_string().as_bytes()).expect("page");
        let ids: Vec<&str> = p.items.iter().map(|d| d.device_id.as_str()).collect();
        assert_eq!(ids, [edge.as_str(), "42"]);
        assert_eq!(p.refused.len(), 2);
        assert!(p.refused[0].starts_with("ddd") && p.refused[0].contains("300 bytes"));
        assert_eq!(p.refused[1], "a\\nb");
    }

    #[test]
    fn a_listing_reads_the_pages_its_cap_allows() {
        assert_eq!(max_pages(100_000), MAX_PAGES);
        assert_eq!(max_pages(2_500_000), 50_000);
        assert_eq!(max_pages(100_000_000), 2_000_000);
    }
}
