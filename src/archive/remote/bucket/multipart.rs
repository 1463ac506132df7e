//! The multipart side of the bucket: the notes in the history that make a
//! crash's leftover uploads findable (an intent before an upload is
//! created, its id once known), and the listing of uploads in progress by
//! key, which object_store does not offer.

use super::{Bucket, BucketError, one_line};
use crate::archive::store::{Store, outbox};
use object_store::path::Path as ObjectPath;

/// The mark of a noted intent to create a multipart upload (its id is not
/// known yet): `intent:<key>`.
pub(crate) const INTENT: &str = "intent:";

/// Most bytes of a listing of uploads read.
const LISTING_CAP: usize = 4 << 20;

/// Note (`Some(store)`) the multipart upload `id` of `key`, replacing the
/// note `replaces`.
pub(super) async fn note(
    journal: Option<&Store>,
    replaces: Option<&str>,
    id: &str,
    key: &str,
) -> Result<(), BucketError> {
    let Some(store) = journal else { return Ok(()) };
    let (id2, key2, old) = (
        id.to_string(),
        key.to_string(),
        replaces.map(str::to_string),
    );
    let owner = store.owner().to_string();
    store
        .on_pool(move |c| {
            outbox::begin_multipart(c, &id2, &key2, &owner, crate::archive::store::now())?;
            if let Some(old) = old {
                outbox::end_multipart(c, &old)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| BucketError::Local {
            file: key.to_string(),
            detail: format!("cannot note the upload in the history: {e}"),
        })
}

/// Forget the note `id`.
pub(super) async fn forget(journal: Option<&Store>, id: &str) -> Result<(), BucketError> {
    let Some(store) = journal else { return Ok(()) };
    let id2 = id.to_string();
    store
        .on_pool(move |c| outbox::end_multipart(c, &id2))
        .await
        .map_err(|e| BucketError::Local {
            file: id.to_string(),
            detail: e.to_string(),
        })
}

impl Bucket {
    /// The multipart uploads in progress whose key starts with `prefix`:
    /// (key, upload id), at most a thousand. object_store has no listing of
    /// uploads, so this is a ListMultipartUploads request presigned by it
    /// (the keys never leave the process) and its answer read here.
    pub(crate) async fn open_uploads(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, BucketError> {
        use object_store::signer::{SignedUrlOptions, Signer};
        let opts = SignedUrlOptions::new().with_query([("uploads", ""), ("prefix", prefix)]);
        let url = self
            .s3
            .signed_url_opts(
                reqwest::Method::GET,
                &ObjectPath::from(""),
                std::time::Duration::from_secs(300),
                &opts,
            )
            .await
            .map_err(|e| self.classify(prefix, e))?;
        let down = |detail: String| BucketError::Down {
            bucket: self.bucket.clone(),
            detail,
        };
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| down(e.to_string()))?;
        let resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| down(e.to_string()))?;
        let status = resp.status();
        let body = crate::archive::remote::listing::capped_text(resp, LISTING_CAP)
            .await
            .map_err(down)?;
        if !status.is_success() {
            let detail = format!("{status}: {}", one_line(&body));
            return Err(match status.as_u16() {
                401 | 403 => BucketError::Refused {
                    bucket: self.bucket.clone(),
                    source_: self.source.to_string(),
                    detail,
                },
                404 => BucketError::NoBucket {
                    bucket: self.bucket.clone(),
                    detail,
                },
                _ => down(detail),
            });
        }
        Ok(crate::archive::remote::listing::uploads(&body))
    }
}
