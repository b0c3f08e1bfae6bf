//! `build`: a Dockerfile and its context sent to the daemon's `/build` (the classic
//! builder's protocol) and its progress printed as docker prints it. The context is a
//! directory (sent as a tar without what `.dockerignore` excludes; the Dockerfile and
//! `.dockerignore` always go) or a tar (or a lone Dockerfile) on stdin; `-f` names a
//! Dockerfile inside the context, outside it (sent in the tar under a unique name, as
//! docker does) or `-` for stdin.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{IsTerminal, Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use berth_build::ignore::Ignore;

use crate::client::{Client, ClientError, Payload, Query, Response};

/// Flags of `build`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile")
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pull: bool,
    /// Set metadata for an image
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, default_value = "default")]
    network: String,
    /// Write the image ID to the file
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Set type of progress output ("auto", "plain", "tty")
    #[arg(long, default_value = "auto")]
    progress: String,
    /// Remove intermediate containers after a successful build
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    rm: bool,
    /// Always remove intermediate containers
    #[arg(long)]
    force_rm: bool,
    /// Build context: a directory, or "-" for a tar (or a Dockerfile) on stdin
    path: String,
}

/// `build`.
pub fn run(c: &Client, args: &Args) -> anyhow::Result<u8> {
    if !matches!(args.progress.as_str(), "auto" | "plain" | "tty") {
        anyhow::bail!(
            "invalid progress type {:?}: use auto, plain or tty",
            args.progress
        );
    }
    let r = match local_dir(c, args)? {
        Some(local) => match send_dir(c, query(args, &local.dockerfile)?, &local) {
            // A daemon that cannot see the directory (a socket forwarded from another
            // host) says so before it builds: the context goes as a tar instead.
            Err(ClientError::Api {
                status: 400,
                message,
            }) if message.starts_with(CONTEXT_DIR) => send_tar(c, args)?,
            r => r?,
        },
        None => send_tar(c, args)?,
    };
    let mut id = None;
    let failed = print_stream(r.body, View::of(args), &mut id)?;
    if let Some((message, code)) = failed {
        eprintln!("{message}");
        return Ok(code);
    }
    let id = id.context("the daemon sent no image ID")?;
    if args.quiet {
        println!("{id}");
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &id).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(0)
}

/// berthd's query parameters naming a context directory on its host instead of a tar
/// (`crates/daemon/src/api/build.rs`): the absolute path, and its `<st_dev>:<st_ino>`.
const CONTEXT_DIR: &str = "berth-context-dir";
const CONTEXT_ID: &str = "berth-context-id";

/// A context directory berthd can read in place.
struct LocalDir {
    /// The directory, absolute and with its links resolved.
    path: PathBuf,
    /// Its `<st_dev>:<st_ino>`.
    id: String,
    /// The Dockerfile's name in it.
    dockerfile: String,
}

/// The context directory, when berthd can read it where it is: the daemon is a berthd
/// that says it can, over a unix socket (so on this host), and the context and the
/// Dockerfile are both in a directory here (not stdin, not `-f` outside the context).
fn local_dir(c: &Client, args: &Args) -> anyhow::Result<Option<LocalDir>> {
    let local = matches!(c.addr(), crate::client::Addr::Unix(_));
    if !local || args.path == "-" || !c.has_feature("build-context-dir")? {
        return Ok(None);
    }
    if args.file.as_deref() == Some("-") {
        return Ok(None);
    }
    let Ok(path) = std::fs::canonicalize(&args.path) else {
        return Ok(None);
    };
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(None);
    };
    if !meta.is_dir() {
        return Ok(None);
    }
    let (outside, dockerfile) = dockerfile_of(&path, args.file.as_deref())?;
    if outside.is_some() {
        return Ok(None);
    }
    use std::os::unix::fs::MetadataExt;
    let id = format!("{}:{}", meta.dev(), meta.ino());
    Ok(Some(LocalDir {
        path,
        id,
        dockerfile,
    }))
}

/// `POST /build` with query `q`, naming the context directory, no body.
fn send_dir(c: &Client, q: Query, local: &LocalDir) -> Result<Response, ClientError> {
    let q = q
        .add(CONTEXT_DIR, &local.path.to_string_lossy())
        .add(CONTEXT_ID, &local.id);
    c.call("POST", "/build", q, Payload::Empty)
}

