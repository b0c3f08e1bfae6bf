//! The shim's one event loop: container output to the log and to attached clients,
//! client stdin to the container, control requests, and the end (reap, drain, record,
//! clean up, tell the clients).

use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use berth_logs::Stream;
use berth_shim::exit::ExitStatus;
use berth_shim::proto::frame::{self, Piece};
use berth_shim::proto::{Reply, Request};
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::conn::{Conn, Input, Role};
use crate::output::Log;
use crate::signals::Signals;
use crate::stdio::Stdio;
use crate::target::{failed_start_code, Target};

const SIGNALS: u64 = 0;
const LISTENER: u64 = 1;
const OUT: u64 = 2;
const ERR: u64 = 3;
const INPUT: u64 = 4;
const FIRST_CONN: u64 = 16;

/// One read of container output.
const READ_BUF: usize = 32 * 1024;
/// Reads of one output per wakeup, so one stream cannot starve the rest.
const READS_PER_EVENT: usize = 8;
/// Stdin held for the container; clients are not read while it is full.
const STDIN_CAP: usize = 64 * 1024;
/// How long output may keep coming after the process exited (from processes that
/// outlived it and hold its pipes).
const DRAIN: Duration = Duration::from_secs(2);
/// How long clients get to take the last output after the end.
const LINGER: Duration = Duration::from_secs(2);
/// When the heap is trimmed if the process is not started before.
const TRIM_AFTER: Duration = Duration::from_millis(100);

/// Where the shim is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The process runs (or waits to be started).
    Running,
    /// It exited; its output is read to the end (or the deadline).
    Draining(Instant),
    /// Recorded and cleaned up (socket and pid file removed); clients get the rest of
    /// their output.
    Closing(Instant),
    /// Nothing left to do.
    Done,
}

/// The shim's state.
pub struct Server {
    epoll: Epoll,
    signals: Signals,
    listener: Option<UnixListener>,
    stdio: Stdio,
    target: Target,
    log: Log,
    conns: Vec<Option<Conn>>,
    stdin: Vec<u8>,
    stdin_close: bool,
    input_registered: bool,
    child: Option<Pid>,
    exited: Option<(i32, SystemTime)>,
    status: Option<ExitStatus>,
    phase: Phase,
    buf: Vec<u8>,
    /// When to give the heap's free memory back (see [`Server::trim`]), if not yet.
    trim_at: Option<Instant>,
}

/// Appends a line about a failure to the shim's own log (`shim.log` in the state
/// directory, the shim's working directory).
pub fn note(what: impl std::fmt::Display) {
    use std::io::Write;
    let line = format!(
        "{} {what}\n",
        berth_runtime::state::rfc3339(SystemTime::now())
    );
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(berth_shim::LOG_FILE);
    // Nowhere else to report a failure to write the log itself.
    if let Ok(mut f) = file {
        f.write_all(line.as_bytes()).ok();
    }
}

fn event(flags: EpollFlags, token: u64) -> EpollEvent {
    EpollEvent::new(flags, token)
}

