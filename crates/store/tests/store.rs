//! The store's promises, one at a time, mostly on the fault-injecting disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use warren_store::raw::{FileHeader, FORMAT_VERSION, SEGMENT_MAGIC};
use warren_store::{
    DamageKind, Location, MemIo, Options, Record, Recovered, StdIo, Store, StoreError,
};

const DIR: &str = "/data";

fn manual(segment_size: u64) -> Options {
    Options {
        manual_writer: true,
        segment_size,
        copy_chunk: 1024,
        ..Options::default()
    }
}

fn open(io: &MemIo, opts: Options) -> (Store, Recovered) {
    Store::open(DIR, Arc::new(io.clone()), opts).expect("open")
}

fn body(id: u64, len: usize) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (id as usize * 31 + i) as u8)
            .collect::<Vec<u8>>(),
    )
}

/// Appends a message to `queues` (each at `seq`), runs the writer, returns the id and
/// the message's location.
fn publish(store: &Store, queues: &[u64], seq: u64, len: usize) -> (u64, Location) {
    let id = store.new_message_id();
    let mut recs = vec![Record::Message {
        id,
        data: body(id, len),
    }];
    for &queue in queues {
        recs.push(Record::Enqueue {
            queue,
            seq,
            message: id,
        });
    }
    let mut t = store.append(recs);
    store.step();
    let done = t.try_take().expect("resolved").expect("stored");
    (id, done.locations[0])
}

fn settle(store: &Store, rec: Record) {
    let mut t = store.append(vec![rec]);
    store.step();
    t.try_take().expect("resolved").expect("stored");
}

fn seqs(rec: &Recovered, queue: u64) -> Vec<(u64, bool)> {
    rec.queues
        .get(&queue)
        .map(|v| v.iter().map(|m| (m.seq, m.delivered)).collect())
        .unwrap_or_default()
}

fn reopen(io: &MemIo, store: Store, opts: Options) -> (Store, Recovered) {
    drop(store);
    io.crash();
    io.restart();
    open(io, opts)
}

#[test]
fn recovery_gives_back_unacked_messages_in_order_with_delivered_flags() {
    let io = MemIo::new(1);
    let (store, rec) = open(&io, manual(1 << 20));
    assert!(rec.queues.is_empty());
    let mut ids = Vec::new();
    for seq in 0..10 {
        ids.push(publish(&store, &[7], seq, 100));
    }
    settle(
        &store,
        Record::Ack {
            queue: 7,
            seqs: vec![0, 3],
        },
    );
    settle(
        &store,
        Record::Delivered {
            queue: 7,
            seqs: vec![1, 4, 3],
        },
    );
    let (store, rec) = reopen(&io, store, manual(1 << 20));
    assert_eq!(
        seqs(&rec, 7),
        vec![
            (1, true),
            (2, false),
            (4, true),
            (5, false),
            (6, false),
            (7, false),
            (8, false),
            (9, false)
        ]
    );
    for m in &rec.queues[&7] {
        let (id, _) = ids[m.seq as usize];
        assert_eq!(m.id, id);
        assert_eq!(store.read(m.id, m.location).unwrap(), body(id, 100));
    }
    assert!(rec.report.damage.is_empty());
}

#[test]
fn a_message_for_several_queues_is_written_once() {
    let io = MemIo::new(2);
    let (store, _) = open(&io, manual(1 << 20));
    let before = store.stats().bytes_written;
    publish(&store, &[1, 2, 3, 4], 0, 10_000);
    let written = store.stats().bytes_written - before;
    assert!(
        written < 10_300,
        "{written} bytes for one 10 kB message to 4 queues"
    );
    let (_, rec) = reopen(&io, store, manual(1 << 20));
    for q in 1..=4 {
        assert_eq!(seqs(&rec, q), vec![(0, false)]);
    }
    // One message record, shared.
    assert_eq!(rec.report.messages, 1);
    assert_eq!(rec.report.positions, 4);
}

