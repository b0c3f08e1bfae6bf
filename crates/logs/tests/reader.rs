//! The reader on real log files written by the real writer: whole logs across rotated
//! files, `--tail` and `--since` that seek, `--until`, and following while a writer
//! thread appends and rotates.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_logs::writer::rotated_path;
use berth_logs::{read, Cancel, JsonFileWriter, LogEntry, ReadError, ReadOptions, Stop, Stream};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Writes lines `line <i>` for `range`, at time `1000 + i` seconds.
fn write_lines(writer: &mut JsonFileWriter, range: std::ops::Range<u64>) {
    for i in range {
        let stream = if i % 3 == 0 {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        let text = format!("line {i}\n");
        writer.write(stream, text.as_bytes(), at(1000 + i)).unwrap();
    }
}

/// The `i` of a `line <i>` entry.
fn number(entry: &LogEntry) -> u64 {
    let text = std::str::from_utf8(&entry.line).unwrap();
    text.trim_end()
        .strip_prefix("line ")
        .unwrap()
        .parse()
        .unwrap()
}

fn numbers(path: &Path, opts: &ReadOptions) -> Vec<u64> {
    read(path, opts, Stop::default())
        .unwrap()
        .map(|entry| number(&entry.unwrap()))
        .collect()
}

fn range(from: u64, to: u64) -> Vec<u64> {
    (from..to).collect()
}

#[test]
fn whole_log_across_rotated_files_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let mut writer = JsonFileWriter::open(&path, 2000, 4).unwrap();
    write_lines(&mut writer, 0..300);
    assert!(rotated_path(&path, 3).exists());
    let all = numbers(&path, &ReadOptions::default());
    assert_eq!(*all.last().unwrap(), 299);
    assert_eq!(all, range(all[0], 300));
    // Streams and times come back too.
    let first = read(&path, &ReadOptions::default(), Stop::default())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(first.time, at(1000 + all[0]));
    let stream = if all[0] % 3 == 0 {
        Stream::Stderr
    } else {
        Stream::Stdout
    };
    assert_eq!(first.stream, stream);
}

#[test]
fn missing_log_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    assert!(numbers(&dir.path().join("none.log"), &ReadOptions::default()).is_empty());
}

#[test]
fn tail_seeks_from_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut writer = JsonFileWriter::open(&path, u64::MAX, 1).unwrap();
    write_lines(&mut writer, 0..100_000);
    let size = fs::metadata(&path).unwrap().len();
    assert!(size > 5_000_000);
    let opts = ReadOptions {
        tail: Some(10),
        ..Default::default()
    };
    let mut reader = read(&path, &opts, Stop::default()).unwrap();
    let got: Vec<u64> = reader.by_ref().map(|e| number(&e.unwrap())).collect();
    assert_eq!(got, range(99_990, 100_000));
    assert!(
        reader.bytes_read() < 64 * 1024,
        "read {} bytes of {size}",
        reader.bytes_read()
    );
    let tail = |n| {
        numbers(
            &path,
            &ReadOptions {
                tail: Some(n),
                ..Default::default()
            },
        )
    };
    assert!(tail(0).is_empty());
    assert_eq!(tail(100_000).len(), 100_000);
    assert_eq!(tail(1_000_000).len(), 100_000);
}

#[test]
fn tail_spans_rotated_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut writer = JsonFileWriter::open(&path, 1500, 10).unwrap();
    write_lines(&mut writer, 0..200);
    for n in [1, 5, 30, 45, 100] {
        let opts = ReadOptions {
            tail: Some(n as usize),
            ..Default::default()
        };
        assert_eq!(numbers(&path, &opts), range(200 - n, 200), "tail {n}");
    }
}

#[test]
fn since_and_until() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut writer = JsonFileWriter::open(&path, 500_000, 5).unwrap();
    write_lines(&mut writer, 0..50_000);
    let opts = |since: Option<u64>, until: Option<u64>, tail| ReadOptions {
        since: since.map(at),
        until: until.map(at),
        tail,
        follow: false,
    };
    assert_eq!(
        numbers(&path, &opts(Some(1000 + 49_990), None, None)),
        range(49_990, 50_000)
    );
    assert_eq!(
        numbers(&path, &opts(Some(1000 + 40_000), Some(1000 + 40_004), None)),
        range(40_000, 40_005)
    );
    assert!(numbers(&path, &opts(Some(1000 + 60_000), None, None)).is_empty());
    assert_eq!(
        numbers(&path, &opts(Some(1000 + 49_000), None, Some(3))),
        range(49_997, 50_000)
    );
    assert_eq!(
        numbers(&path, &opts(Some(1000 + 49_995), None, Some(100))),
        range(49_995, 50_000)
    );
    // Bisection reads a few blocks per file, not the files.
    let mut reader = read(
        &path,
        &opts(Some(1000 + 47_500), None, None),
        Stop::default(),
    )
    .unwrap();
    let first = number(&reader.next().unwrap().unwrap());
    assert_eq!(first, 47_500);
    assert!(
        reader.bytes_read() < 256 * 1024,
        "read {}",
        reader.bytes_read()
    );
}

