//! The archive under attack from the operator's own data: a history row
//! recording a file outside the reports directory, a link placed deep in
//! a report's directory chain, two device ids whose file names used to
//! collide, a report recorded under a name from before the injective
//! names. Nothing outside the archive is served or deleted, and every `ok`
//! report's file is the one its row records.

use crate::common;
use crate::web_support;

use common::*;
use std::path::{Path, PathBuf};
use web_support::{Served, get};

const JOB: &str = "[[jobs]]\nname = \"h\"\ngranularity = \"hourly\"\ntimezone = \"UTC\"\n";

const SECRET: &[u8] = b"-----BEGIN OPENSSH PRIVATE KEY----- not for the page";

fn hour(h: u32) -> String {
    format!("2026-11-01T{h:02}:00:00Z")
}

fn sha_of(data: &[u8]) -> String {
    fake_mna::sign::sha256_hex(data)
}

/// `serve` on `w`'s history, on a free loopback port.
fn serve(w: &World) -> Served {
    web_support::serve_world(w, "127.0.0.1:0")
}

/// The id of job `h`'s report for the hour starting at `h` on 2026-11-01.
fn id_of(w: &World, h: u32) -> i64 {
    // 2026-11-01T00:00:00Z
    let start = 1_793_491_200 + i64::from(h) * 3600;
    w.db()
        .query_row(
            "SELECT id FROM reports WHERE job = 'h' AND window_start = ?1",
            [start],
            |r| r.get(0),
        )
        .expect("report id")
}

fn set_file_path(w: &World, id: i64, path: &Path) {
    w.db()
        .execute(
            "UPDATE reports SET file_path = ?1 WHERE id = ?2",
            rusqlite::params![path.to_string_lossy(), id],
        )
        .expect("edit the row");
}

