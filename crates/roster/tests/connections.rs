//! Connections that send nothing, or headers too slowly, are closed after
//! `--header-timeout-secs`; kept-alive connections that go idle too. A
//! request in time is answered as usual.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Reads until the server closes the connection; how long that took.
fn until_closed(stream: &mut TcpStream) -> Duration {
    let start = Instant::now();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return start.elapsed(),
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
}

#[test]
fn slow_and_idle_connections_are_closed() {
    let srv = TestServer::start_with_args(&["--header-timeout-secs", "1"]);
    let connect = || TcpStream::connect(("127.0.0.1", srv.port())).unwrap();

    // Nothing sent.
    let waited = until_closed(&mut connect());
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    // Half a request head, never finished.
    let mut slow = connect();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    let waited = until_closed(&mut slow);
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    // A whole request is answered; the kept-alive connection then idles out.
    let mut kept = connect();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = [0u8; 512];
    let n = kept.read(&mut answer).unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..n]));
    let waited = until_closed(&mut kept);
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    // The server goes on answering new connections.
    assert_eq!(srv.get("/Users?count=1").status, 200);
}
