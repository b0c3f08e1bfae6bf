//! The json-file writer on real files: dockerd's exact bytes, read-back of awkward
//! content, appending, and rotation.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_logs::json::parse_line;
use berth_logs::writer::rotated_path;
use berth_logs::{JsonFileWriter, LineSplitter, LogConfig, Stream};

fn at(secs: u64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs, nanos)
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Lines captured from a real dockerd 20.10 (`docker run busybox sh -c 'printf ...'`,
/// then its `<id>-json.log`), and the raw bytes the container printed for each.
const DOCKERD_LINES: [(&[u8], &[u8]); 3] = [
    (
        b"hi\n",
        b"{\"log\":\"hi\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T12:10:31.673201632Z\"}\n",
    ),
    (
        b"<b>&\"x\"\\\t\x01\x7f \xc3\xa9 \xe2\x80\xa8 \xff\xe2\x82 end\r\n",
        b"{\"log\":\"\\u003cb\\u003e\\u0026\\\"x\\\"\\\\\\u0009\\u0001\x7f \xc3\xa9 \\u2028 \
          \\ufffd\\ufffd\\ufffd end\\r\\n\",\"stream\":\"stdout\",\
          \"time\":\"2026-11-22T12:10:31.673224977Z\"}\n",
    ),
    (
        b"\n",
        b"{\"log\":\"\\n\",\"stream\":\"stderr\",\"time\":\"2026-11-22T12:10:31.875160217Z\"}\n",
    ),
];

#[test]
fn byte_identical_to_dockerd() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let mut writer = JsonFileWriter::open(&path, u64::MAX, 1).unwrap();
    let mut expected = Vec::new();
    for (raw, line) in DOCKERD_LINES {
        let entry = parse_line(line).unwrap();
        writer.write(entry.stream, raw, entry.time).unwrap();
        expected.extend_from_slice(line);
    }
    assert_eq!(
        String::from_utf8_lossy(&fs::read(&path).unwrap()),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(fs::read(&path).unwrap(), expected);
    // Go's RFC3339Nano drops trailing zeros of the fraction, and the whole fraction on
    // a whole second.
    writer
        .write(Stream::Stdout, b"x\n", at(1_566_473_603, 48_879_460))
        .unwrap();
    writer
        .write(Stream::Stdout, b"y\n", at(1_735_787_045, 0))
        .unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.ends_with(concat!(
        r#""time":"2019-08-22T11:33:23.04887946Z"}"#,
        "\n",
        r#"{"log":"y\n","stream":"stdout","time":"2025-01-02T03:04:05Z"}"#,
        "\n"
    )));
}

#[test]
fn content_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut writer = JsonFileWriter::open(&path, u64::MAX, 1).unwrap();
    let mut every_byte: Vec<u8> = (0u8..=0x7f).collect();
    every_byte.push(b'\n');
    let chunks: Vec<&[u8]> = vec![
        b"plain\n",
        b"quotes \" and \\ backslashes\n",
        &every_byte,
        "unicode é € 😀 \u{2028}\u{2029}\n".as_bytes(),
        b"partial line without newline",
        b"",
    ];
    for (i, chunk) in chunks.iter().enumerate() {
        let stream = if i % 2 == 0 {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        writer
            .write(stream, chunk, at(1_700_000_000 + i as u64, 7))
            .unwrap();
    }
    // Invalid UTF-8: each bad byte becomes U+FFFD, as dockerd writes it.
    writer
        .write(
            Stream::Stdout,
            b"bad \xff\xe2\x82 end\n",
            at(1_800_000_000, 0),
        )
        .unwrap();
    let read: Vec<_> = lines(&path)
        .iter()
        .map(|l| parse_line(l.as_bytes()).unwrap())
        .collect();
    assert_eq!(read.len(), chunks.len() + 1);
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(read[i].line, *chunk, "line {i}");
        assert_eq!(read[i].time, at(1_700_000_000 + i as u64, 7));
        let stream = if i % 2 == 0 {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        assert_eq!(read[i].stream, stream);
    }
    assert_eq!(
        read[chunks.len()].line,
        "bad \u{fffd}\u{fffd}\u{fffd} end\n".as_bytes()
    );
}

#[test]
fn open_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    JsonFileWriter::open(&path, u64::MAX, 1)
        .unwrap()
        .write(Stream::Stdout, b"one\n", at(1, 0))
        .unwrap();
    let mut writer = JsonFileWriter::open(&path, u64::MAX, 1).unwrap();
    assert_eq!(writer.size(), fs::metadata(&path).unwrap().len());
    writer.write(Stream::Stdout, b"two\n", at(2, 0)).unwrap();
    assert_eq!(lines(&path).len(), 2);
}