#[test]
fn one_fsync_covers_every_append_of_a_batch() {
    let io = MemIo::new(3);
    let (store, _) = open(&io, manual(1 << 20));
    let syncs = io.stats().syncs;
    let mut tickets: Vec<_> = (0..100)
        .map(|seq| {
            let id = store.new_message_id();
            store.append(vec![
                Record::Message {
                    id,
                    data: body(id, 1000),
                },
                Record::Enqueue {
                    queue: 1,
                    seq,
                    message: id,
                },
            ])
        })
        .collect();
    assert!(
        tickets.iter_mut().all(|t| t.try_take().is_none()),
        "nothing durable before the sync"
    );
    let appends = io.stats().appends;
    store.step();
    assert_eq!(io.stats().syncs - syncs, 1);
    assert_eq!(io.stats().appends - appends, 1, "one write call");
    for t in &mut tickets {
        t.try_take().unwrap().unwrap();
    }
}

#[test]
fn a_ticket_fails_when_its_sync_fails_and_the_message_is_not_kept() {
    let io = MemIo::new(4);
    let (store, _) = open(&io, manual(1 << 20));
    publish(&store, &[1], 0, 10);
    io.fail_next_syncs(1);
    let id = store.new_message_id();
    let mut t = store.append(vec![
        Record::Message {
            id,
            data: body(id, 10),
        },
        Record::Enqueue {
            queue: 1,
            seq: 1,
            message: id,
        },
    ]);
    store.step();
    let err = t.try_take().unwrap().unwrap_err();
    assert!(err.to_string().contains("fdatasync"), "{err}");
    // The next append goes through (to a fresh segment).
    publish(&store, &[1], 2, 10);
    let (_, rec) = reopen(&io, store, manual(1 << 20));
    assert_eq!(seqs(&rec, 1), vec![(0, false), (2, false)]);
}

#[test]
fn a_full_disk_fails_appends_harms_nothing_stored_and_passes_when_space_returns() {
    let io = MemIo::new(5);
    let (store, _) = open(&io, manual(1 << 20));
    let (id0, loc0) = publish(&store, &[1], 0, 500);
    io.set_space_limit(Some(io.used() + 300));
    let id = store.new_message_id();
    let mut t = store.append(vec![
        Record::Message {
            id,
            data: body(id, 2000),
        },
        Record::Enqueue {
            queue: 1,
            seq: 1,
            message: id,
        },
    ]);
    store.step();
    let err = t.try_take().unwrap().unwrap_err();
    assert!(err.is_no_space(), "{err}");
    assert_eq!(store.read(id0, loc0).unwrap(), body(id0, 500));
    io.set_space_limit(None);
    publish(&store, &[1], 2, 2000);
    let (_, rec) = reopen(&io, store, manual(1 << 20));
    assert_eq!(seqs(&rec, 1), vec![(0, false), (2, false)]);
    assert!(rec.report.damage.is_empty(), "{:?}", rec.report.damage);
}

#[test]
fn the_reserve_keeps_room_for_acks_when_messages_no_longer_fit() {
    let io = MemIo::new(55);
    let opts = Options {
        min_free_bytes: 4000,
        ..manual(1 << 20)
    };
    let (store, _) = open(&io, opts.clone());
    let (kept, _) = publish(&store, &[1], 0, 500);
    let (acked, _) = publish(&store, &[1], 1, 500);
    // 5,000 bytes left: a 2,000-byte message would dig into the 4,000-byte reserve.
    io.set_space_limit(Some(io.used() + 5000));
    let id = store.new_message_id();
    let mut t = store.append(vec![
        Record::Message {
            id,
            data: body(id, 2000),
        },
        Record::Enqueue {
            queue: 1,
            seq: 2,
            message: id,
        },
    ]);
    store.step();
    let err = t.try_take().unwrap().unwrap_err();
    assert!(err.is_no_space(), "refused like a full disk: {err}");
    // Acknowledgements still go to disk, from the reserve.
    settle(
        &store,
        Record::Ack {
            queue: 1,
            seqs: vec![1],
        },
    );
    io.set_space_limit(None);
    let (_, rec) = reopen(&io, store, opts);
    assert_eq!(seqs(&rec, 1), vec![(0, false)]);
    assert_eq!(rec.queues[&1][0].id, kept);
    assert_ne!(kept, acked);
}

