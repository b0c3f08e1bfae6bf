//! `images` / `image ls`: one row per repository and tag (dangling images as `<none>`),
//! newest first, with docker's filters and formats. The daemon filters; the rows are
//! made here as docker's CLI makes them.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use super::{short_id, since_unix, unix_time};
use crate::client::{Client, Query};
use crate::containers::filters_json;
use crate::format::{self, human_size, Format};

/// Flags of `images`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Only images of this repository (and tag)
    repository: Option<String>,
}

/// `images`.
pub fn run(c: &Client, args: &Args) -> anyhow::Result<u8> {
    let mut filters = args.filter.clone();
    if let Some(r) = &args.repository {
        filters.push(format!("reference={r}"));
    }
    let patterns: Vec<&str> = filters
        .iter()
        .filter_map(|f| f.strip_prefix("reference="))
        .collect();
    let q = Query::new()
        .flag("all", args.all)
        .flag("digests", args.digests)
        .opt("filters", filters_json(&filters).as_deref());
    let list = c.get_json("/images/json", q)?;
    let mut items = Vec::new();
    for img in list.as_array().into_iter().flatten() {
        for (repo, tag, digest) in rows(img, &patterns, args.digests) {
            items.push(item(img, &repo, &tag, &digest, args.no_trunc));
        }
    }
    let fmt = if args.quiet {
        Format::Template("{{.ID}}".into())
    } else {
        Format::parse(args.format.as_deref())
    };
    let default = if args.digests {
        "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    format::emit(&fmt, &items, default, &headers())?;
    Ok(0)
}

fn headers() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("ID", "IMAGE ID"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("VirtualSize", "VIRTUAL SIZE"),
    ])
}

fn item(img: &Value, repo: &str, tag: &str, digest: &str, no_trunc: bool) -> Value {
    let created = img["Created"].as_i64().unwrap_or(0);
    let size = human_size(img["Size"].as_u64().unwrap_or(0));
    let containers = match img["Containers"].as_i64() {
        Some(n) if n >= 0 => n.to_string(),
        _ => "N/A".into(),
    };
    json!({
        "Containers": containers,
        "CreatedAt": format::go_time(Some(unix_time(created))),
        "CreatedSince": since_unix(created),
        "Digest": digest,
        "ID": short_id(img["Id"].as_str().unwrap_or_default(), no_trunc),
        "Repository": repo,
        "SharedSize": "N/A",
        "Size": size,
        "Tag": tag,
        "UniqueSize": "N/A",
        "VirtualSize": size,
    })
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|s| *s != "<none>:<none>" && *s != "<none>@<none>")
        .collect()
}

/// The rows of one image: each tag (with each digest of its repository when digests are
/// shown), then repositories that have only digests; `<none>` for a dangling image.
/// Names are kept to those a reference filter asked for, as dockerd does.
fn rows(img: &Value, patterns: &[&str], digests: bool) -> Vec<(String, String, String)> {
    let wanted = |name: &str, repo: &str| {
        patterns.is_empty()
            || patterns
                .iter()
                .any(|p| glob(p.as_bytes(), name.as_bytes()) || glob(p.as_bytes(), repo.as_bytes()))
    };
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut repo_digests: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (tag_list, digest_list) = (strings(&img["RepoTags"]), strings(&img["RepoDigests"]));
    if tag_list.is_empty() && digest_list.is_empty() {
        return vec![("<none>".into(), "<none>".into(), "<none>".into())];
    }
    for t in tag_list {
        let (repo, tag) = split_tag(t);
        if wanted(t, repo) {
            tags.entry(repo.into()).or_default().push(tag.into());
        }
    }
    for d in digest_list {
        let (repo, digest) = d.split_once('@').unwrap_or((d, ""));
        if wanted(d, repo) {
            repo_digests
                .entry(repo.into())
                .or_default()
                .push(digest.into());
        }
    }
    let mut out = Vec::new();
    for (repo, tag_list) in &tags {
        let ds = repo_digests
            .remove(repo)
            .filter(|_| digests)
            .unwrap_or_default();
        for tag in tag_list {
            if ds.is_empty() {
                out.push((repo.clone(), tag.clone(), "<none>".into()));
            }
            for d in &ds {
                out.push((repo.clone(), tag.clone(), d.clone()));
            }
        }
    }
    for (repo, ds) in repo_digests {
        match digests {
            true => out.extend(ds.into_iter().map(|d| (repo.clone(), "<none>".into(), d))),
            false => out.push((repo, "<none>".into(), "<none>".into())),
        }
    }
    out
}

/// `repo:tag` into its parts (a registry's `host:port` is not a tag).
fn split_tag(t: &str) -> (&str, &str) {
    match t.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (t, ""),
    }
}

/// Go's `path.Match`: `*` (not across `/`), `?`, `[...]` classes, `\` escapes.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len())
            .take_while(|&i| i == 0 || s[i - 1] != b'/')
            .any(|i| glob(rest, &s[i..])),
        Some((b'?', rest)) => s.first().is_some_and(|&c| c != b'/') && glob(rest, &s[1..]),
        Some((b'[', rest)) => class(rest, s),
        Some((b'\\', rest)) if !rest.is_empty() => {
            s.first() == Some(&rest[0]) && glob(&rest[1..], &s[1..])
        }
        Some((&c, rest)) => s.first() == Some(&c) && glob(rest, &s[1..]),
    }
}

/// A `[...]` class at the start of `p` (after the `[`) against the first byte of `s`.
fn class(p: &[u8], s: &[u8]) -> bool {
    let Some((&c, tail)) = s.split_first() else {
        return false;
    };
    let (negate, mut p) = match p.first() {
        Some(b'^') => (true, &p[1..]),
        _ => (false, p),
    };
    let mut matched = false;
    let mut first = true;
    while let Some((&lo, rest)) = p.split_first() {
        if lo == b']' && !first {
            return matched != negate && glob(rest, tail);
        }
        first = false;
        if let [b'-', hi, more @ ..] = rest {
            if *hi != b']' {
                matched |= lo <= c && c <= *hi;
                p = more;
                continue;
            }
        }
        matched |= lo == c;
        p = rest;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_match() {
        assert!(glob(b"busy*", b"busybox"));
        assert!(glob(b"busybox:1.*", b"busybox:1.35"));
        assert!(!glob(b"*", b"user/app"));
        assert!(glob(b"*/app", b"user/app"));
        assert!(glob(b"b?sybox", b"busybox"));
        assert!(glob(b"[a-c]usybox", b"busybox"));
        assert!(!glob(b"[^a-c]usybox", b"busybox"));
        assert!(!glob(b"busy", b"busybox"));
    }

    #[test]
    fn rows_per_tag_and_digest() {
        let img = json!({"RepoTags": ["b:1", "a:2", "a:1", "localhost:5000/x:3"],
            "RepoDigests": ["a@sha256:aa", "c@sha256:cc"]});
        let r = rows(&img, &[], false);
        assert_eq!(
            r.iter()
                .map(|(a, b, _)| format!("{a}:{b}"))
                .collect::<Vec<_>>(),
            ["a:2", "a:1", "b:1", "localhost:5000/x:3", "c:<none>"]
        );
        let d = rows(&img, &["a"], true);
        assert_eq!(
            d,
            [
                ("a".into(), "2".into(), "sha256:aa".into()),
                ("a".into(), "1".into(), "sha256:aa".into())
            ]
        );
        let none = rows(&json!({"RepoTags": [], "RepoDigests": null}), &[], false);
        assert_eq!(none[0].0, "<none>");
    }
}
