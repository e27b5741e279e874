//! Transport tests on 127.0.0.1 with ephemeral ports.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::timeout;

use super::*;

fn options(via_port: u16, rport: bool, call_id: &str) -> String {
    format!(
        "OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{via_port};branch=z9hG4bK{call_id}{}\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:hotline@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        if rport { ";rport" } else { "" }
    )
}

struct Udp {
    server: SocketAddr,
    rx: mpsc::Receiver<Inbound>,
    stats: Arc<Stats>,
    stop: CancellationToken,
}

async fn start_udp() -> Udp {
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let server = sock.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(16);
    let stats = Arc::new(Stats::default());
    let stop = CancellationToken::new();
    tokio::spawn(run_udp(sock, tx, stats.clone(), stop.clone()));
    Udp {
        server,
        rx,
        stats,
        stop,
    }
}

async fn recv(sock: &UdpSocket) -> String {
    let mut buf = vec![0u8; 4096];
    let (n, _) = timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
        .await
        .expect("an answer within 2 s")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn udp_request_is_stamped_and_answered_via_rport() {
    let mut udp = start_udp().await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // The Via names a port nobody listens on: only rport gets us the answer.
    client
        .send_to(options(9, true, "u1").as_bytes(), udp.server)
        .await
        .unwrap();
    let inbound = timeout(Duration::from_secs(2), udp.rx.recv())
        .await
        .unwrap()
        .unwrap();
    let Message::Request(req) = &inbound.message else {
        panic!("expected a request")
    };
    let port = client.local_addr().unwrap().port();
    assert_eq!(req.top_via().received(), Some("127.0.0.1"));
    assert_eq!(req.top_via().rport(), Some(Some(port)));
    inbound
        .respond(&Response::for_request(req, 200, "OK"))
        .await
        .unwrap();
    let answer = recv(&client).await;
    assert!(answer.starts_with("SIP/2.0 200 OK\r\n"), "{answer}");
    assert!(answer.contains(&format!("rport={port}")));
    udp.stop.cancel();
}

#[test]
fn destination_without_rport_uses_via_port() {
    let resp = Response {
        status: 200,
        reason: "OK".into(),
        headers: {
            let mut h = crate::sip::message::Headers::new();
            h.push(
                "Via",
                "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKx;received=192.0.2.4",
            );
            h
        },
        body: Vec::new(),
    };
    let src: SocketAddr = "192.0.2.4:40000".parse().unwrap();
    assert_eq!(
        response_destination(&resp, src),
        "192.0.2.4:5070".parse().unwrap()
    );
}

#[tokio::test]
async fn garbage_is_counted_and_bad_requests_get_400() {
    let mut udp = start_udp().await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(b"\x00\x01garbage", udp.server)
        .await
        .unwrap();
    let bad = options(9, false, "u2").replace("Call-ID: u2\r\n", "");
    client.send_to(bad.as_bytes(), udp.server).await.unwrap();
    let answer = recv(&client).await;
    assert!(
        answer.starts_with("SIP/2.0 400 Bad Request (Call-ID)"),
        "{answer}"
    );
    // The good request after them still arrives.
    client
        .send_to(options(9, true, "u3").as_bytes(), udp.server)
        .await
        .unwrap();
    let inbound = timeout(Duration::from_secs(2), udp.rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(inbound.message, Message::Request(_)));
    assert_eq!(udp.stats.dropped.load(Ordering::Relaxed), 1);
    assert_eq!(udp.stats.rejected.load(Ordering::Relaxed), 1);
    udp.stop.cancel();
}

#[tokio::test]
async fn tcp_frames_by_content_length_and_answers_on_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let stop = CancellationToken::new();
    tokio::spawn(run_tcp(
        listener,
        tx,
        Arc::new(Stats::default()),
        stop.clone(),
    ));
    let mut conn = TcpStream::connect(server).await.unwrap();
    let two = format!(
        "{}{}",
        options(5060, false, "t1"),
        options(5060, false, "t2")
    );
    let third = options(5060, false, "t3");
    let (a, b) = third.split_at(40);
    conn.write_all(format!("{two}{a}").as_bytes())
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let inbound = timeout(Duration::from_secs(2), rx.recv())
            .await
            .unwrap()
            .unwrap();
        let Message::Request(req) = &inbound.message else {
            panic!()
        };
        ids.push(req.call_id().to_string());
        if ids.len() == 1 {
            inbound
                .respond(&Response::for_request(req, 200, "OK"))
                .await
                .unwrap();
        }
    }
    assert_eq!(ids, ["t1", "t2"]);
    let mut buf = vec![0u8; 2048];
    let n = timeout(Duration::from_secs(2), conn.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("Call-ID: t1"));
    conn.write_all(b.as_bytes()).await.unwrap();
    let inbound = timeout(Duration::from_secs(2), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let Message::Request(req) = &inbound.message else {
        panic!()
    };
    assert_eq!(req.call_id().as_str(), "t3");
    stop.cancel();
}
