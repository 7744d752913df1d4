//! End-to-end test of slow clients on both setups (`anote serve`, and the
//! split command API): 600 connections that trickle partial request bodies
//! must not take the capacity a normal client needs; a stalled body is cut
//! off with 408, stalled headers close the connection, and one client
//! address cannot hold more than its share of connections.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use anote_testkit::process::Backend;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Slow connections in all.
const SLOW: usize = 600;
/// Client addresses they come from (127.0.0.2 and up), each within the cap.
const ADDRESSES: usize = 12;
/// The cap of connections per client address the servers get.
const PER_CLIENT: usize = 50;

/// The server's address.
fn address_of(b: &Backend) -> SocketAddr {
    let base = b.writer.base.trim_start_matches("http://");
    base.parse().expect("a socket address")
}

/// A connection from loopback address `127.0.0.<host>`.
async fn connect_from(host: u8, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    let local = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, host), 0);
    socket.bind(local.into()).expect("binds");
    socket.connect(server).await.expect("connects")
}

/// Sends the headers and the start of a login body that announces more
/// than it will ever send.
async fn start_slow_login(stream: &mut TcpStream) {
    let head = "POST /v1/sessions HTTP/1.1\r\nhost: anote\r\ncontent-type: application/json\r\n\
                content-length: 1000\r\n\r\n{\"username\":\"";
    stream.write_all(head.as_bytes()).await.expect("writes");
}

/// What the server sends before it closes the connection or `within` is
/// over (`None` when it sends nothing and keeps the connection open).
async fn reply_within(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut reply = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let mut buf = [0u8; 1024];
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&reply).into_owned()),
            Ok(Ok(n)) => reply.extend_from_slice(&buf[..n]),
            Err(_) if reply.is_empty() => return None,
            Err(_) => return Some(String::from_utf8_lossy(&reply).into_owned()),
        }
    }
}

async fn slow_clients_do_not_deny_service(split: bool) {
    let cap = PER_CLIENT.to_string();
    let env = [
        ("ANOTE_MAX_CONNECTIONS_PER_CLIENT", cap.as_str()),
        ("ANOTE_BODY_TIMEOUT_SECS", "6"),
        ("ANOTE_HEADER_TIMEOUT_SECS", "2"),
    ];
    let b = Backend::of_with(split, &env).await;
    let ada = b.writer.user("ada").await;
    let server = address_of(&b);

    // 600 connections from 12 addresses, each trickling a byte a second
    // into a body that never completes.
    let mut slow = Vec::with_capacity(SLOW);
    for i in 0..SLOW {
        let host = 2 + u8::try_from(i % ADDRESSES).expect("small");
        let mut stream = connect_from(host, server).await;
        start_slow_login(&mut stream).await;
        slow.push(stream);
    }
    let trickling = Instant::now();

    // Meanwhile a normal client keeps getting answers, quickly.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let mut answered = 0;
    while trickling.elapsed() < Duration::from_secs(4) {
        for stream in &mut slow {
            // A write to a connection the server closed may fail: that is
            // its answer, read below.
            let _ = stream.write_all(b"a").await;
        }
        let r = client
            .post(b.writer.url("/v1/notes"))
            .bearer_auth(&ada.access)
            .json(&json!({ "title": "Still here", "body": "" }))
            .send()
            .await
            .expect("a normal request is answered in time");
        assert_eq!(r.status(), 201, "a normal request goes through");
        let (status, _) = b.writer.login("ada", "correct horse battery").await;
        assert_eq!(status, 200, "a login goes through");
        answered += 2;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(answered >= 10, "answered {answered}");

    // Past the body timeout, every stalled body has been answered with 408.
    let mut cut_off = 0;
    for stream in slow.iter_mut().step_by(37) {
        let reply = reply_within(stream, Duration::from_secs(10)).await;
        let reply = reply.expect("the server answers a stalled body");
        assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
        assert!(reply.contains("body_timeout"), "{reply}");
        cut_off += 1;
    }
    assert!(cut_off > 10);
    drop(slow);

    // Headers that stall: the connection is closed without an answer.
    let mut stream = connect_from(2, server).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: an")
        .await
        .expect("writes");
    let started = Instant::now();
    let reply = reply_within(&mut stream, Duration::from_secs(10)).await;
    assert!(
        reply.is_some_and(|r| r.is_empty() || r.starts_with("HTTP/1.1 408")),
        "the connection is closed"
    );
    assert!(started.elapsed() < Duration::from_secs(8));

    // One address holds at most its cap; the next connection is closed at
    // once, while another address is served.
    let mut held = Vec::new();
    for _ in 0..PER_CLIENT {
        let mut stream = connect_from(20, server).await;
        start_slow_login(&mut stream).await;
        held.push(stream);
    }
    let mut extra = connect_from(20, server).await;
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: anote\r\n\r\n")
        .await;
    let reply = reply_within(&mut extra, Duration::from_secs(5)).await;
    assert_eq!(reply.as_deref(), Some(""), "closed without an answer");
    let mut other = connect_from(21, server).await;
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: anote\r\nconnection: close\r\n\r\n")
        .await
        .expect("writes");
    let reply = reply_within(&mut other, Duration::from_secs(5)).await;
    let reply = reply.expect("answered");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let r = b
        .writer
        .as_user(&ada, Method::POST, "/v1/notes")
        .json(&json!({ "title": "Done", "body": "" }))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 201);
}

anote_testkit::both_setups!(split; slow_clients_do_not_deny_service);