#[test]
fn rotation_keeps_max_file_and_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let max_size = 1000;
    let mut writer = JsonFileWriter::open(&path, max_size, 3).unwrap();
    for i in 0..500u64 {
        let text = format!("line {i} {}\n", "x".repeat((i % 37) as usize));
        writer
            .write(Stream::Stdout, text.as_bytes(), at(1_000 + i, 0))
            .unwrap();
    }
    assert!(path.exists());
    assert!(rotated_path(&path, 1).exists());
    assert!(rotated_path(&path, 2).exists());
    assert!(!rotated_path(&path, 3).exists());
    let mut numbers = Vec::new();
    for n in [2, 1, 0] {
        let file = rotated_path(&path, n);
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            text.len() as u64 <= max_size,
            "{} is {} bytes",
            file.display(),
            text.len()
        );
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            let entry = parse_line(line.as_bytes()).unwrap();
            let text = String::from_utf8(entry.line).unwrap();
            numbers.push(text.split(' ').nth(1).unwrap().parse::<u64>().unwrap());
        }
    }
    // The newest lines survive, in order, with none missing between them.
    assert_eq!(*numbers.last().unwrap(), 499);
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
}

#[test]
fn added_lines_wait_for_a_flush_and_rotate_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let max_size = 1000;
    let mut writer = JsonFileWriter::open(&path, max_size, 2).unwrap();
    writer.add(Stream::Stdout, b"first\n", at(1, 0)).unwrap();
    assert_eq!(
        fs::read(&path).unwrap().len(),
        0,
        "not written before the flush"
    );
    writer.flush().unwrap();
    assert_eq!(lines(&path).len(), 1);
    for i in 0..40u64 {
        let text = format!("line {i} {}\n", "y".repeat(20));
        writer
            .add(Stream::Stderr, text.as_bytes(), at(2, 0))
            .unwrap();
    }
    writer.flush().unwrap();
    let mut numbers = Vec::new();
    for n in [1, 0] {
        let text = fs::read_to_string(rotated_path(&path, n)).unwrap();
        assert!(text.len() as u64 <= max_size, "{n}: {} bytes", text.len());
        for line in text.lines() {
            let entry = parse_line(line.as_bytes()).unwrap();
            let text = String::from_utf8(entry.line).unwrap();
            if let Some(n) = text.split(' ').nth(1) {
                numbers.push(n.parse::<u64>().unwrap());
            }
        }
    }
    assert_eq!(*numbers.last().unwrap(), 39);
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    assert_eq!(writer.size(), fs::metadata(&path).unwrap().len());
}

#[test]
fn max_file_one_replaces_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut writer = JsonFileWriter::open(&path, 200, 1).unwrap();
    for i in 0..20u64 {
        writer
            .write(Stream::Stdout, format!("{i:040}\n").as_bytes(), at(i, 0))
            .unwrap();
    }
    assert!(!rotated_path(&path, 1).exists());
    assert!(fs::metadata(&path).unwrap().len() <= 200);
}

#[test]
fn a_smaller_max_file_removes_older_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut writer = JsonFileWriter::open(&path, 100, 5).unwrap();
    for i in 0..40u64 {
        writer
            .write(Stream::Stdout, b"0123456789\n", at(i, 0))
            .unwrap();
    }
    assert!(rotated_path(&path, 4).exists());
    let mut writer = JsonFileWriter::open(&path, 100, 2).unwrap();
    writer.rotate().unwrap();
    assert!(rotated_path(&path, 1).exists());
    for n in 2..=4 {
        assert!(!rotated_path(&path, n).exists(), "{n}");
    }
}

#[test]
fn long_lines_split_like_dockerd() {
    // dockerd 20.10 logged `printf "no newline"; sleep 0.2; <20000 × a>; echo` as a
    // 16384-byte partial chunk and the rest; the two lines hash to this.
    const DOCKERD_SHA256: &str = "27863adc2f59c029bf5a31266758b48c5f25ead9cdc2a195e00c40577eec94a8";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let mut writer = JsonFileWriter::open(&path, u64::MAX, 1).unwrap();
    let time = berth_logs::parse_timestamp("2026-11-22T12:10:31.87631825Z").unwrap();
    let mut splitter = LineSplitter::new();
    let mut rest = vec![b'a'; 20_000];
    rest.push(b'\n');
    for read in [&b"no newline"[..], &rest[..4096], &rest[4096..]] {
        splitter
            .push(read, |chunk| writer.write(Stream::Stdout, chunk, time))
            .unwrap();
    }
    assert_eq!(splitter.pending(), 0);
    let written = fs::read(&path).unwrap();
    let sha = std::process::Command::new("sha256sum")
        .arg(&path)
        .output()
        .expect("sha256sum runs");
    let sha = String::from_utf8(sha.stdout).unwrap();
    assert_eq!(
        sha.split(' ').next(),
        Some(DOCKERD_SHA256),
        "{} bytes",
        written.len()
    );
}

#[test]
fn config_opens_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    assert!(LogConfig::None.open_writer(&path).unwrap().is_none());
    assert!(!path.exists());
    let mut writer = LogConfig::default().open_writer(&path).unwrap().unwrap();
    writer.write(Stream::Stdout, b"x\n", at(1, 0)).unwrap();
    assert_eq!(lines(&path).len(), 1);
    let err = LogConfig::default()
        .open_writer(&dir.path().join("missing/log"))
        .unwrap_err();
    assert!(err.to_string().starts_with("open log file "), "{err}");
}
