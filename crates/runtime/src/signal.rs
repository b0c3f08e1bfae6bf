//! Signal names and numbers as `kill` accepts them: `TERM`, `SIGTERM`, `15`, `SIGRTMIN+3`.

use nix::sys::signal::Signal;
use std::str::FromStr;

/// Parses a signal given by name (with or without `SIG`) or number.
pub fn parse(text: &str) -> Result<i32, String> {
    let bad = || format!("unknown signal {text:?}");
    if let Ok(n) = text.parse::<i32>() {
        return if (1..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(n) = realtime(name) {
        return n.ok_or_else(bad);
    }
    Signal::from_str(&format!("SIG{name}"))
        .map(|s| s as i32)
        .map_err(|_| bad())
}

/// `RTMIN`, `RTMIN+n`, `RTMAX`, `RTMAX-n`: Some(result) when the name is a realtime one.
fn realtime(name: &str) -> Option<Option<i32>> {
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let n = if let Some(rest) = name.strip_prefix("RTMIN") {
        offset(rest, '+').map(|o| min + o)
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        offset(rest, '-').map(|o| max - o)
    } else {
        return None;
    };
    Some(n.filter(|n| (min..=max).contains(n)))
}

fn offset(rest: &str, sign: char) -> Option<i32> {
    if rest.is_empty() {
        return Some(0);
    }
    rest.strip_prefix(sign)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("TERM"), Ok(15));
        assert_eq!(parse("SIGKILL"), Ok(9));
        assert_eq!(parse("sigusr1"), Ok(10));
        assert_eq!(parse("9"), Ok(9));
        assert_eq!(parse("SIGRTMIN+2"), Ok(libc::SIGRTMIN() + 2));
        assert_eq!(parse("RTMAX"), Ok(libc::SIGRTMAX()));
        assert!(parse("FOO").is_err());
        assert!(parse("0").is_err());
        assert!(parse("99").is_err());
    }
}
