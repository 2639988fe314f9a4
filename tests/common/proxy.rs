//! A TCP proxy between clients and a broker that can hold back what clients send: from
//! the next Kafka Produce request on ([`Proxy::hold_produce`]), what a connection sends
//! is kept (responses still flow) and written to the broker only at [`Proxy::release`],
//! even after the client died. It stands for a network that delivers a killed
//! instance's produce requests late.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Upstream {
    /// Bytes of an incomplete request frame (client -> broker).
    partial: Vec<u8>,
    /// Hold from the next Produce request on.
    armed: bool,
    /// `Some`: held bytes not yet written.
    held: Option<Vec<u8>>,
    /// The client closed while bytes were held: close after the release.
    client_closed: bool,
}

struct Conn {
    to_broker: TcpStream,
    state: Mutex<Upstream>,
}

/// The proxy; it stops accepting when dropped.
pub struct Proxy {
    pub port: u16,
    upstream: Arc<AtomicU16>,
    conns: Arc<Mutex<Vec<Arc<Conn>>>>,
    stop: Arc<AtomicBool>,
}

/// Kafka's request API key of Produce.
const PRODUCE: i16 = 0;

impl Proxy {
    /// Listens on a free 127.0.0.1 port; connections are accepted once
    /// [`set_upstream`](Self::set_upstream) named the broker.
    pub fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream = Arc::new(AtomicU16::new(0));
        let conns: Arc<Mutex<Vec<Arc<Conn>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (up, cs, st) = (upstream.clone(), conns.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                while up.load(Ordering::Relaxed) == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                let Ok(broker) = TcpStream::connect(("127.0.0.1", up.load(Ordering::Relaxed)))
                else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = broker.set_nodelay(true);
                let conn = Arc::new(Conn {
                    to_broker: broker.try_clone().unwrap(),
                    state: Mutex::default(),
                });
                cs.lock().unwrap().push(conn.clone());
                // broker -> client: always flows
                let (mut b, mut c) = (broker, client.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut b, &mut c);
                    let _ = c.shutdown(Shutdown::Both);
                });
                // client -> broker: whole request frames; held from the first Produce
                // request after `hold_produce` on
                let mut c = client;
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = c.read(&mut buf).unwrap_or(0);
                        let mut s = conn.state.lock().unwrap();
                        if n == 0 {
                            if s.held.is_some() {
                                s.client_closed = true;
                            } else {
                                let _ = conn.to_broker.shutdown(Shutdown::Write);
                            }
                            return;
                        }
                        s.partial.extend_from_slice(&buf[..n]);
                        while s.partial.len() >= 6 {
                            let size = i32::from_be_bytes(s.partial[..4].try_into().unwrap());
                            let len = 4 + size.max(0) as usize;
                            if s.partial.len() < len {
                                break;
                            }
                            let frame: Vec<u8> = s.partial.drain(..len).collect();
                            let api_key = i16::from_be_bytes([frame[4], frame[5]]);
                            if s.held.is_none() && api_key == PRODUCE && s.armed {
                                s.held = Some(Vec::new());
                            }
                            match s.held.as_mut() {
                                Some(h) => h.extend_from_slice(&frame),
                                None => {
                                    if (&conn.to_broker).write_all(&frame).is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    }
                });
            }
        });
        Proxy {
            port,
            upstream,
            conns,
            stop,
        }
    }

    /// The broker's real port.
    pub fn set_upstream(&self, port: u16) {
        self.upstream.store(port, Ordering::Relaxed);
    }

    /// From the next Produce request of each connection open now on, holds back what it
    /// sends (connections opened later flow).
    pub fn hold_produce(&self) {
        for c in self.conns.lock().unwrap().iter() {
            c.state.lock().unwrap().armed = true;
        }
    }

    /// Bytes held so far.
    pub fn held_bytes(&self) -> usize {
        self.conns
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.state.lock().unwrap().held.as_ref().map_or(0, Vec::len))
            .sum()
    }

    /// Writes every held byte to the broker, in order, and lets the connections flow.
    pub fn release(&self) {
        for c in self.conns.lock().unwrap().iter() {
            let mut s = c.state.lock().unwrap();
            s.armed = false;
            if let Some(h) = s.held.take() {
                let _ = (&c.to_broker).write_all(&h);
                if s.client_closed {
                    let _ = c.to_broker.shutdown(Shutdown::Write);
                }
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
