//! Connections that send nothing, or headers too slowly, are closed after
//! `--header-timeout-secs`; kept-alive connections that go idle too. A body
//! that stops arriving gets 408. A request in time is answered as usual.

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
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    let waited = until_closed(&mut kept);
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    // A body that stops arriving gets 408 with a SCIM error, and nothing is written.
    let mut stalled = connect();
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{{\"userName\": ",
        srv.token()
    );
    stalled.write_all(head.as_bytes()).unwrap();
    stalled.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    let mut answer = Vec::new();
    let _ = stalled.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("stopped arriving"), "{answer}");
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert_eq!(srv.get("/Users").json()["totalResults"], 0);

    // A body that cannot be read (a broken chunked encoding) is 400 with the reason, not 413.
    let mut broken = connect();
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n",
        srv.token()
    );
    broken.write_all(head.as_bytes()).unwrap();
    broken.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = Vec::new();
    let _ = broken.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("could not be read"), "{answer}");

    // The server goes on answering new connections.
    assert_eq!(srv.get("/Users?count=1").status, 200);
}
