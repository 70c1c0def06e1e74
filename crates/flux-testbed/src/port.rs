//! Free loopback ports.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it
/// for a listener bound to port 0, which was then closed).
///
/// Another process may take it before the caller binds it; servers started by
/// this crate retry with a new port when that happens.
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`, or
/// `deadline` passes. `alive` is asked between attempts and stops the wait
/// early (with an error) when the server has exited.
pub fn wait_for_listener(
    port: u16,
    deadline: Duration,
    mut alive: impl FnMut() -> io::Result<bool>,
) -> io::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let start = Instant::now();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if !alive()? {
            return Err(io::Error::other(format!(
                "server for 127.0.0.1:{port} exited before listening"
            )));
        }
        if start.elapsed() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("nothing listening on 127.0.0.1:{port} after {deadline:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
