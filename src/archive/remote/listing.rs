//! Reading an S3 answer the client library does not read for us: a body
//! read with a cap, and the uploads of a ListMultipartUploads answer. Pure
//! but for the body's reading.

use futures_util::StreamExt;

/// The body of `resp` as text, at most `cap` bytes (more is an error).
pub(crate) async fn capped_text(resp: reqwest::Response, cap: usize) -> Result<String, String> {
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        if body.len() + chunk.len() > cap {
            return Err(format!("an answer over {cap} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The text of the first `<tag>` in `s`.
fn field<'a>(s: &'a str, tag: &str) -> Option<&'a str> {
    let start = s.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = s[start..].find(&format!("</{tag}>"))?;
    Some(&s[start..start + end])
}

/// The (key, upload id) of each `<Upload>` of a ListMultipartUploads answer.
pub(crate) fn uploads(xml: &str) -> Vec<(String, String)> {
    xml.split("<Upload>")
        .skip(1)
        .filter_map(|u| Some((unescape(field(u, "Key")?), unescape(field(u, "UploadId")?))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uploads_of_an_answer_are_read_with_their_keys_unescaped() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult><Bucket>b</Bucket><Prefix>p/</Prefix>
<Upload><Key>p/a&amp;b.xlsx</Key><UploadId>id-1</UploadId><Initiated>2026-12-07T00:00:00Z</Initiated></Upload>
<Upload><Key>p/c.xlsx</Key><UploadId>id-2</UploadId></Upload>
</ListMultipartUploadsResult>"#;
        assert_eq!(
            uploads(xml),
            vec![
                ("p/a&b.xlsx".to_string(), "id-1".to_string()),
                ("p/c.xlsx".to_string(), "id-2".to_string())
            ]
        );
        assert!(uploads("<Error><Code>AccessDenied</Code></Error>").is_empty());
    }
}
