//! The `memory` scenario: peak RSS of mna-reportd fetching one 256 MiB
//! report (the fake's large-file mode), against a small report's, and the
//! check that the big file arrived whole (length and SHA-256).

use std::fs::File;
use std::path::Path;
use std::time::Instant;

use fake_mna::FakeConfig;

use crate::Results;
use crate::harness::MIB;
use crate::world::World;

const BIG_FILE: u64 = 256 << 20;

/// Hex SHA-256 of a file, read in pieces (the big report stays out of memory).
fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    use std::io::Read;
    let mut f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if n == 0 {
            return hex::encode(h.finalize());
        }
        h.update(&buf[..n]);
    }
}

const RSS_TARGET_MIB: f64 = 64.0;

pub fn scenario(r: &mut Results) {
    let small = World::new(FakeConfig::default(), 20, 4);
    let run = small.fetch(1, "memory-small");
    small.history().assert_all_ok(1);
    r.info(
        "memory",
        "peak RSS, one default report (24 rows)",
        format!("{:.1} MiB", run.rss_mib()),
    );
    r.note(format!(
        "memory: peak RSS is the child's ru_maxrss from wait4 in a small measuring parent, \
         whose own {:.1} MiB is the floor of the figure",
        run.floor_kib as f64 / 1024.0
    ));
    r.keep.push(small.dir);

    let t0 = Instant::now();
    let cfg = FakeConfig {
        file_bytes: Some(BIG_FILE),
        ..FakeConfig::default()
    };
    let big = World::new(cfg, 20, 4);
    println!(
        "  (the fake built its 256 MiB file in {:.1} s)",
        t0.elapsed().as_secs_f64()
    );
    let run = big.fetch(1, "memory-big");
    let rows = big.history().assert_all_ok(1);
    let (request_id, path, bytes) = &rows[0];
    assert_eq!(
        Some(*bytes),
        big.fake.large_file_len(),
        "{path}: whole file"
    );
    let want = big.fake.served_sha256(request_id);
    let got = sha256_file(Path::new(path));
    assert_eq!(want.as_deref(), Some(got.as_str()), "{path}: content");
    r.check(
        "memory",
        &format!("peak RSS, one {:.0} MiB report", *bytes as f64 / MIB),
        format!("{:.1} MiB", run.rss_mib()),
        "< 64 MiB",
        run.rss_mib() < RSS_TARGET_MIB,
    );
    r.info(
        "memory",
        "wall time of the 256 MiB fetch",
        format!(
            "{:.2} s ({:.0} MiB/s)",
            run.wall.as_secs_f64(),
            *bytes as f64 / MIB / run.wall.as_secs_f64()
        ),
    );
    r.keep.push(big.dir);
}
