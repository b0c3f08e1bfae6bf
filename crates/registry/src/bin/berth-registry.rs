//! `berth-registry`: an OCI distribution registry on a local directory
//! (`serve`), its garbage collector (`garbage-collect`), and an htpasswd line maker.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use berth_registry::server::{self, gc, Htpasswd, Registry, Storage};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth-registry",
    version,
    about = "An OCI distribution registry"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the registry in DIR
    Serve {
        /// Directory holding the registry's content
        #[arg(long, default_value = "/var/lib/berth-registry")]
        root: PathBuf,
        /// Address to listen on (port 0 picks a free port; the address is printed)
        #[arg(long, default_value = "127.0.0.1:5000")]
        addr: String,
        /// htpasswd file (bcrypt entries) restricting access to its users
        #[arg(long)]
        htpasswd: Option<PathBuf>,
        /// PEM certificate chain for TLS
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for TLS
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Print an htpasswd line (bcrypt) for USER with the password read from stdin
    Htpasswd {
        /// The user name
        user: String,
    },
    /// Remove blobs no manifest references
    GarbageCollect {
        /// Directory holding the registry's content
        root: PathBuf,
        /// Only list what would be removed
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve {
            root,
            addr,
            htpasswd,
            tls_cert,
            tls_key,
        } => serve(&root, &addr, htpasswd.as_deref(), tls_cert.zip(tls_key)),
        Command::Htpasswd { user } => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("read the password")?;
            let hash = bcrypt::hash_with_result(
                password.trim_end_matches(['\r', '\n']),
                bcrypt::DEFAULT_COST,
            )?;
            // `$2y$`, as `htpasswd -B` writes it.
            println!("{user}:{}", hash.format_for_version(bcrypt::Version::TwoY));
            Ok(())
        }
        Command::GarbageCollect { root, dry_run } => {
            let storage = Storage::open(&root)?;
            let done = gc::collect(&storage, dry_run)?;
            for d in &done.removed {
                println!("{}: {d}", if dry_run { "would remove" } else { "removed" });
            }
            println!("{} blobs removed, {} kept", done.removed.len(), done.kept);
            Ok(())
        }
    }
}

fn serve(
    root: &Path,
    addr: &str,
    htpasswd: Option<&Path>,
    tls: Option<(PathBuf, PathBuf)>,
) -> anyhow::Result<()> {
    let registry = Arc::new(Registry {
        storage: Storage::open(root)?,
        users: htpasswd.map(Htpasswd::load).transpose()?,
    });
    let tls = tls.map(|(c, k)| server::tls_acceptor(&c, &k)).transpose()?;
    let rt = tokio::runtime::Runtime::new().context("start the runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen on {addr}"))?;
        println!("listening on {}", listener.local_addr()?);
        server::serve(listener, server::app(registry), tls).await?;
        Ok(())
    })
}