impl Server {
    /// A server for `target`, whose process (if created already) is `child`.
    pub fn new(
        signals: Signals,
        listener: UnixListener,
        stdio: Stdio,
        target: Target,
        log: Log,
        child: Option<Pid>,
    ) -> Result<Server> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        epoll.add(&signals.fd, event(EpollFlags::EPOLLIN, SIGNALS))?;
        listener.set_nonblocking(true)?;
        epoll.add(&listener, event(EpollFlags::EPOLLIN, LISTENER))?;
        let mut server = Server {
            epoll,
            signals,
            listener: Some(listener),
            stdio,
            target,
            log,
            conns: Vec::new(),
            stdin: Vec::new(),
            stdin_close: false,
            input_registered: false,
            child,
            exited: None,
            status: None,
            phase: Phase::Running,
            buf: vec![0; READ_BUF],
            trim_at: Some(Instant::now() + TRIM_AFTER),
        };
        server.register_outputs();
        Ok(server)
    }

    fn register_outputs(&mut self) {
        for (fd, token) in [(&self.stdio.out, OUT), (&self.stdio.err, ERR)] {
            if let Some(fd) = fd {
                // EEXIST for one already registered.
                self.epoll.add(fd, event(EpollFlags::EPOLLIN, token)).ok();
            }
        }
    }

    /// Serves until the process has exited and everything is recorded and sent.
    pub fn run(&mut self) -> Result<()> {
        let mut events = [EpollEvent::empty(); 16];
        // A child that exited before the loop began.
        self.reap();
        while self.phase != Phase::Done {
            let n = match self.epoll.wait(&mut events, self.timeout()) {
                Err(Errno::EINTR) => 0,
                r => r?,
            };
            for ev in &events[..n] {
                self.dispatch(ev.data(), ev.events());
            }
            self.advance();
            self.trim();
        }
        Ok(())
    }

    /// Gives back what parsing the spec and creating the container took, once the
    /// process is started (or a while after the report): not while the caller waits
    /// for the report or the start.
    fn trim(&mut self) {
        if self.trim_at.is_some_and(|t| Instant::now() >= t) {
            self.trim_at = None;
            // SAFETY: malloc_trim only returns free heap memory to the system.
            unsafe { libc::malloc_trim(0) };
        }
    }

    fn timeout(&self) -> EpollTimeout {
        let deadline = match (self.phase, self.trim_at) {
            (Phase::Draining(d) | Phase::Closing(d), _) => d,
            (_, Some(t)) => t,
            _ => return EpollTimeout::NONE,
        };
        let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(1);
        EpollTimeout::try_from(left).unwrap_or(EpollTimeout::NONE)
    }

    fn dispatch(&mut self, token: u64, flags: EpollFlags) {
        match token {
            SIGNALS => self.on_signals(),
            LISTENER => self.accept(),
            OUT | ERR => {
                if flags.contains(EpollFlags::EPOLLOUT) {
                    self.flush_stdin();
                }
                if flags
                    .intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR)
                {
                    self.on_output(token);
                }
            }
            INPUT => self.flush_stdin(),
            t => self.on_conn((t - FIRST_CONN) as usize, flags),
        }
    }

    fn on_signals(&mut self) {
        while let Some(sig) = self.signals.next() {
            match (sig, self.child) {
                (Signal::SIGCHLD, _) => self.reap(),
                (sig, Some(pid)) => {
                    // It may be gone already; the SIGCHLD tells.
                    nix::sys::signal::kill(pid, sig).ok();
                }
                (sig, None) => self.exit_now(128 + sig as i32),
            }
        }
    }

    /// Reaps every exited child (the shim is a subreaper), noting its own.
    fn reap(&mut self) {
        loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Err(Errno::EINTR) => continue,
                Err(e) => return note(format!("waitpid: {e}")),
                Ok(status) => {
                    if status.pid().is_some() && status.pid() == self.child {
                        self.child = None;
                        self.exit_now(berth_runtime::wait::exit_code(status));
                    }
                }
            }
        }
    }

    fn exit_now(&mut self, code: i32) {
        if self.exited.is_none() {
            self.exited = Some((code, SystemTime::now()));
        }
        if self.phase == Phase::Running {
            self.phase = Phase::Draining(Instant::now() + DRAIN);
        }
    }

    fn accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        while let Ok((sock, _)) = listener.accept() {
            if sock.set_nonblocking(true).is_err() {
                continue;
            }
            let slot = match self.conns.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    self.conns.push(None);
                    self.conns.len() - 1
                }
            };
            let mut conn = Conn::new(sock);
            let token = FIRST_CONN + slot as u64;
            if self
                .epoll
                .add(&conn.sock, event(EpollFlags::EPOLLIN, token))
                .is_ok()
            {
                conn.events = EpollFlags::EPOLLIN.bits() as u32;
                self.conns[slot] = Some(conn);
            }
        }
    }

    fn on_output(&mut self, token: u64) {
        let stream = if token == OUT {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        let mut buf = std::mem::take(&mut self.buf);
        for _ in 0..READS_PER_EVENT {
            let fd = match token {
                OUT => self.stdio.out.as_ref(),
                _ => self.stdio.err.as_ref(),
            };
            let Some(fd) = fd else { break };
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) | Err(Errno::EIO) => self.close_output(token),
                Ok(n) => self.deliver(stream, &buf[..n]),
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    note(format!("read the container's {}: {e}", stream.as_str()));
                    self.close_output(token);
                }
            }
        }
        self.buf = buf;
    }

    fn close_output(&mut self, token: u64) {
        match token {
            OUT => {
                self.stdio.out = None;
                if self.stdio.tty {
                    self.stdin.clear();
                }
            }
            _ => self.stdio.err = None,
        }
    }

    /// Sends output to the log and to every client attached to its stream.
    fn deliver(&mut self, stream: Stream, data: &[u8]) {
        if let Some(e) = self.log.feed(stream, data, SystemTime::now()) {
            note(format!("write the log: {e}"));
        }
        let id = stream.frame_type();
        for i in 0..self.conns.len() {
            let Some(conn) = self.conns[i].as_mut() else {
                continue;
            };
            if conn.wants(id) {
                conn.frame(id, data);
                self.send(i);
            }
        }
    }

    /// Flushes connection `i`'s output; closes it if it is gone or done.
    fn send(&mut self, i: usize) {
        let Some(conn) = self.conns[i].as_mut() else {
            return;
        };
        if conn.flush().is_err() || (conn.role == Role::Done && !conn.pending()) {
            return self.close_conn(i);
        }
        self.interest(i);
    }

    fn interest(&mut self, i: usize) {
        let Some(conn) = self.conns[i].as_mut() else {
            return;
        };
        let mut want = EpollFlags::empty();
        if conn.reading && !conn.paused {
            want |= EpollFlags::EPOLLIN;
        }
        if conn.pending() {
            want |= EpollFlags::EPOLLOUT;
        }
        if want.bits() as u32 != conn.events {
            let mut ev = event(want, FIRST_CONN + i as u64);
            if self.epoll.modify(&conn.sock, &mut ev).is_ok() {
                conn.events = want.bits() as u32;
            }
        }
    }

    fn close_conn(&mut self, i: usize) {
        if let Some(conn) = self.conns[i].take() {
            let dropped = conn.dropped + conn.unsent() as u64;
            if dropped > 0 {
                note(format!(
                    "a client fell behind: {dropped} bytes of output dropped"
                ));
            }
        }
    }

    fn on_conn(&mut self, i: usize, flags: EpollFlags) {
        if i >= self.conns.len() || self.conns[i].is_none() {
            return;
        }
        if flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
            self.read_conn(i);
        }
        if flags.intersects(EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
            return self.close_conn(i);
        }
        self.send(i);
    }

    fn read_conn(&mut self, i: usize) {
        let mut buf = [0u8; 4096];
        for _ in 0..READS_PER_EVENT {
            let Some(conn) = self.conns[i].as_mut() else {
                return;
            };
            if !conn.reading || conn.paused {
                return;
            }
            match conn.read(&mut buf) {
                Ok(Input::None) => return,
                Ok(Input::Hello(Ok(req), rest)) => self.on_request(i, req, &rest),
                Ok(Input::Hello(Err(msg), _)) => {
                    conn.reply(&Reply::error(msg));
                    conn.role = Role::Done;
                }
                Ok(Input::Data(n)) => self.take_stdin(i, &buf[..n]),
                Ok(Input::Eof) => self.conn_eof(i),
                Err(_) => return self.close_conn(i),
            }
        }
    }

    fn conn_eof(&mut self, i: usize) {
        let Some(conn) = self.conns[i].as_mut() else {
            return;
        };
        conn.reading = false;
        // A waiter may half-close and still wait; an unfinished hello is abandoned.
        if conn.role == Role::Hello {
            self.close_conn(i);
        }
    }

    fn on_request(&mut self, i: usize, req: Request, rest: &[u8]) {
        let reply = match req {
            Request::Start => self.start(),
            Request::Attach { .. } => {
                if let Some(conn) = self.conns[i].as_mut() {
                    conn.role = Role::Attach {
                        stdin: matches!(req, Request::Attach { stdin: true, .. }),
                        stdout: matches!(req, Request::Attach { stdout: true, .. }),
                        stderr: matches!(req, Request::Attach { stderr: true, .. }),
                    };
                    conn.reply(&Reply::ok());
                }
                return self.take_stdin(i, rest);
            }
            Request::Resize { rows, cols } => self.resize(rows, cols),
            Request::Wait => match &self.status {
                Some(st) => status_reply(st),
                None => {
                    if let Some(conn) = self.conns[i].as_mut() {
                        conn.role = Role::Wait;
                    }
                    return;
                }
            },
            Request::CloseStdin => {
                self.stdin_close = true;
                self.flush_stdin();
                Reply::ok()
            }
        };
        if let Some(conn) = self.conns[i].as_mut() {
            conn.reply(&reply);
            conn.role = Role::Done;
        }
    }

    fn start(&mut self) -> Reply {
        if self.exited.is_some() || (self.target.is_exec() && self.child.is_some()) {
            return Reply::error("the process has already been started");
        }
        let started = self.target.start(&mut self.stdio, &self.signals);
        if let (Ok(pid), true) = (&started, self.target.is_exec()) {
            self.child = Some(Pid::from_raw(*pid));
            self.register_outputs();
        }
        // A SIGCHLD that came while signals were unblocked was swallowed.
        self.reap();
        if started.is_ok() {
            self.trim_at = self.trim_at.map(|_| Instant::now());
        }
        match started {
            Ok(pid) => Reply {
                pid: Some(pid),
                ..Reply::ok()
            },
            Err(e) => {
                let message = format!("{e:#}");
                if self.target.is_exec() {
                    self.exit_now(failed_start_code(&message));
                }
                Reply::error(message)
            }
        }
    }

    fn resize(&mut self, rows: u16, cols: u16) -> Reply {
        let master = self.stdio.out.as_ref().filter(|_| self.stdio.tty);
        let Some(master) = master else {
            return Reply::error("the process has no terminal");
        };
        use std::os::fd::AsRawFd;
        match berth_runtime::console::set_size(master.as_raw_fd(), rows, cols) {
            Ok(()) => Reply::ok(),
            Err(e) => Reply::error(e.to_string()),
        }
    }

    /// Takes stdin frames a client sent.
    fn take_stdin(&mut self, i: usize, data: &[u8]) {
        let Some(conn) = self.conns[i].as_mut() else {
            return;
        };
        let allowed = matches!(conn.role, Role::Attach { stdin: true, .. });
        let (stdin, close) = (&mut self.stdin, &mut self.stdin_close);
        conn.decoder.feed(data, |piece| match piece {
            Piece::Data(frame::STDIN, bytes) if allowed => stdin.extend_from_slice(bytes),
            Piece::Empty(frame::STDIN) if allowed => *close = true,
            _ => {}
        });
        if self.stdin.len() >= STDIN_CAP {
            conn.paused = true;
        }
        self.flush_stdin();
    }

    /// Writes held stdin to the container; closes its stdin once asked and drained.
    fn flush_stdin(&mut self) {
        let Some(fd) = self.stdio.input_fd() else {
            self.stdin.clear();
            return self.resume_conns();
        };
        let mut failed = false;
        let mut done = 0;
        while done < self.stdin.len() {
            match nix::unistd::write(fd, &self.stdin[done..]) {
                Ok(n) => done += n,
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        self.stdin.drain(..done);
        if failed {
            self.stdin.clear();
        }
        let close = failed || (self.stdin_close && self.stdin.is_empty());
        if close && !self.stdio.tty {
            self.input_registered = false;
            self.stdio.input = None;
        }
        self.input_interest();
        self.resume_conns();
    }

    fn input_interest(&mut self) {
        let want = !self.stdin.is_empty();
        if self.stdio.tty {
            let Some(master) = &self.stdio.out else {
                return;
            };
            let mut flags = EpollFlags::EPOLLIN;
            if want {
                flags |= EpollFlags::EPOLLOUT;
            }
            self.epoll.modify(master, &mut event(flags, OUT)).ok();
            return;
        }
        let Some(input) = &self.stdio.input else {
            return;
        };
        if want && !self.input_registered {
            self.input_registered = self
                .epoll
                .add(input, event(EpollFlags::EPOLLOUT, INPUT))
                .is_ok();
        } else if !want && self.input_registered {
            self.epoll.delete(input).ok();
            self.input_registered = false;
        }
    }

    fn resume_conns(&mut self) {
        if self.stdin.len() >= STDIN_CAP {
            return;
        }
        for i in 0..self.conns.len() {
            if let Some(conn) = self.conns[i].as_mut().filter(|c| c.paused) {
                conn.paused = false;
                self.interest(i);
            }
        }
    }

    /// Moves the phases on: the end once output is drained, done once clients have it
    /// (at once when they had it from the end itself).
    fn advance(&mut self) {
        let now = Instant::now();
        if let Phase::Draining(deadline) = self.phase {
            let drained = self.stdio.out.is_none() && self.stdio.err.is_none();
            if drained || now >= deadline {
                self.finish();
            }
        }
        if let Phase::Closing(deadline) = self.phase {
            for i in 0..self.conns.len() {
                // A client that connected but has not asked yet (a wait sent just as
                // the process ended) still gets its answer.
                let idle = |c: &Conn| c.role != Role::Hello && !c.pending();
                if matches!(&self.conns[i], Some(c) if idle(c) || now >= deadline) {
                    self.close_conn(i);
                }
            }
            if self.conns.iter().all(Option::is_none) {
                self.phase = Phase::Done;
            }
        }
    }

    /// The end: log flushed, clients told, then the exit status recorded (for whoever
    /// comes later: the socket stays until it is), then the container deleted (cgroup,
    /// runtime state). Waiters hear of the end before anything else is written or
    /// deleted; a new run of the container, and its removal, wait for this shim to exit
    /// (see `Engine::start_with` and `Engine::dismantle`), so nothing they make or
    /// delete can meet this cleanup.
    fn finish(&mut self) {
        let now = SystemTime::now();
        if let Some(e) = self.log.flush(now) {
            note(format!("write the log: {e}"));
        }
        let oom_killed = self.target.oom_killed().unwrap_or_else(|e| {
            note(format!("read the container's OOM kills: {e:#}"));
            false
        });
        let (code, when) = self.exited.unwrap_or((255, now));
        let status = ExitStatus {
            oom_killed,
            ..ExitStatus::new(code, when)
        };
        let reply = status_reply(&status);
        for i in 0..self.conns.len() {
            self.tell_end(i, &reply);
        }
        if let Err(e) = status.write(std::path::Path::new(".")) {
            note(e);
        }
        if let Err(e) = self.target.cleanup() {
            note(format!("delete the container: {e:#}"));
        }
        self.status = Some(status);
        self.close_io();
        self.phase = Phase::Closing(Instant::now() + LINGER);
    }

    fn close_io(&mut self) {
        self.stdio.out = None;
        self.stdio.err = None;
        self.stdio.input = None;
        self.listener = None;
        for file in [berth_shim::SOCKET, berth_shim::PID_FILE] {
            if let Err(e) = std::fs::remove_file(file) {
                note(format!("remove {file}: {e}"));
            }
        }
    }

    fn tell_end(&mut self, i: usize, reply: &Reply) {
        let Some(conn) = self.conns[i].as_mut() else {
            return;
        };
        match conn.role {
            // Its request, when it comes, is answered from the recorded status.
            Role::Hello => return,
            Role::Wait => conn.reply(reply),
            _ => {}
        }
        conn.role = Role::Done;
        conn.reading = false;
        self.send(i);
    }
}

fn status_reply(st: &ExitStatus) -> Reply {
    Reply {
        exit_code: Some(st.exit_code),
        finished_at: Some(st.finished_at.clone()),
        oom_killed: Some(st.oom_killed),
        ..Reply::default()
    }
}
