//! `images` / `image ls`: one row per repository and tag (dangling images as `<none>`),
//! newest first, with docker's filters and formats.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use berth_image::metadata::ImageSummary;
use serde_json::{json, Value};

use super::{emit, go_time, open, parse_time, short_id, since};
use crate::format::{human_size, Format};
use crate::Cli;

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
    /// Pretty-print images using a Go template
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

/// The parsed `--filter` values.
#[derive(Default)]
struct Filters {
    dangling: Option<bool>,
    references: Vec<String>,
    labels: Vec<String>,
    before: Option<SystemTime>,
    since: Option<SystemTime>,
}

/// One row: an image under one repository and tag.
struct Row<'a> {
    image: &'a ImageSummary,
    repo: String,
    tag: String,
    digest: String,
}

pub(super) fn run(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    let store = open(cli)?;
    let mut list = store.db().list()?;
    let filters = parse_filters(&store, args)?;
    list.sort_by_key(|s| std::cmp::Reverse(created(s)));
    let mut items = Vec::new();
    for img in &list {
        for row in rows(img, &filters, args.digests) {
            items.push(item(&row, args.no_trunc));
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
    emit(&fmt, &items, default, &headers())?;
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

/// When the image was made (the config's time), else when it was stored.
pub(super) fn created(s: &ImageSummary) -> SystemTime {
    parse_time(s.image.created.as_deref()).unwrap_or_else(|| {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s.added.max(0) as u64)
    })
}

fn item(row: &Row<'_>, no_trunc: bool) -> Value {
    let t = Some(created(row.image));
    let size = human_size(row.image.image.size);
    json!({
        "Containers": "N/A",
        "CreatedAt": go_time(t),
        "CreatedSince": since(t),
        "Digest": row.digest,
        "ID": short_id(&row.image.image.id, no_trunc),
        "Repository": row.repo,
        "SharedSize": "N/A",
        "Size": size,
        "Tag": row.tag,
        "UniqueSize": "N/A",
        "VirtualSize": size,
    })
}

fn parse_filters(store: &berth_image::store::ImageStore, args: &Args) -> anyhow::Result<Filters> {
    let mut f = Filters::default();
    if let Some(r) = &args.repository {
        f.references.push(r.clone());
    }
    for spec in &args.filter {
        let (key, value) = spec.split_once('=').unwrap_or((spec.as_str(), ""));
        let time_of = |name: &str| -> anyhow::Result<SystemTime> {
            let id = store.db().resolve_id(name)?;
            Ok(created(&store.summary(&id)?))
        };
        match key {
            "dangling" => f.dangling = Some(parse_bool(spec, value)?),
            "reference" => f.references.push(value.into()),
            "label" => f.labels.push(value.into()),
            "before" => f.before = Some(time_of(value)?),
            "since" => f.since = Some(time_of(value)?),
            _ => anyhow::bail!("Invalid filter '{key}'"),
        }
    }
    Ok(f)
}

fn parse_bool(spec: &str, value: &str) -> anyhow::Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => anyhow::bail!("Invalid filter '{spec}'"),
    }
}

/// The rows of one image that pass the filters.
fn rows<'a>(img: &'a ImageSummary, f: &Filters, digests: bool) -> Vec<Row<'a>> {
    let dangling = img.tags.is_empty() && img.digests.is_empty();
    let t = created(img);
    let excluded = f.dangling.is_some_and(|d| d != dangling)
        || f.before.is_some_and(|b| t >= b)
        || f.since.is_some_and(|s| t <= s)
        || !f.labels.iter().all(|l| has_label(img, l));
    if excluded || (dangling && !f.references.is_empty()) {
        return Vec::new();
    }
    if dangling {
        return vec![row(img, "<none>", "<none>", "<none>")];
    }
    let rows = named_rows(img, &f.references, digests);
    rows.into_iter()
        .map(|(repo, tag, digest)| row(img, &repo, &tag, &digest))
        .collect()
}

fn row<'a>(image: &'a ImageSummary, repo: &str, tag: &str, digest: &str) -> Row<'a> {
    Row {
        image,
        repo: repo.into(),
        tag: tag.into(),
        digest: digest.into(),
    }
}

/// Docker's rows for a named image: each tag (with each digest of its repository when
/// digests are shown), then repositories that have only digests.
fn named_rows(
    img: &ImageSummary,
    patterns: &[String],
    digests: bool,
) -> Vec<(String, String, String)> {
    let wanted = |r: &berth_image::reference::Reference| {
        patterns.is_empty() || patterns.iter().any(|p| matches_ref(p, r))
    };
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut repo_digests: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in img.tags.iter().filter(|r| wanted(r)) {
        let tag = r.tag.clone().unwrap_or_default();
        tags.entry(r.familiar_name()).or_default().push(tag);
    }
    for r in img.digests.iter().filter(|r| wanted(r)) {
        let d = r.digest.as_ref().map(|d| d.to_string()).unwrap_or_default();
        repo_digests.entry(r.familiar_name()).or_default().push(d);
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
            false => out.push((repo, "<none>".into(), String::new())),
        }
    }
    out
}

fn has_label(img: &ImageSummary, spec: &str) -> bool {
    match spec.split_once('=') {
        Some((k, v)) => img.image.labels.get(k).is_some_and(|x| x == v),
        None => img.image.labels.contains_key(spec),
    }
}

/// Docker's reference filter: the pattern matches `name:tag` or the bare name.
fn matches_ref(pattern: &str, r: &berth_image::reference::Reference) -> bool {
    glob(pattern.as_bytes(), r.familiar().as_bytes())
        || glob(pattern.as_bytes(), r.familiar_name().as_bytes())
}

/// Go's `path.Match`: `*` (not across `/`), `?`, `[...]` classes, `\` escapes.
pub(super) fn glob(p: &[u8], s: &[u8]) -> bool {
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
    use super::glob;

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
}
