//! Hex SHA-256, for request signing and for the short names of long
//! targets. Pure.

use sha2::{Digest, Sha256};

/// Hex SHA-256 of `data`, lowercase.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}
