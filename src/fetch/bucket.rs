//! The remote archive's bucket from the config: `[storage.remote]` opened
//! with its key chain, whose last source, for a Tencent COS endpoint, is
//! the account's own Tencent Cloud key (COS takes it as an S3 key pair).

use crate::archive::remote::bucket::Bucket;
use crate::archive::remote::client::{self, ClientError, S3Keys};
use crate::config::Config;
use crate::tencent::credentials::Found;

/// For a COS endpoint, the account's key pair as an S3 key (a CVM role
/// gives none here).
pub(crate) fn cos_fallback(config: &Config) -> Option<S3Keys> {
    cos_keys(config, &super::setup::find_credentials(config).ok()?.1)
}

/// [`cos_fallback`] from the account's credentials already found.
pub(crate) fn cos_keys(config: &Config, found: &Found) -> Option<S3Keys> {
    let remote = config.storage.remote.as_ref()?;
    if !client::is_cos(remote.endpoint.as_deref()) {
        return None;
    }
    match found {
        Found::Static(c) => Some(S3Keys {
            access_key_id: c.secret_id.clone().into(),
            secret_access_key: c.secret_key.clone(),
            session_token: c.token.clone(),
        }),
        Found::CvmRole => None,
    }
}

/// The bucket of `[storage.remote]`; `None` without the table.
pub(crate) fn open(config: &Config) -> Result<Option<Bucket>, ClientError> {
    let Some(remote) = config.storage.remote.as_ref() else {
        return Ok(None);
    };
    Bucket::open(remote, cos_fallback(config)).map(Some)
}
