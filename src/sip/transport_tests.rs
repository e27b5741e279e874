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
        TcpLimits::default(),
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

struct Tcp {
    server: SocketAddr,
    rx: mpsc::Receiver<Inbound>,
    stats: Arc<Stats>,
    stop: CancellationToken,
}

async fn start_tcp(limits: TcpLimits) -> Tcp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(16);
    let stats = Arc::new(Stats::default());
    let stop = CancellationToken::new();
    tokio::spawn(run_tcp(listener, tx, stats.clone(), limits, stop.clone()));
    Tcp {
        server,
        rx,
        stats,
        stop,
    }
}

const LIMIT: Duration = Duration::from_secs(10);

/// Read until EOF or reset; `None` if the connection is still open at `LIMIT`.
async fn closed_by_server(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    timeout(LIMIT, async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(got)
}

async fn next_request(rx: &mut mpsc::Receiver<Inbound>) -> Inbound {
    timeout(LIMIT, rx.recv())
        .await
        .expect("a request in time")
        .expect("transport alive")
}

#[tokio::test]
async fn a_tcp_peer_that_never_reads_is_closed_and_never_blocks_the_sender() {
    let mut t = start_tcp(TcpLimits {
        send_queue: 8,
        ..TcpLimits::default()
    })
    .await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let conn = sock.connect(t.server).await.unwrap();
    let (_rd, mut wr) = conn.into_split(); // the reading half is never read
    let writer = tokio::spawn(async move {
        for i in 0..400 {
            if wr
                .write_all(options(5060, false, &format!("nr{i}")).as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
        wr // keep the connection open from our side
    });
    // Answer every request with a 60 kB response, as a dispatcher would,
    // awaiting each send: none may wait on the peer.
    let handled = timeout(LIMIT, async {
        let mut n = 0;
        while t.stats.tcp_closed_full.load(Ordering::Relaxed) == 0 {
            let inbound = next_request(&mut t.rx).await;
            let Message::Request(req) = &inbound.message else {
                panic!()
            };
            let mut resp = Response::for_request(req, 200, "OK");
            resp.body = vec![b'x'; 60_000];
            let _ = send_response(&inbound.reply, inbound.source, &resp).await;
            n += 1;
        }
        n
    })
    .await
    .expect("the sender never blocks on a peer that does not read");
    assert!(handled > 8, "{handled} responses before the queue was full");
    assert_eq!(t.stats.tcp_closed_full.load(Ordering::Relaxed), 1);
    let _ = writer.await;
    t.stop.cancel();
}

#[tokio::test]
async fn crlf_keepalive_ping_gets_one_crlf_pong() {
    let mut t = start_tcp(TcpLimits::default()).await;
    let mut conn = TcpStream::connect(t.server).await.unwrap();
    conn.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    timeout(LIMIT, conn.read_exact(&mut pong))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&pong, b"\r\n");
    // A ping split across segments, then a request: both understood.
    conn.write_all(b"\r\n").await.unwrap();
    conn.write_all(b"\r\n").await.unwrap();
    timeout(LIMIT, conn.read_exact(&mut pong))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&pong, b"\r\n");
    conn.write_all(options(5060, false, "ka1").as_bytes())
        .await
        .unwrap();
    let inbound = next_request(&mut t.rx).await;
    let Message::Request(req) = &inbound.message else {
        panic!()
    };
    assert_eq!(req.call_id().as_str(), "ka1");
    assert_eq!(t.stats.keepalive_pongs.load(Ordering::Relaxed), 2);
    t.stop.cancel();
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_at_accept() {
    let mut t = start_tcp(TcpLimits {
        max_connections: 2,
        ..TcpLimits::default()
    })
    .await;
    let mut open = Vec::new();
    for i in 0..2 {
        let mut c = TcpStream::connect(t.server).await.unwrap();
        c.write_all(options(5060, false, &format!("mc{i}")).as_bytes())
            .await
            .unwrap();
        let _ = next_request(&mut t.rx).await; // accepted and counted
        open.push(c);
    }
    let mut third = TcpStream::connect(t.server).await.unwrap();
    assert!(
        closed_by_server(&mut third).await.is_some(),
        "third connection refused"
    );
    assert_eq!(t.stats.tcp_refused.load(Ordering::Relaxed), 1);
    open[0]
        .write_all(options(5060, false, "mc-again").as_bytes())
        .await
        .unwrap();
    let inbound = next_request(&mut t.rx).await;
    let Message::Request(req) = &inbound.message else {
        panic!()
    };
    assert_eq!(req.call_id().as_str(), "mc-again");
    // Closing one makes room for another.
    drop(open.remove(1));
    let fourth = timeout(LIMIT, async {
        loop {
            let mut c = TcpStream::connect(t.server).await.unwrap();
            c.write_all(options(5060, false, "mc4").as_bytes())
                .await
                .unwrap();
            if let Ok(Some(i)) = timeout(Duration::from_millis(500), t.rx.recv()).await {
                return (c, i);
            }
        }
    })
    .await
    .expect("a free slot is reused");
    drop(fourth);
    t.stop.cancel();
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let t = start_tcp(TcpLimits {
        idle_timeout: Duration::from_millis(200),
        ..TcpLimits::default()
    })
    .await;
    let mut conn = TcpStream::connect(t.server).await.unwrap();
    assert!(
        closed_by_server(&mut conn).await.is_some(),
        "idle connection closed"
    );
    assert_eq!(t.stats.tcp_closed_idle.load(Ordering::Relaxed), 1);
    assert_eq!(t.stats.tcp_open.load(Ordering::Relaxed), 0);
    t.stop.cancel();
}

#[tokio::test]
async fn a_header_dripped_slowly_is_cut_off() {
    let t = start_tcp(TcpLimits {
        header_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(60),
        ..TcpLimits::default()
    })
    .await;
    let conn = TcpStream::connect(t.server).await.unwrap();
    let (mut rd, mut wr) = conn.into_split();
    let msg = options(5060, false, "slow").into_bytes();
    // One byte every 20 ms: each within the idle timeout, the whole header
    // (about 300 bytes, 6 s) far beyond the header deadline.
    let drip = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut sent = 0;
        for b in msg {
            tick.tick().await;
            if wr.write_all(&[b]).await.is_err() {
                break;
            }
            sent += 1;
        }
        sent
    });
    let mut buf = [0u8; 64];
    let eof = timeout(LIMIT, async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(eof.is_ok(), "slowloris connection closed");
    assert_eq!(t.stats.tcp_closed_slow.load(Ordering::Relaxed), 1);
    drip.abort();
    t.stop.cancel();
}

#[tokio::test]
async fn a_buffer_over_the_cap_closes_the_connection() {
    let t = start_tcp(TcpLimits {
        max_buffer: 4096,
        ..TcpLimits::default()
    })
    .await;
    let mut conn = TcpStream::connect(t.server).await.unwrap();
    let _ = conn.write_all(&[b'a'; 5000]).await;
    assert!(
        closed_by_server(&mut conn).await.is_some(),
        "oversized buffer closed"
    );
    assert_eq!(t.stats.tcp_closed_framing.load(Ordering::Relaxed), 1);
    t.stop.cancel();
}

/// A listener that fails like one out of file descriptors, then recovers.
struct Flaky {
    listener: TcpListener,
    failures: u32,
}

impl Accept for Flaky {
    fn accept(
        &mut self,
    ) -> impl std::future::Future<Output = std::io::Result<(TcpStream, SocketAddr)>> + Send {
        let fail = self.failures > 0;
        self.failures = self.failures.saturating_sub(1);
        let listener = &self.listener;
        async move {
            if fail {
                return Err(std::io::Error::from_raw_os_error(libc::EMFILE));
            }
            listener.accept().await
        }
    }
}

#[tokio::test]
async fn accept_errors_do_not_end_the_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let stats = Arc::new(Stats::default());
    let stop = CancellationToken::new();
    let task = tokio::spawn(serve_tcp(
        Flaky {
            listener,
            failures: 3,
        },
        tx,
        stats.clone(),
        TcpLimits::default(),
        stop.clone(),
    ));
    let mut conn = TcpStream::connect(server).await.unwrap();
    conn.write_all(options(5060, false, "emfile").as_bytes())
        .await
        .unwrap();
    let inbound = next_request(&mut rx).await;
    assert!(matches!(inbound.message, Message::Request(_)));
    assert_eq!(stats.accept_errors.load(Ordering::Relaxed), 3);
    assert!(!task.is_finished());
    stop.cancel();
    assert!(task.await.unwrap().is_ok());
}