#[test]
fn a_torn_tail_is_cut_off_and_reported() {
    let io = MemIo::new(6);
    let (store, _) = open(&io, manual(1 << 20));
    for seq in 0..5 {
        publish(&store, &[1], seq, 200);
    }
    // The end of the last durable record (segment 1 is the only one, and the head).
    let clean_len = store.stats().disk_bytes;
    // Crash part-way through the next write (a torn prefix stays behind).
    let id = store.new_message_id();
    let _t = store.append(vec![
        Record::Message {
            id,
            data: body(id, 5000),
        },
        Record::Enqueue {
            queue: 1,
            seq: 5,
            message: id,
        },
    ]);
    io.crash_after(0);
    store.step();
    drop(store);
    // Make sure something of it is there to tear: put a partial frame at the end.
    io.restart();
    let seg = PathBuf::from("/data/msgs/00000001.seg");
    let mut file = io.read_file(&seg).unwrap();
    let mut junk = Vec::new();
    Record::Message {
        id: 99,
        data: body(99, 100),
    }
    .encode(1, file.len() as u64, &mut junk);
    file.extend_from_slice(&junk[..60]);
    let dropped = file.len() as u64 - clean_len;
    io.write_file(&seg, &file);
    let (store, rec) = open(&io, manual(1 << 20));
    assert_eq!(seqs(&rec, 1).len(), 5);
    let torn: Vec<_> = rec
        .report
        .damage
        .iter()
        .filter(|d| d.kind == DamageKind::TornTail && d.path == seg)
        .collect();
    assert_eq!(torn.len(), 1, "{:?}", rec.report.damage);
    assert_eq!(torn[0].offset, clean_len);
    assert_eq!(torn[0].bytes, dropped);
    assert!(dropped >= 60);
    assert_eq!(
        io.read_file(&seg).unwrap().len() as u64,
        clean_len,
        "truncated"
    );
    drop(store);
}

#[test]
fn a_corrupt_record_in_the_middle_is_reported_and_the_rest_is_served() {
    let io = MemIo::new(7);
    let (store, _) = open(&io, manual(1 << 20));
    let mut locs = Vec::new();
    for seq in 0..10 {
        locs.push(publish(&store, &[1], seq, 300));
    }
    let (_, victim) = locs[4];
    let seg = PathBuf::from("/data/msgs/00000001.seg");
    assert!(io.corrupt(&seg, victim.offset as u64 + 50));
    let (store, rec) = reopen(&io, store, manual(1 << 20));
    let got: Vec<u64> = seqs(&rec, 1).iter().map(|s| s.0).collect();
    assert_eq!(got, vec![0, 1, 2, 3, 5, 6, 7, 8, 9]);
    let d = &rec.report.damage;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].kind, DamageKind::Corrupt);
    assert_eq!(d[0].path, seg);
    assert_eq!(d[0].offset, victim.offset as u64);
    assert_eq!(d[0].bytes, victim.len as u64);
    assert_eq!(rec.report.lost_positions, 1, "its Enqueue has no message");
    for m in &rec.queues[&1] {
        assert_eq!(store.read(m.id, m.location).unwrap(), body(m.id, 300));
    }
    // Reading the damaged one reports file and offset.
    let err = store.read(locs[4].0, victim).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound { .. } | StoreError::Corrupt { .. }
        ),
        "{err}"
    );
}

