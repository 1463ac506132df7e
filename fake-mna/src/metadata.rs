//! The CVM instance metadata endpoints that hand out role credentials.
//!
//! This module owns `/latest/meta-data/...`: the role name listing, the
//! temporary credential document (a fresh key pair and token on every
//! request, recorded so the API accepts them until they expire) and the
//! count of metadata requests.

use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::Response;
use serde_json::json;

use crate::clock::{random_alnum, rfc3339};
use crate::config::Credential;
use crate::faults::lock;
use crate::server::{RespBody, fixed};
use crate::state::{Shared, TempCredential};

/// Every metadata path starts with this.
pub const PREFIX: &str = "/latest/meta-data/";
const ROLES: &str = "/latest/meta-data/cam/security-credentials";

fn not_found() -> Response<RespBody> {
    fixed(
        404,
        "text/html",
        "<html><body><h1>404 Not Found</h1></body></html>\n",
    )
}

/// Issues and remembers a temporary credential valid for `ttl`.
fn issue(shared: &Shared, ttl: Duration) -> (Credential, i64) {
    let cred = Credential {
        secret_id: format!("AKIDtmp{}", random_alnum(29)),
        secret_key: random_alnum(40),
        token: Some(random_alnum(120)),
    };
    let now = shared.now_system();
    let expires = now.checked_add(ttl).unwrap_or(now);
    let expired_time = shared
        .now_unix()
        .saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
    lock(&shared.temp).push(TempCredential {
        cred: cred.clone(),
        expires,
    });
    (cred, expired_time)
}

pub(crate) fn handle(shared: &Shared, path: &str) -> Response<RespBody> {
    shared.metadata_requests.fetch_add(1, Ordering::SeqCst);
    let Some(role) = &shared.cfg.cvm_role else {
        return not_found();
    };
    let Some(rest) = path.strip_prefix(ROLES) else {
        return not_found();
    };
    match rest {
        "" | "/" => fixed(200, "text/plain", role.clone()),
        _ if rest.strip_prefix('/') == Some(role.as_str()) => {
            let (cred, expired_time) = issue(shared, shared.cfg.cvm_ttl);
            let doc = json!({
                "TmpSecretId": cred.secret_id,
                "TmpSecretKey": cred.secret_key,
                "Token": cred.token,
                "ExpiredTime": expired_time,
                "Expiration": rfc3339(expired_time),
                "Code": "Success",
            });
            fixed(
                200,
                "application/json",
                serde_json::to_vec_pretty(&doc).unwrap_or_default(),
            )
        }
        _ => not_found(),
    }
}
