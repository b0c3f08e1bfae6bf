//! Docker's stream framing: what is encoded decodes to the same frames however the
//! bytes are split on the way.

use berth_logs::frame::{self, Decoder, Frame, FrameError};

fn sample() -> Vec<Frame> {
    vec![
        Frame {
            stream: frame::STDOUT,
            payload: b"hello\n".to_vec(),
        },
        Frame {
            stream: frame::STDERR,
            payload: b"oops\n".to_vec(),
        },
        Frame {
            stream: frame::STDOUT,
            payload: Vec::new(),
        },
        Frame {
            stream: frame::STDIN,
            payload: (0..=255u8).collect(),
        },
        Frame {
            stream: frame::SYSTEMERR,
            payload: b"error from daemon".to_vec(),
        },
        Frame {
            stream: frame::STDOUT,
            payload: vec![b'z'; 70_000],
        },
    ]
}

fn encoded(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        frame::encode_into(&mut out, f.stream, &f.payload);
    }
    out
}

fn decode_in_pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Frame> {
    let mut decoder = Decoder::new();
    let mut frames = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        decoder.feed(&bytes[from..cut]);
        from = cut;
        while let Some(frame) = decoder.next_frame().unwrap() {
            frames.push(frame);
        }
    }
    assert_eq!(decoder.buffered(), 0);
    frames
}

#[test]
fn header_matches_encode_into() {
    let header = frame::encode(frame::STDERR, b"abc").unwrap();
    let mut out = Vec::new();
    frame::encode_into(&mut out, frame::STDERR, b"abc");
    assert_eq!(out, [&header[..], b"abc"].concat());
    assert_eq!(header, [2, 0, 0, 0, 0, 0, 0, 3]);
}

#[test]
fn round_trip_split_at_every_byte() {
    let frames = sample();
    let bytes = encoded(&frames);
    assert_eq!(decode_in_pieces(&bytes, &[]), frames);
    // Two pieces, cut at every boundary in the small frames and around the large one.
    let small_end = bytes.len() - 70_000 - 8;
    for cut in (0..=small_end + 16).chain(bytes.len() - 16..bytes.len()) {
        assert_eq!(decode_in_pieces(&bytes, &[cut]), frames, "cut at {cut}");
    }
    // One byte at a time.
    let every: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(decode_in_pieces(&bytes, &every), frames);
}

#[test]
fn unframed_input_is_an_error() {
    let mut decoder = Decoder::new();
    decoder.feed(b"plain text, not framed");
    assert_eq!(
        decoder.next_frame(),
        Err(FrameError::BadStream {
            stream: b'p',
            offset: 0
        })
    );
}