#[test]
fn a_newer_format_is_refused_untouched() {
    let io = MemIo::new(8);
    let mut header = FileHeader::new(SEGMENT_MAGIC, 1, 0);
    header.version = FORMAT_VERSION + 1;
    let mut file = header.encode().to_vec();
    file.extend_from_slice(b"whatever a newer version writes");
    let seg = Path::new("/data/msgs/00000001.seg");
    io.write_file(seg, &file);
    let err = Store::open(DIR, Arc::new(io.clone()), manual(1 << 20))
        .err()
        .expect("refused");
    assert!(
        matches!(err, StoreError::UnsupportedVersion { version, .. } if version == FORMAT_VERSION + 1)
    );
    assert!(err.to_string().contains("format version 2"), "{err}");
    assert_eq!(io.read_file(seg).unwrap(), file);
}

#[test]
fn a_segment_created_during_a_crash_without_its_header_is_removed() {
    let io = MemIo::new(9);
    let (store, _) = open(&io, manual(1 << 20));
    publish(&store, &[1], 0, 10);
    drop(store);
    io.write_file(Path::new("/data/msgs/00000007.seg"), b"WRNS");
    let (store, rec) = open(&io, manual(1 << 20));
    assert_eq!(seqs(&rec, 1), vec![(0, false)]);
    assert!(io.read_file(Path::new("/data/msgs/00000007.seg")).is_none());
    publish(&store, &[1], 1, 10);
}

#[test]
fn a_queue_deleted_takes_its_messages_with_it() {
    let io = MemIo::new(10);
    let (store, _) = open(&io, manual(1 << 20));
    publish(&store, &[1, 2], 0, 10);
    publish(&store, &[1], 1, 10);
    settle(&store, Record::QueueDeleted { queue: 1 });
    assert_eq!(
        store.stats().live_messages,
        1,
        "the shared one stays for queue 2"
    );
    let (_, rec) = reopen(&io, store, manual(1 << 20));
    assert!(seqs(&rec, 1).is_empty());
    assert_eq!(seqs(&rec, 2), vec![(0, false)]);
}

#[test]
fn appends_breaking_the_rules_are_refused_whole() {
    let io = MemIo::new(11);
    let (store, _) = open(&io, manual(1 << 20));
    let (id, _) = publish(&store, &[1], 0, 10);
    let mut dup = store.append(vec![Record::Message {
        id,
        data: Bytes::new(),
    }]);
    let fresh = store.new_message_id();
    let mut unknown = store.append(vec![
        Record::Message {
            id: fresh,
            data: Bytes::new(),
        },
        Record::Enqueue {
            queue: 1,
            seq: 1,
            message: 12345,
        },
    ]);
    store.step();
    assert!(matches!(dup.try_take(), Some(Err(StoreError::Invalid(_)))));
    assert!(matches!(
        unknown.try_take(),
        Some(Err(StoreError::Invalid(_)))
    ));
    // Re-enqueueing a stored message elsewhere (dead-lettering) is fine.
    let mut t = store.append(vec![
        Record::Enqueue {
            queue: 9,
            seq: 0,
            message: id,
        },
        Record::Ack {
            queue: 1,
            seqs: vec![0],
        },
    ]);
    store.step();
    t.try_take().unwrap().unwrap();
    let (_, rec) = reopen(&io, store, manual(1 << 20));
    assert!(seqs(&rec, 1).is_empty());
    assert_eq!(rec.queues[&9][0].id, id);
}

#[test]
fn message_ids_are_never_handed_out_twice_even_when_every_segment_is_gone() {
    let io = MemIo::new(12);
    let opts = manual(256);
    let (store, _) = open(&io, opts.clone());
    let mut last = 0;
    for seq in 0..20 {
        let (id, _) = publish(&store, &[1], seq, 100);
        settle(
            &store,
            Record::Ack {
                queue: 1,
                seqs: vec![seq],
            },
        );
        last = id;
    }
    assert!(store.stats().segments_deleted > 0);
    let (store, _) = reopen(&io, store, opts);
    assert!(store.new_message_id() > last);
}