/// `POST /build` with the context as a tar, streamed as it is made.
fn send_tar(c: &Client, args: &Args) -> anyhow::Result<Response> {
    let (mut context, dockerfile) = context_tar(args)?;
    let q = query(args, &dockerfile)?;
    let sent = c.call(
        "POST",
        "/build",
        q,
        Payload::Stream(&mut context, "application/x-tar"),
    );
    // A context that could not be read is the error to tell (its tar was cut off, so
    // the daemon builds nothing from it).
    if let Some(e) = context.failed.take() {
        return Err(e);
    }
    Ok(sent?)
}

/// The `/build` query.
fn query(args: &Args, dockerfile: &str) -> anyhow::Result<Query> {
    let mut build_args = BTreeMap::new();
    for a in &args.build_args {
        match a.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), Some(v.to_string())),
            // `--build-arg NAME`: the value of NAME in this environment, if any.
            None => build_args.insert(a.clone(), std::env::var(a).ok()),
        };
    }
    let mut labels = BTreeMap::new();
    for l in &args.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let mut q = Query::new()
        .add("dockerfile", dockerfile)
        .flag("nocache", args.no_cache)
        .flag("pull", args.pull)
        .flag("q", args.quiet)
        .add("rm", if args.rm { "1" } else { "0" })
        .flag("forcerm", args.force_rm)
        .add("networkmode", &args.network)
        .add("buildargs", &serde_json::to_string(&build_args)?)
        .add("labels", &serde_json::to_string(&labels)?)
        .opt("target", args.target.as_deref());
    for t in &args.tags {
        q = q.add("t", t);
    }
    Ok(q)
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// Nothing (`-q`).
    Quiet,
    /// The daemon's text as it comes (`--progress=plain`, or not a terminal).
    Plain,
    /// The text, with a live status line (the step running and its time) below it.
    Live,
}

impl View {
    fn of(args: &Args) -> View {
        match (args.quiet, args.progress.as_str()) {
            (true, _) => View::Quiet,
            (false, "plain") => View::Plain,
            (false, "tty") => View::Live,
            _ if std::io::stdout().is_terminal() => View::Live,
            _ => View::Plain,
        }
    }
}

/// A build's end as the stream tells it: failed with a message and exit code, or not.
type Failed = Option<(String, u8)>;

/// What one message means: a failure, or else the image ID it carries and its text.
fn message(v: &serde_json::Value, id: &mut Option<String>) -> Result<Failed, ClientError> {
    if let Some(msg) = v["errorDetail"]["message"]
        .as_str()
        .or_else(|| v["error"].as_str())
    {
        let code = v["errorDetail"]["code"].as_i64().unwrap_or(1);
        let code = u8::try_from(code).ok().filter(|c| *c != 0).unwrap_or(1);
        return Ok(Some((msg.to_string(), code)));
    }
    if let Some(i) = v["aux"]["ID"].as_str() {
        *id = Some(i.to_string());
    }
    Ok(None)
}

