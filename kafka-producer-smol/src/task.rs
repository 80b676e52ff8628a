//! The driver task: the one place that waits on sockets and time. It polls
//! every connect, every socket's readiness and one timer, hands what
//! happened to the [`Engine`] under the lock (never across an `.await`),
//! and ends once the producer has closed and its connections are gone.

use std::future::{Future, poll_fn};
use std::io::{self, IoSlice, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use kafka_producer_driver::{Action, Engine, ReadState, Shared, Transport};
use kafka_producer_proto::ConnectionId;
use smol::Async;
use smol::Timer;
use std::net::TcpStream;

/// An async-io socket as the engine's [`Transport`]: the socket is in
/// non-blocking mode, so reads and writes say `WouldBlock` rather than
/// wait, and the task waits for readiness with `poll_readable` and
/// `poll_writable`.
pub(crate) struct Socket(pub(crate) Async<TcpStream>);

impl Transport for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&mut self.0.get_ref()).read(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&mut self.0.get_ref()).write_vectored(bufs)
    }
}

type Connecting = Pin<Box<dyn Future<Output = io::Result<Async<TcpStream>>> + Send>>;

/// Resolves `host` and connects to its addresses in turn.
async fn connect(host: String, port: u16) -> io::Result<Async<TcpStream>> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
    for addr in smol::net::resolve((host.as_str(), port)).await? {
        match Async::<TcpStream>::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Passes over the sockets in one poll before the task yields to the
/// runtime, so that a busy producer cannot starve other tasks.
const PASSES_PER_POLL: usize = 16;

/// Far enough to mean "no deadline" for the timer.
const IDLE: Duration = Duration::from_secs(3600);

struct Task {
    shared: Arc<Shared<Socket>>,
    connecting: Vec<(ConnectionId, Connecting)>,
    sleep: Timer,
    sleep_at: Option<std::time::Instant>,
    // Reused between passes so that a pass allocates nothing.
    opened: Vec<(ConnectionId, io::Result<Async<TcpStream>>)>,
    readable: Vec<ConnectionId>,
    writable: Vec<ConnectionId>,
}

pub(crate) async fn run(shared: Arc<Shared<Socket>>) {
    let mut task = Task {
        shared,
        connecting: Vec::new(),
        sleep: Timer::after(IDLE),
        sleep_at: None,
        opened: Vec::new(),
        readable: Vec::new(),
        writable: Vec::new(),
    };
    poll_fn(|cx| task.poll(cx)).await;
}

impl Task {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..PASSES_PER_POLL {
            match self.pass(cx) {
                Pass::Finished => return Poll::Ready(()),
                Pass::Progress => continue,
                Pass::Idle => return Poll::Pending,
            }
        }
        // Still busy: let the runtime run others, and come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn pass(&mut self, cx: &mut Context<'_>) -> Pass {
        let mut progress = false;
        let mut i = 0;
        while i < self.connecting.len() {
            if let Poll::Ready(result) = self.connecting[i].1.as_mut().poll(cx) {
                let (id, _) = self.connecting.swap_remove(i);
                self.opened.push((id, result));
            } else {
                i += 1;
            }
        }
        let now = std::time::Instant::now();
        let fire = self.sleep_at.is_some_and(|at| at <= now);
        let (opened, readable, writable) =
            (&mut self.opened, &mut self.readable, &mut self.writable);
        let (actions, deadline, finished) = self.shared.with(|e: &mut Engine<Socket>| {
            e.set_driver(cx.waker());
            progress |= !opened.is_empty();
            for (id, result) in opened.drain(..) {
                match result {
                    Ok(stream) => {
                        // Requests are whole frames written at once; Nagle
                        // would only hold the last one back.
                        let _ = stream.get_ref().set_nodelay(true);
                        e.connected(id, Socket(stream));
                    }
                    Err(error) => e.connect_failed(id, &error),
                }
            }
            readable.clear();
            writable.clear();
            for (id, socket, wants_write) in e.connections() {
                // An error is readiness too: the read that follows reports it.
                if socket.0.poll_readable(cx).is_ready() {
                    readable.push(id);
                }
                if wants_write && socket.0.poll_writable(cx).is_ready() {
                    writable.push(id);
                }
            }
            for id in writable.iter() {
                progress = true;
                e.write_to(*id);
            }
            for id in readable.iter() {
                progress = true;
                // Drained or not, the next pass polls readiness again,
                // which re-arms the waker after a WouldBlock.
                let _: ReadState = e.read_from(*id);
            }
            if fire {
                progress = true;
                e.timeout();
            }
            (e.take_actions(), e.next_deadline(), e.is_finished())
        });
        if finished && self.connecting.is_empty() {
            return Pass::Finished;
        }
        for action in actions {
            progress = true;
            match action {
                Action::Connect { conn, host, port } => {
                    self.connecting.push((conn, Box::pin(connect(host, port))));
                }
                Action::Cancel { conn } => self.connecting.retain(|(id, _)| *id != conn),
            }
        }
        match deadline {
            Some(at) if at <= std::time::Instant::now() => {
                self.sleep_at = Some(at);
                progress = true;
            }
            Some(at) => {
                if self.sleep_at != Some(at) {
                    self.sleep_at = Some(at);
                    self.sleep.set_at(at);
                }
                if Pin::new(&mut self.sleep).poll(cx).is_ready() {
                    progress = true;
                }
            }
            None => self.sleep_at = None,
        }
        if progress { Pass::Progress } else { Pass::Idle }
    }
}

enum Pass {
    Finished,
    Progress,
    Idle,
}
