//! The driver thread and the connection threads. The driver thread waits
//! on one channel for what the connection threads report (a connect
//! finished, bytes read, a socket closed) and for kicks from the handles
//! (something new to do), or for the producer's next deadline; it hands
//! each to the [`Engine`] under the lock. Connection threads connect, then
//! read until the socket closes; writes happen under the lock, on the
//! blocking socket, from whichever thread produced the bytes.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};
use std::thread;
use std::time::Duration;

use kafka_producer_driver::{Action, Engine, Shared, Transport};
use kafka_producer_proto::ConnectionId;

/// A blocking socket as the engine's [`Transport`]. Reads come from the
/// connection's thread, never through here.
pub(crate) struct Socket(TcpStream);

impl Transport for Socket {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn close(&mut self) {
        // Ends the connection thread's read, too.
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

/// What the driver thread is told.
pub(crate) enum Input {
    Connected(ConnectionId, io::Result<TcpStream>),
    Data(ConnectionId, Vec<u8>),
    Closed(ConnectionId, Option<io::Error>),
    /// A handle gave the engine something the driver must look at.
    Kick,
}

/// Wakes the driver thread by sending it a kick.
struct Kick(Mutex<Sender<Input>>);

impl Wake for Kick {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Ok(tx) = self.0.lock() {
            let _ = tx.send(Input::Kick);
        }
    }
}

pub(crate) fn run(shared: Arc<Shared<Socket>>, tx: Sender<Input>, rx: Receiver<Input>) {
    let kick = Waker::from(Arc::new(Kick(Mutex::new(tx.clone()))));
    let setup_timeout = shared.with(|e| e.producer().config().socket_connection_setup_timeout());
    let mut first = None;
    loop {
        let (actions, deadline, finished) = shared.with(|e: &mut Engine<Socket>| {
            e.set_driver(&kick);
            if let Some(input) = first.take() {
                handle(e, input);
            }
            // Everything already waiting, under one lock.
            while let Ok(input) = rx.try_recv() {
                handle(e, input);
            }
            if e.next_deadline()
                .is_some_and(|d| d <= std::time::Instant::now())
            {
                e.timeout();
            }
            (e.take_actions(), e.next_deadline(), e.is_finished())
        });
        if finished {
            return;
        }
        for action in actions {
            match action {
                Action::Connect { conn, host, port } => {
                    let tx = tx.clone();
                    let spawned = thread::Builder::new()
                        .name(format!("kafka-conn-{}", conn.0))
                        .spawn(move || connection(conn, host, port, setup_timeout, tx));
                    if let Err(e) = spawned {
                        shared.with(|en| en.connect_failed(conn, &e));
                    }
                }
                // The connect runs on; the engine closes what it brings.
                Action::Cancel { .. } => {}
            }
        }
        let wait = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        first = match wait {
            Some(w) if w.is_zero() => continue,
            Some(w) => match rx.recv_timeout(w) {
                Ok(input) => Some(input),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match rx.recv() {
                Ok(input) => Some(input),
                Err(_) => return,
            },
        };
    }
}

fn handle(e: &mut Engine<Socket>, input: Input) {
    match input {
        Input::Connected(id, Ok(stream)) => e.connected(id, Socket(stream)),
        Input::Connected(id, Err(error)) => e.connect_failed(id, &error),
        Input::Data(id, bytes) => e.received(id, &bytes),
        Input::Closed(id, error) => e.closed_by_peer(id, error.as_ref()),
        Input::Kick => {}
    }
}

/// Connects, hands the driver a clone of the stream for writing, then
/// reads until the connection ends.
fn connection(id: ConnectionId, host: String, port: u16, timeout: Duration, tx: Sender<Input>) {
    let stream = connect(&host, port, timeout).and_then(|s| {
        // Requests are whole frames written at once; Nagle would only hold
        // the last one back.
        s.set_nodelay(true)?;
        let writer = s.try_clone()?;
        Ok((s, writer))
    });
    let mut reader = match stream {
        Ok((reader, writer)) => {
            if tx.send(Input::Connected(id, Ok(writer))).is_err() {
                return;
            }
            reader
        }
        Err(e) => {
            let _ = tx.send(Input::Connected(id, Err(e)));
            return;
        }
    };
    let mut buf = vec![0u8; 64 * 1024];
    let error = loop {
        match reader.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                if tx.send(Input::Data(id, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Some(e),
        }
    };
    let _ = tx.send(Input::Closed(id, error));
}

/// Tries each address of `host` in turn, each for at most `timeout`.
fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}