#[test]
fn a_corrupt_line_is_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut writer = JsonFileWriter::open(&path, u64::MAX, 1).unwrap();
    write_lines(&mut writer, 0..2);
    fs::write(
        &path,
        [fs::read(&path).unwrap(), b"{\"log\":\"tru\n".to_vec()].concat(),
    )
    .unwrap();
    let mut writer = JsonFileWriter::open(&path, u64::MAX, 1).unwrap();
    write_lines(&mut writer, 2..4);
    let items: Vec<_> = read(&path, &ReadOptions::default(), Stop::default())
        .unwrap()
        .collect();
    assert_eq!(items.len(), 5);
    assert!(
        matches!(&items[2], Err(e @ ReadError::Line { offset, .. }) if !e.is_fatal() && *offset > 0)
    );
    let good: Vec<u64> = items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .map(number)
        .collect();
    assert_eq!(good, vec![0, 1, 2, 3]);
}

#[test]
fn follow_sees_new_lines_and_continues_across_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut writer = JsonFileWriter::open(&path, 3000, 1000).unwrap();
    write_lines(&mut writer, 0..10);
    let finished = Arc::new(AtomicBool::new(false));
    let done = finished.clone();
    let opts = ReadOptions {
        follow: true,
        tail: Some(5),
        ..Default::default()
    };
    let stop = Stop::new(Cancel::new()).with_done(move || done.load(Ordering::SeqCst));
    let reader = read(&path, &opts, stop).unwrap();
    assert!(reader.is_notified());
    let writer_thread = thread::spawn(move || {
        for batch in 1..40u64 {
            write_lines(&mut writer, batch * 50..batch * 50 + 50);
            thread::sleep(Duration::from_millis(2));
        }
        finished.store(true, Ordering::SeqCst);
    });
    let got: Vec<u64> = reader.map(|e| number(&e.unwrap())).collect();
    writer_thread.join().unwrap();
    assert!(
        rotated_path(&path, 20).exists(),
        "the writer rotated while followed"
    );
    let mut want = range(5, 10);
    for batch in 1..40u64 {
        want.extend(batch * 50..batch * 50 + 50);
    }
    assert_eq!(got, want);
}

#[test]
fn follow_from_tail_zero_waits_for_the_file_and_new_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.log");
    let finished = Arc::new(AtomicBool::new(false));
    let done = finished.clone();
    let opts = ReadOptions {
        follow: true,
        tail: Some(0),
        ..Default::default()
    };
    let stop = Stop::default().with_done(move || done.load(Ordering::SeqCst));
    let reader = read(&path, &opts, stop).unwrap();
    let writer_path = path.clone();
    let writer_thread = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        let mut writer = JsonFileWriter::open(&writer_path, 400, 2).unwrap();
        for i in 0..30 {
            write_lines(&mut writer, i..i + 1);
            thread::sleep(Duration::from_millis(3));
        }
        finished.store(true, Ordering::SeqCst);
    });
    let got: Vec<u64> = reader.map(|e| number(&e.unwrap())).collect();
    writer_thread.join().unwrap();
    assert_eq!(got, range(0, 30));
}

#[test]
fn follow_ends_on_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut writer = JsonFileWriter::open(&path, u64::MAX, 1).unwrap();
    write_lines(&mut writer, 0..3);
    let cancel = Cancel::new();
    let opts = ReadOptions {
        follow: true,
        ..Default::default()
    };
    let mut reader = read(&path, &opts, cancel.clone().into()).unwrap();
    assert_eq!(number(&reader.next().unwrap().unwrap()), 0);
    let canceller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        cancel.cancel();
    });
    let started = Instant::now();
    let rest: Vec<u64> = reader.map(|e| number(&e.unwrap())).collect();
    assert_eq!(rest, vec![1, 2]);
    assert!(started.elapsed() < Duration::from_secs(2));
    canceller.join().unwrap();
}

#[test]
fn follow_with_past_until_ends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut writer = JsonFileWriter::open(&path, u64::MAX, 1).unwrap();
    write_lines(&mut writer, 0..3);
    let opts = ReadOptions {
        follow: true,
        until: Some(at(1001)),
        ..Default::default()
    };
    assert_eq!(numbers(&path, &opts), vec![0, 1]);
    let opts = ReadOptions {
        follow: true,
        until: Some(SystemTime::now() + Duration::from_millis(150)),
        ..Default::default()
    };
    assert_eq!(numbers(&path, &opts), vec![0, 1, 2]);
}

/// Follows with a reader slower than the writer, so that several rotations happen
/// between two reads; with `keep` files the reader finds its successor by inode, with
/// few files it loses the deleted ones but stays in order and reaches the end.
fn slow_follower(max_file: u32) -> Vec<u64> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut writer = JsonFileWriter::open(&path, 600, max_file).unwrap();
    let finished = Arc::new(AtomicBool::new(false));
    let done = finished.clone();
    let opts = ReadOptions {
        follow: true,
        ..Default::default()
    };
    let stop = Stop::default().with_done(move || done.load(Ordering::SeqCst));
    let reader = read(&path, &opts, stop).unwrap();
    let writer_thread = thread::spawn(move || {
        for batch in 0..20u64 {
            write_lines(&mut writer, batch * 40..batch * 40 + 40);
            thread::sleep(Duration::from_millis(5));
        }
        finished.store(true, Ordering::SeqCst);
    });
    let got = reader
        .map(|e| {
            thread::sleep(Duration::from_micros(300));
            number(&e.unwrap())
        })
        .collect();
    writer_thread.join().unwrap();
    got
}

#[test]
fn slow_follower_keeps_up_across_many_rotations() {
    assert_eq!(slow_follower(500), range(0, 800));
}

#[test]
fn slow_follower_skips_deleted_files_in_order() {
    let got = slow_follower(2);
    assert_eq!(*got.last().unwrap(), 799);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
}
