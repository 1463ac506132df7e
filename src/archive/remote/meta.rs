//! What an object in the bucket says about itself: a report's identity and
//! checksum as S3 user metadata (`x-amz-meta-*`), so the bucket alone tells
//! what each object is and `restore` can record an object no snapshot
//! knows. Pure: no I/O.
//!
//! Keys: `job`, `target`, `region`, `granularity`, `window-start`,
//! `window-end` (RFC 3339, UTC), `sha256` (hex of the file), `request-id`,
//! `trigger`. Values are percent-encoded outside printable ASCII (S3
//! metadata is ASCII).

use object_store::{Attribute, AttributeValue, Attributes};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// The bytes escaped in a metadata value: controls, `%`, and (by the
/// encoder itself) everything outside ASCII.
const ESCAPED: &AsciiSet = &CONTROLS.add(b'%');

/// Most bytes of one decoded value.
const MAX_VALUE: usize = 1024;

/// A report's identity as its object carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) job: String,
    pub(crate) target: String,
    pub(crate) region: String,
    pub(crate) granularity: i64,
    pub(crate) window_start: i64,
    pub(crate) window_end: i64,
    pub(crate) sha256: String,
    pub(crate) request_id: Option<String>,
    pub(crate) trigger: String,
}

/// Why an object's metadata is not a report's identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MetaError {
    #[error("no `{0}` in its metadata")]
    Missing(&'static str),
    #[error("its `{key}` is not valid: {value:?}")]
    Invalid { key: &'static str, value: String },
}

fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| t.to_string())
}

fn parse_time(key: &'static str, v: &str) -> Result<i64, MetaError> {
    v.parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|_| MetaError::Invalid {
            key,
            value: v.to_string(),
        })
}

fn encode(v: &str) -> String {
    utf8_percent_encode(v, ESCAPED).to_string()
}

impl Identity {
    /// The metadata pairs, in a fixed order.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("job", encode(&self.job)),
            ("target", encode(&self.target)),
            ("region", encode(&self.region)),
            ("granularity", self.granularity.to_string()),
            ("window-start", rfc3339(self.window_start)),
            ("window-end", rfc3339(self.window_end)),
            ("sha256", encode(&self.sha256)),
            ("trigger", encode(&self.trigger)),
        ];
        if let Some(r) = &self.request_id {
            v.push(("request-id", encode(r)));
        }
        v
    }

    /// The object attributes of an upload.
    pub(crate) fn attributes(&self) -> Attributes {
        let mut a = Attributes::new();
        a.insert(
            Attribute::ContentType,
            AttributeValue::from(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
        );
        for (k, v) in self.pairs() {
            a.insert(Attribute::Metadata(k.into()), AttributeValue::from(v));
        }
        a
    }

    /// The identity in an object's attributes.
    pub(crate) fn from_attributes(a: &Attributes) -> Result<Identity, MetaError> {
        let get = |key: &'static str| -> Result<Option<String>, MetaError> {
            let Some(v) = a.get(&Attribute::Metadata(key.into())) else {
                return Ok(None);
            };
            let decoded =
                percent_decode_str(v.as_ref())
                    .decode_utf8()
                    .map_err(|_| MetaError::Invalid {
                        key,
                        value: v.as_ref().chars().take(80).collect(),
                    })?;
            if decoded.len() > MAX_VALUE {
                return Err(MetaError::Invalid {
                    key,
                    value: decoded.chars().take(80).collect(),
                });
            }
            Ok(Some(decoded.into_owned()))
        };
        let need = |key: &'static str| get(key)?.ok_or(MetaError::Missing(key));
        let granularity = need("granularity")?;
        let sha256 = need("sha256")?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MetaError::Invalid {
                key: "sha256",
                value: sha256,
            });
        }
        Ok(Identity {
            job: need("job")?,
            target: need("target")?,
            region: get("region")?.unwrap_or_default(),
            granularity: granularity.parse().map_err(|_| MetaError::Invalid {
                key: "granularity",
                value: granularity.clone(),
            })?,
            window_start: parse_time("window-start", &need("window-start")?)?,
            window_end: parse_time("window-end", &need("window-end")?)?,
            sha256,
            request_id: get("request-id")?,
            trigger: get("trigger")?.unwrap_or_else(|| "catch-up".to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            job: "hourly-all".into(),
            target: "dev:mna-éa%1".into(),
            region: String::new(),
            granularity: 1,
            window_start: 1_764_979_200,
            window_end: 1_764_982_800,
            sha256: "ab".repeat(32),
            request_id: Some("req-1".into()),
            trigger: "schedule".into(),
        }
    }

    #[test]
    fn an_identity_survives_the_round_trip_through_metadata() {
        let id = identity();
        let a = id.attributes();
        for (k, v) in id.pairs() {
            assert!(v.is_ascii(), "{k} = {v}");
        }
        assert_eq!(
            a.get(&Attribute::Metadata("window-start".into()))
                .map(|v| v.as_ref().to_string()),
            Some("2025-12-06T00:00:00Z".to_string())
        );
        assert_eq!(Identity::from_attributes(&a), Ok(id));
    }

    #[test]
    fn foreign_or_damaged_metadata_is_named() {
        let mut a = identity().attributes();
        a.insert(Attribute::Metadata("sha256".into()), "zz".into());
        assert!(matches!(
            Identity::from_attributes(&a),
            Err(MetaError::Invalid { key: "sha256", .. })
        ));
        assert_eq!(
            Identity::from_attributes(&Attributes::new()),
            Err(MetaError::Missing("granularity"))
        );
        let mut a = identity().attributes();
        a.insert(Attribute::Metadata("window-end".into()), "yesterday".into());
        assert!(Identity::from_attributes(&a).is_err());
    }
}
