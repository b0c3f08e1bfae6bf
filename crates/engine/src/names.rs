//! Container names: docker-style random `adjective_surname` names, and the check of names
//! the user gives.

const ADJECTIVES: [&str; 40] = [
    "agile", "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "daring",
    "eager", "earnest", "fancy", "fearless", "gentle", "glad", "golden", "happy", "humble",
    "jolly", "keen", "kind", "lively", "lucid", "merry", "mellow", "nimble", "noble", "patient",
    "quiet", "rapid", "serene", "sharp", "steady", "swift", "tender", "upbeat", "vivid", "warm",
    "witty",
];

const SURNAMES: [&str; 40] = [
    "agnesi",
    "babbage",
    "bohr",
    "boole",
    "cantor",
    "curie",
    "darwin",
    "dijkstra",
    "euler",
    "faraday",
    "fermat",
    "fermi",
    "galois",
    "gauss",
    "germain",
    "hamilton",
    "hopper",
    "hubble",
    "hypatia",
    "kepler",
    "knuth",
    "lamarr",
    "laplace",
    "leibniz",
    "lovelace",
    "maxwell",
    "meitner",
    "mendel",
    "newton",
    "noether",
    "pascal",
    "planck",
    "ramanujan",
    "riemann",
    "shannon",
    "somerville",
    "tesla",
    "turing",
    "volta",
    "yalow",
];

/// A random `adjective_surname`; after a few collisions a digit is appended, as docker does.
pub fn random_name(attempt: u32) -> String {
    let adjective = ADJECTIVES[fastrand::usize(..ADJECTIVES.len())];
    let surname = SURNAMES[fastrand::usize(..SURNAMES.len())];
    if attempt == 0 {
        format!("{adjective}_{surname}")
    } else {
        format!("{adjective}_{surname}{}", fastrand::u32(0..10))
    }
}

/// Whether docker accepts `name`: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, so at least two
/// characters (a leading `/` is dropped before the check).
pub fn valid(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_names_look_like_dockers() {
        let n = random_name(0);
        let (a, s) = n.split_once('_').unwrap();
        assert!(ADJECTIVES.contains(&a) && SURNAMES.contains(&s), "{n}");
        assert!(valid(&n));
        assert!(random_name(3).ends_with(|c: char| c.is_ascii_digit()));
    }

    #[test]
    fn names_are_checked_as_docker_does() {
        assert!(valid("web-1.a_b"));
        assert!(!valid(""));
        assert!(!valid("c"), "docker wants two characters at least");
        assert!(valid("c1"));
        assert!(!valid("-x"));
        assert!(!valid("a/b"));
        assert!(!valid("a b"));
    }
}
