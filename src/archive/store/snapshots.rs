//! The `snapshots` table beyond what the outbox writes
//! ([`super::outbox::record_snapshot`], [`super::outbox::last_snapshot`]):
//! the rows of snapshots deleted from the bucket go with them.

use rusqlite::Connection;

/// Forget the snapshots at `keys` (deleted from the bucket).
pub(crate) fn forget(conn: &mut Connection, keys: &[String]) -> rusqlite::Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction()?;
    for key in keys {
        tx.prepare_cached("DELETE FROM snapshots WHERE remote_key = ?1")?
            .execute([key])?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::store::outbox::{last_snapshot, record_snapshot};

    #[test]
    fn a_deleted_snapshot_is_forgotten() {
        let mut c = Connection::open_in_memory().expect("open");
        crate::archive::store::migrate(&mut c).expect("migrate");
        record_snapshot(&c, "p/_history/a", 100, 5).expect("a");
        record_snapshot(&c, "p/_history/b", 200, 5).expect("b");
        forget(&mut c, &["p/_history/b".to_string()]).expect("forget");
        assert_eq!(last_snapshot(&c).expect("last"), Some(100));
        forget(&mut c, &[]).expect("nothing");
    }
}
