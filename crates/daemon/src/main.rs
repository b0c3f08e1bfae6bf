//! berthd: reads its flags and daemon.json, takes the data root's lock, binds its
//! sockets and serves the Docker Engine API until SIGTERM or SIGINT; then it stops
//! listening, removes its sockets and pidfile and exits 0. Containers keep running.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use berth_daemon::config::{Flags, Settings};
use berth_daemon::listen::{self, Address, Bound};
use berth_daemon::lock::DaemonLock;
use berth_daemon::router;
use berth_daemon::state::Daemon;
use clap::Parser;
use tokio::sync::watch;

/// Worker threads: requests are small and the engine work runs on the blocking pool.
const WORKERS: usize = 2;

/// Most blocking-pool threads (engine calls, archive streams).
const MAX_BLOCKING: usize = 16;

fn main() -> std::process::ExitCode {
    let flags = Flags::parse();
    match run(&flags) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(flags: &Flags) -> anyhow::Result<()> {
    let settings = Settings::load(flags)?;
    tracing_subscriber::fmt()
        .with_max_level(settings.level())
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let addresses = settings
        .hosts
        .iter()
        .map(|h| Address::parse(h))
        .collect::<Result<Vec<_>, _>>()?;
    let lock = DaemonLock::acquire(&settings.data_root, &settings.pidfile)?;
    std::fs::create_dir_all(&settings.exec_root)
        .with_context(|| format!("create {}", settings.exec_root.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .max_blocking_threads(MAX_BLOCKING)
        .thread_keep_alive(std::time::Duration::from_secs(10))
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let result = runtime.block_on(serve(settings, addresses));
    drop(lock);
    result
}

async fn serve(settings: Settings, addresses: Vec<Address>) -> anyhow::Result<()> {
    let group = settings.group.clone();
    let daemon = Arc::new(Daemon::open(settings)?);
    daemon.restore().await.context("live restore")?;
    let mut bound = Vec::new();
    for a in &addresses {
        bound.push(listen::bind(a, &group).await?);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sockets: Vec<PathBuf> = Vec::new();
    let mut tasks = Vec::new();
    for b in bound {
        let app = router::app(daemon.clone());
        let mut stop = stop_rx.clone();
        let shutdown = async move {
            stop.wait_for(|s| *s).await.ok();
        };
        match b {
            Bound::Unix(l, path) => {
                tracing::info!("API listen on {}", path.display());
                // Its clients are on this host (a build may name its context directory).
                let app = app.layer(axum::Extension(berth_daemon::api::build::LocalSocket));
                sockets.push(path);
                tasks.push(tokio::spawn(async move {
                    axum::serve(l, app).with_graceful_shutdown(shutdown).await
                }));
            }
            Bound::Tcp(l) => {
                tracing::info!("API listen on {:?}", l.local_addr().ok());
                tasks.push(tokio::spawn(async move {
                    axum::serve(l, app).with_graceful_shutdown(shutdown).await
                }));
            }
        }
    }
    tracing::info!(
        "berthd {} ready (data root {})",
        berth_daemon::VERSION,
        daemon.root().display()
    );
    wait_for_signal().await?;
    tracing::info!("shutting down; containers keep running");
    stop_tx.send(true).ok();
    for s in &sockets {
        std::fs::remove_file(s).ok();
    }
    for t in tasks {
        // Connections still open (a long stream) are not waited for past a grace period.
        match tokio::time::timeout(std::time::Duration::from_secs(5), t).await {
            Ok(Ok(r)) => r.context("serve")?,
            Ok(Err(e)) => tracing::warn!("listener task: {e}"),
            Err(_) => tracing::warn!("connections still open after 5s; exiting anyway"),
        }
    }
    berth_daemon::netconfig::shutdown(&daemon);
    // What is still in the trash is deleted by the next start otherwise.
    let trash = daemon.trash.clone();
    tokio::task::spawn_blocking(move || trash.wait_empty(std::time::Duration::from_secs(5)))
        .await
        .ok();
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("watch SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