#[test]
fn reclaim_keeps_disk_use_near_the_live_backlog() {
    // 100 x the segment size flows through a queue that always holds a backlog of 20,
    // and the very first messages are never acked: they must be copied forward, not
    // pin every segment behind them.
    let io = MemIo::new(13);
    let seg = 8 * 1024;
    let opts = manual(seg);
    let (store, _) = open(&io, opts.clone());
    let (pinned, pinned_loc) = publish(&store, &[2], 0, 200);
    settle(
        &store,
        Record::Delivered {
            queue: 2,
            seqs: vec![0],
        },
    );
    let mut max_disk = 0;
    let mut next_ack = 0;
    let total = 100 * seg / 500;
    for seq in 0..total {
        publish(&store, &[1], seq, 400);
        if seq >= 20 {
            settle(
                &store,
                Record::Ack {
                    queue: 1,
                    seqs: vec![next_ack],
                },
            );
            next_ack += 1;
        }
        max_disk = max_disk.max(io.used());
    }
    while store.step() {}
    let stats = store.stats();
    assert!(stats.bytes_written > 100 * seg, "{stats:?}");
    assert!(stats.segments_deleted > 90, "{stats:?}");
    assert!(
        stats.bytes_copied > 0,
        "the pinned message was copied forward"
    );
    // Live: ~21 messages of ~440 bytes (~9 kB); allow the head and a segment or so.
    assert!(max_disk < 5 * seg, "disk use peaked at {max_disk} bytes");
    // The pinned message moved; its old location still reads.
    assert_eq!(store.read(pinned, pinned_loc).unwrap(), body(pinned, 200));
    let (_, rec) = reopen(&io, store, opts);
    assert_eq!(
        seqs(&rec, 2),
        vec![(0, true)],
        "copied with its delivered flag"
    );
    let backlog: Vec<u64> = seqs(&rec, 1).iter().map(|s| s.0).collect();
    assert_eq!(backlog, (next_ack..total).collect::<Vec<_>>());
}

#[test]
fn metadata_log_and_snapshot() {
    let io = MemIo::new(14);
    let (store, rec) = open(&io, manual(1 << 20));
    assert!(rec.meta.is_empty());
    for r in ["declare a", "declare b", "bind a b"] {
        store.append_meta(r.as_bytes()).unwrap();
    }
    let (store, rec) = reopen(&io, store, manual(1 << 20));
    assert_eq!(rec.meta, vec!["declare a", "declare b", "bind a b"]);
    store
        .compact_meta(&[Bytes::from("snap 1"), Bytes::from("snap 2")])
        .unwrap();
    store.append_meta(b"after").unwrap();
    let (_, rec) = reopen(&io, store, manual(1 << 20));
    assert_eq!(rec.meta, vec!["snap 1", "snap 2", "after"]);
}

#[test]
fn a_crash_anywhere_in_a_compaction_leaves_the_old_or_the_new_metadata() {
    for crash_at in 0..12 {
        let io = MemIo::new(100 + crash_at);
        let (store, _) = open(&io, manual(1 << 20));
        store.append_meta(b"old 1").unwrap();
        store.append_meta(b"old 2").unwrap();
        io.crash_after(crash_at);
        let r = store.compact_meta(&[Bytes::from("new")]);
        drop(store);
        io.restart();
        let (_, rec) = open(&io, manual(1 << 20));
        let old = vec!["old 1", "old 2"];
        let new = vec!["new"];
        assert!(
            rec.meta == old || rec.meta == new,
            "crash at {crash_at}: {:?}",
            rec.meta
        );
        if r.is_ok() {
            assert_eq!(rec.meta, new, "crash at {crash_at}");
        }
    }
}