/// Prints the build's messages; returns the error message and exit code of a failed
/// build (docker exits with a failed RUN's code), and the image ID in `id`.
fn print_stream(
    body: impl Read + Send + 'static,
    view: View,
    id: &mut Option<String>,
) -> anyhow::Result<Failed> {
    if view == View::Live {
        return live(body, id);
    }
    let reader = std::io::BufReader::new(body);
    let stream = serde_json::Deserializer::from_reader(reader).into_iter::<serde_json::Value>();
    let mut out = std::io::stdout().lock();
    for v in stream {
        let v = v.map_err(|e| ClientError::BadResponse(e.to_string()))?;
        if let Some(failed) = message(&v, id)? {
            return Ok(Some(failed));
        }
        if let Some(s) = v["stream"].as_str().filter(|_| view == View::Plain) {
            out.write_all(s.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(None)
}

/// The live view: messages are read on a thread; this one prints them and, between
/// them, keeps a status line with the running step and its elapsed time.
fn live(body: impl Read + Send + 'static, id: &mut Option<String>) -> anyhow::Result<Failed> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let reader = std::io::BufReader::new(body);
        for v in serde_json::Deserializer::from_reader(reader).into_iter::<serde_json::Value>() {
            let end = v.is_err();
            if tx.send(v.map_err(|e| e.to_string())).is_err() || end {
                return;
            }
        }
    });
    let mut status = Status::default();
    let mut out = std::io::stdout().lock();
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(v) => {
                let v = v.map_err(ClientError::BadResponse)?;
                status.clear(&mut out)?;
                if let Some(failed) = message(&v, id)? {
                    return Ok(Some(failed));
                }
                if let Some(s) = v["stream"].as_str() {
                    status.saw(s);
                    out.write_all(s.as_bytes())?;
                }
                status.draw(&mut out)?;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => status.draw(&mut out)?,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    status.clear(&mut out)?;
    Ok(None)
}

/// The live view's status line.
#[derive(Default)]
struct Status {
    step: Option<(String, std::time::Instant)>,
    shown: bool,
    tick: usize,
    at_line_start: bool,
}

impl Status {
    /// Notes the step a piece of text starts.
    fn saw(&mut self, text: &str) {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("Step ") {
                let step = rest.split(" : ").next().unwrap_or(rest).to_string();
                self.step = Some((step, std::time::Instant::now()));
            }
            if line.starts_with("Successfully built") {
                self.step = None;
            }
        }
        self.at_line_start = text.ends_with('\n');
    }

    fn draw(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        let Some((step, since)) = &self.step else {
            return Ok(());
        };
        if !self.at_line_start {
            return Ok(());
        }
        const SPIN: [char; 4] = ['|', '/', '-', '\\'];
        self.tick += 1;
        let secs = since.elapsed().as_secs_f64();
        write!(
            out,
            "\r\x1b[K{} step {step}  {secs:.1}s",
            SPIN[self.tick % 4]
        )?;
        self.shown = true;
        out.flush()
    }

    fn clear(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if self.shown {
            write!(out, "\r\x1b[K")?;
            self.shown = false;
        }
        out.flush()
    }
}

/// The thread writing a context's tar.
type Maker = std::thread::JoinHandle<anyhow::Result<()>>;

/// A context's tar as it is read: a directory's made on a thread meanwhile, or stdin's.
/// When the thread fails, reading fails (the tar is never ended) and `failed` says why.
struct ContextTar {
    input: Box<dyn Read>,
    maker: Option<Maker>,
    failed: Option<anyhow::Error>,
}

impl Read for ContextTar {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read(buf)?;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        let Some(maker) = self.maker.take() else {
            return Ok(0);
        };
        let failed = match maker.join() {
            Ok(Ok(())) => return Ok(0),
            Ok(Err(e)) => e,
            Err(_) => anyhow::anyhow!("the context's tar writer panicked"),
        };
        let message = format!("{failed:#}");
        self.failed = Some(failed);
        Err(std::io::Error::other(message))
    }
}

/// The context as a tar to read, and the Dockerfile's name inside it.
fn context_tar(args: &Args) -> anyhow::Result<(ContextTar, String)> {
    let tar = |input: Box<dyn Read>, maker| ContextTar {
        input,
        maker,
        failed: None,
    };
    if args.path == "-" {
        if args.file.as_deref() == Some("-") {
            anyhow::bail!(
                "invalid argument: can't use stdin for both build context and dockerfile"
            );
        }
        let (file, name) = stdin_context(args.file.as_deref())?;
        return Ok((tar(Box::new(file), None), name));
    }
    let dir = PathBuf::from(&args.path);
    if !dir.is_dir() {
        anyhow::bail!("unable to prepare context: path {:?} not found", args.path);
    }
    let (outside, name) = dockerfile_of(&dir, args.file.as_deref())?;
    let ignore = read_ignore(&dir)?;
    // A socket pair as the pipe (std's pipe is newer than the workspace's MSRV).
    let (reader, writer) = std::os::unix::net::UnixStream::pair()?;
    let dockerfile = name.clone();
    let maker = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(TAR_BUFFER, writer));
        tar.follow_symlinks(false);
        add_tree(&mut tar, &dir, &dir, &ignore, &dockerfile)?;
        if let Some(text) = outside {
            append_file(&mut tar, &dockerfile, &text)?;
        }
        tar.into_inner()?.flush()?;
        Ok(())
    });
    Ok((tar(Box::new(reader), Some(maker)), name))
}

/// The buffer between the context's tar and the pipe it goes through.
const TAR_BUFFER: usize = 64 << 10;

/// A context tar's writer.
type TarOut = tar::Builder<std::io::BufWriter<std::os::unix::net::UnixStream>>;