fn status_of(w: &World, id: i64) -> String {
    w.db()
        .query_row("SELECT status FROM reports WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .expect("status")
}

/// A restored or edited database: rows recording `~/notes.txt` and a path
/// that climbs out of the reports directory with `..`. Neither file is
/// served, pruned or deleted; `check` and `status` count both as damage.
#[test]
fn a_row_recording_a_file_outside_the_archive_is_never_served_or_deleted() {
    let w = World::new(JOB);
    assert_exit(&w.fetch("h", &hour(0), &hour(3), &[]), 0);
    let notes = w.dir.path().join("notes.txt");
    std::fs::write(&notes, SECRET).expect("notes");
    let climbing = w.state().join("reports/h/../../id_ed25519");
    std::fs::write(w.dir.path().join("id_ed25519"), SECRET).expect("key");
    let (a, b) = (id_of(&w, 0), id_of(&w, 1));
    set_file_path(&w, a, &notes);
    set_file_path(&w, b, &climbing);

    let o = w.run(&["prune", "--older-than", "1d"]);
    assert_exit(&o, 0);
    assert_eq!(std::fs::read(&notes).expect("notes stay"), SECRET);
    assert_eq!(
        std::fs::read(w.dir.path().join("id_ed25519")).expect("key stays"),
        SECRET
    );
    assert!(stdout(&o).contains("2 reports skipped"), "{}", stdout(&o));
    // skipped, not marked: the damage stays visible until it is repaired
    assert_eq!(status_of(&w, a), "ok");
    assert_eq!(status_of(&w, b), "ok");
    assert_eq!(status_of(&w, id_of(&w, 2)), "pruned");
    {
        let s = serve(&w);
        for id in [a, b] {
            let got = get(s.addr, &format!("/api/reports/{id}/file"), &[]);
            assert_eq!(got.status, 404, "report {id}: {}", got.text());
            assert!(!got.text().contains("OPENSSH"), "{}", got.text());
        }
    }

    let o = w.run(&["status"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("damage: 2 report(s) record a file outside the reports directory"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("fix:"), "{}", stdout(&o));
    let o = w.run(&["status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v[0]["files_outside"], 2, "{v}");
    let o = w.run(&["check"]);
    assert!(
        stdout(&o).contains("damage: 2 report(s) record a file outside"),
        "{}",
        stdout(&o)
    );
}

/// A link placed four and five levels above a report's file (below the
/// root, above the job, year and month directories that were checked)
/// pointing at a directory holding a secret under the same names: the page
/// does not serve it and prune does not delete through it.
#[test]
fn a_link_four_or_more_levels_up_is_never_followed() {
    let w = World::new(JOB);
    assert_exit(&w.fetch("h", &hour(0), &hour(2), &[]), 0);
    let reports = w.state().join("reports");
    let outside = w.dir.path().join("home");
    let chain = "h/2026/11/h_all_ALL_20261101T0000+0000_20261101T0100+0000.xlsx";
    let secret = outside.join(chain);
    std::fs::create_dir_all(secret.parent().expect("dir")).expect("outside tree");
    std::fs::write(&secret, SECRET).expect("secret");
    // four levels up: reports/l4 -> home; five: reports/real/l5 -> home
    std::os::unix::fs::symlink(&outside, reports.join("l4")).expect("link");
    std::fs::create_dir(reports.join("real")).expect("real");
    std::os::unix::fs::symlink(&outside, reports.join("real/l5")).expect("link");
    let rows: Vec<(i64, PathBuf)> = vec![
        (id_of(&w, 0), reports.join("l4").join(chain)),
        (id_of(&w, 1), reports.join("real/l5").join(chain)),
    ];
    for (id, path) in &rows {
        set_file_path(&w, *id, path);
    }
    {
        let s = serve(&w);
        for (id, _) in &rows {
            let got = get(s.addr, &format!("/api/reports/{id}/file"), &[]);
            assert_eq!(got.status, 404, "report {id}");
            assert!(!got.text().contains("OPENSSH"));
        }
    }
    let o = w.run(&["prune", "--older-than", "1d"]);
    assert_exit(&o, 0);
    assert_eq!(std::fs::read(&secret).expect("never deleted"), SECRET);
    // the rows keep their paths: the files were never deleted
    for (id, path) in &rows {
        let recorded: Option<String> = w
            .db()
            .query_row("SELECT file_path FROM reports WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .expect("row");
        assert_eq!(recorded.as_deref(), Some(&*path.to_string_lossy()));
    }
}

/// `x.y` got the file name `x_y_<12 hex of its sha256>`, which a device
/// literally named so kept: one report overwrote the other's file. Fetched
/// together, both files are now whole and as their rows record.
#[test]
fn two_devices_whose_old_names_collided_get_two_intact_files() {
    let hex = &sha_of(b"x.y")[..12];
    let jobs = format!("{JOB}devices = [\"x.y\", \"x_y_{hex}\"]\nper_device = true\n");
    let w = World::new(&jobs);
    assert_exit(&w.fetch("h", &hour(0), &hour(1), &[]), 0);
    let rows = w.ok_rows();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_ne!(rows[0].1, rows[1].1, "two files");
    for (rid, path, sha, bytes) in &rows {
        let data = std::fs::read(path).expect("file");
        assert_eq!((sha_of(&data), data.len() as i64), (sha.clone(), *bytes));
        assert_eq!(Some(data), w.fake.served_file(rid), "{path}");
    }
}

/// A report recorded under the name the old encoding gave (`device-a_b`)
/// is served through its recorded path; fetched again with `--force` it
/// gets its new name, and the old file goes once the new one is recorded.
#[test]
fn a_report_under_its_old_name_keeps_working_and_a_forced_refetch_moves_it() {
    let jobs = format!("{JOB}devices = [\"a_b\"]\nper_device = true\n");
    let w = World::new(&jobs);
    assert_exit(&w.fetch("h", &hour(0), &hour(1), &[]), 0);
    let (_, new, sha, _) = w.ok_rows().remove(0);
    assert!(new.contains("device-a%5Fb"), "{new}");
    let old = new.replace("device-a%5Fb", "device-a_b");
    std::fs::rename(&new, &old).expect("as an old archive had it");
    let id = id_of(&w, 0);
    set_file_path(&w, id, Path::new(&old));
    {
        let s = serve(&w);
        let got = get(s.addr, &format!("/api/reports/{id}/file"), &[]);
        assert_eq!(got.status, 200);
        assert_eq!(sha_of(&got.body), sha);
    }
    assert_exit(&w.fetch("h", &hour(0), &hour(1), &["--force"]), 0);
    let (_, recorded, sha, bytes) = w.ok_rows().remove(0);
    assert_eq!(recorded, new);
    let data = std::fs::read(&new).expect("new file");
    assert_eq!((sha_of(&data), data.len() as i64), (sha, bytes));
    assert!(!Path::new(&old).exists(), "the old file is not left behind");
}