#[test]
fn a_torn_metadata_append_is_cut_off() {
    let io = MemIo::new(15);
    let (store, _) = open(&io, manual(1 << 20));
    store.append_meta(b"kept").unwrap();
    drop(store);
    let log = Path::new("/data/meta.log");
    let mut f = io.read_file(log).unwrap();
    f.extend_from_slice(&[0xF3, b'W', b'r', 0x1A, 50, 0, 0]);
    io.write_file(log, &f);
    let (_, rec) = open(&io, manual(1 << 20));
    assert_eq!(rec.meta, vec!["kept"]);
    assert_eq!(rec.meta_report.damage.len(), 1);
}

/// A child process forked by `a_second_process_is_refused` briefly shares every open
/// file of this one (until its exec closes them), locks included: tests that drop a
/// real store and reopen it take this so no fork happens in between.
static FORKING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("warren-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn a_second_open_of_the_directory_is_refused_with_the_holders_pid() {
    let _no_fork = FORKING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("lock");
    let (store, _) = Store::open_dir(&dir).unwrap();
    let err = Store::open_dir(&dir).err().expect("refused");
    let want = format!(
        "data directory {} is in use by another warren process (pid {})",
        dir.display(),
        std::process::id()
    );
    assert_eq!(err.to_string(), want);
    drop(store);
    let (store, _) = Store::open_dir(&dir).expect("free again");
    drop(store);
    // The in-memory disk refuses the same way.
    let io = MemIo::new(16);
    let (s1, _) = open(&io, manual(1 << 20));
    assert!(matches!(
        Store::open(DIR, Arc::new(io.clone()), manual(1 << 20)),
        Err(StoreError::Locked { .. })
    ));
    drop(s1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Run as a child process by the test below: tries to open the directory it is given.
#[test]
fn lock_child() {
    let Ok(dir) = std::env::var("WARREN_STORE_LOCK_CHILD_DIR") else {
        return;
    };
    let holder: u32 = std::env::var("WARREN_STORE_LOCK_HOLDER")
        .unwrap()
        .parse()
        .unwrap();
    match Store::open_dir(&dir) {
        Err(StoreError::Locked { pid, .. }) => assert_eq!(pid, Some(holder)),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a second process opened a locked directory"),
    }
}

#[test]
fn a_second_process_is_refused() {
    let dir = temp_dir("lock-process");
    let (store, _) = Store::open_dir(&dir).unwrap();
    let _no_fork = FORKING.lock().unwrap_or_else(|p| p.into_inner());
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lock_child", "--test-threads=1"])
        .env("WARREN_STORE_LOCK_CHILD_DIR", &dir)
        .env("WARREN_STORE_LOCK_HOLDER", std::process::id().to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the child process was not refused as expected"
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)] // only this test's own tasks run meanwhile
async fn real_disk_round_trip_with_the_writer_thread() {
    let _no_fork = FORKING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("real");
    let opts = Options {
        segment_size: 64 * 1024,
        ..Options::default()
    };
    let (store, _) = Store::open(&dir, Arc::new(StdIo), opts.clone()).unwrap();
    let mut tasks = Vec::new();
    for q in 0..8u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut locs = Vec::new();
            for seq in 0..50 {
                let id = store.new_message_id();
                let t = store.append(vec![
                    Record::Message {
                        id,
                        data: body(id, 1000),
                    },
                    Record::Enqueue {
                        queue: q,
                        seq,
                        message: id,
                    },
                ]);
                locs.push((id, t.await.unwrap().locations[0]));
            }
            locs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    for (id, loc) in &all {
        assert_eq!(store.read(*id, *loc).unwrap(), body(*id, 1000));
    }
    let stats = store.stats();
    assert_eq!(stats.appends, 400);
    assert!(stats.syncs <= stats.appends);
    drop(store);
    let dir2 = dir.clone();
    let rec = tokio::task::spawn_blocking(move || Store::open(&dir2, Arc::new(StdIo), opts))
        .await
        .unwrap()
        .unwrap()
        .1;
    for q in 0..8 {
        assert_eq!(
            seqs(&rec, q).iter().map(|s| s.0).collect::<Vec<_>>(),
            (0..50).collect::<Vec<_>>()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