/// The Dockerfile: its name in the context, and its text when it is not there (from
/// outside the context or stdin; then it is sent under a unique name).
fn dockerfile_of(dir: &Path, file: Option<&str>) -> anyhow::Result<(Option<Vec<u8>>, String)> {
    let unique = || format!(".dockerfile.{:016x}", rand_u64());
    let Some(f) = file else {
        return Ok((None, "Dockerfile".into()));
    };
    if f == "-" {
        let mut text = Vec::new();
        std::io::stdin().read_to_end(&mut text)?;
        return Ok((Some(text), unique()));
    }
    let path = Path::new(f);
    let ctx = dir.canonicalize()?;
    let full = std::fs::canonicalize(path).with_context(|| {
        format!("unable to prepare context: unable to evaluate symlinks in Dockerfile path: {f}")
    })?;
    match full.strip_prefix(&ctx) {
        Ok(rel) => Ok((None, rel.to_string_lossy().into_owned())),
        Err(_) => Ok((Some(std::fs::read(&full)?), unique())),
    }
}

/// A random number for unique names.
fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        return u64::from(std::process::id());
    }
    u64::from_le_bytes(b)
}

/// The context's `.dockerignore` (none: nothing excluded).
fn read_ignore(dir: &Path) -> anyhow::Result<Ignore> {
    match std::fs::read_to_string(dir.join(".dockerignore")) {
        Ok(text) => Ok(Ignore::parse(&text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ignore::default()),
        Err(e) => Err(e).context("read .dockerignore"),
    }
}

/// Adds everything under `dir` that `ignore` keeps (and the build files) to `tar`, in
/// name order.
fn add_tree(
    tar: &mut TarOut,
    root: &Path,
    dir: &Path,
    ignore: &Ignore,
    dockerfile: &str,
) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let rel = path.strip_prefix(root)?.to_string_lossy().into_owned();
        let meta = path.symlink_metadata()?;
        let always = rel == dockerfile || rel == ".dockerignore";
        let excluded = !always && ignore.is_excluded(&rel);
        if meta.is_dir() {
            if !excluded {
                tar.append_dir(&rel, &path)?;
            }
            if !excluded || ignore.may_contain_included(&rel) {
                add_tree(tar, root, &path, ignore, dockerfile)?;
            }
        } else if !excluded && sendable(&meta) {
            tar.append_path_with_name(&path, &rel)
                .with_context(|| format!("add {} to the context", path.display()))?;
        }
    }
    Ok(())
}

/// Whether an entry goes into the context: files and links, not sockets or devices.
fn sendable(meta: &std::fs::Metadata) -> bool {
    let t = meta.file_type();
    t.is_file() || t.is_symlink()
}

fn append_file<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) -> anyhow::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o600);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, data)?;
    Ok(())
}

/// A context from stdin: a tar (maybe compressed) as is, or a lone Dockerfile.
fn stdin_context(file: Option<&str>) -> anyhow::Result<(File, String)> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        anyhow::bail!("no build context on stdin");
    }
    let mut data = Vec::new();
    stdin.lock().read_to_end(&mut data)?;
    let is_tar = data.len() >= 262 && &data[257..262] == b"ustar";
    let compressed = data.starts_with(&[0x1f, 0x8b]);
    let mut tmp = tempfile::tempfile()?;
    let name = file.unwrap_or("Dockerfile").to_string();
    if is_tar || compressed {
        tmp.write_all(&data)?;
    } else {
        let mut tar = tar::Builder::new(tmp);
        append_file(&mut tar, "Dockerfile", &data)?;
        tmp = tar.into_inner()?;
        tmp.rewind()?;
        return Ok((tmp, "Dockerfile".into()));
    }
    tmp.rewind()?;
    Ok((tmp, name))
}

/// Flags of `builder prune`.
#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

/// `builder prune`.
pub fn prune(c: &Client, args: &PruneArgs) -> anyhow::Result<u8> {
    if !args.force
        && !crate::containers::prune::confirm(
            "WARNING! This will remove all dangling build cache.",
        )?
    {
        return Ok(0);
    }
    let q = Query::new().flag("all", args.all);
    let v = c.post_json("/build/prune", q, None)?;
    let n = v["SpaceReclaimed"].as_u64().unwrap_or(0);
    println!("Total reclaimed space: {}", crate::format::human_size(n));
    Ok(0)
}
