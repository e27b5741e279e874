//! baresip (Debian's package) as a real SIP phone in tests: its own config
//! directory, 127.0.0.1 only, a WAV file as microphone, ALSA's null device
//! as speaker, the `sndfile` filter recording what it hears, and the
//! `ctrl_tcp` module for commands and events (netstring JSON).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

pub struct Baresip {
    child: Child,
    pub dir: tempfile::TempDir,
    ctrl: tokio::net::tcp::OwnedWriteHalf,
    /// The `cons` module's UDP console: one-key commands (`x` hold, `X`
    /// resume) that ctrl_tcp in baresip 1.0 does not offer.
    console: std::net::UdpSocket,
    events: mpsc::UnboundedReceiver<(Instant, Value)>,
    /// Every event seen, with its arrival time.
    pub seen: Vec<(Instant, Value)>,
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Baresip {
    /// Start baresip with `source` as its microphone and `codecs` (e.g.
    /// "PCMU" or "PCMA") as the only audio codec it offers.
    pub async fn start(source: &Path, codec: &str) -> Self {
        let account = format!("<sip:5551234@127.0.0.1>;regint=0;audio_codecs={codec}");
        Self::start_account(source, &account).await
    }

    /// baresip as an agent's softphone: it registers as `user` to
    /// `registrar` with digest authentication (`regint` seconds).
    pub async fn agent(
        source: &Path,
        codec: &str,
        registrar: std::net::SocketAddr,
        user: &str,
        password: &str,
        regint: u32,
    ) -> Self {
        let account = format!(
            "<sip:{user}@{registrar}>;auth_pass={password};regint={regint};audio_codecs={codec}"
        );
        Self::start_account(source, &account).await
    }

    /// Start with one `accounts` line.
    pub async fn start_account(source: &Path, account: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hotline-baresip-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(dir.path().join("rec")).unwrap();
        // A port that was free a moment ago; retried if baresip lost the race.
        for _ in 0..5 {
            let port = free_tcp_port();
            let cons = free_udp_port();
            let config = format!(
                "poll_method epoll\n\
                 sip_listen 127.0.0.1:0\n\
                 sip_trans_def udp\n\
                 net_interface 127.0.0.1\n\
                 audio_player alsa,null\n\
                 audio_source aufile,{source}\n\
                 audio_alert alsa,null\n\
                 module_path /usr/lib/baresip/modules\n\
                 module g711.so\n\
                 module alsa.so\n\
                 module aufile.so\n\
                 module sndfile.so\n\
                 module account.so\n\
                 module ctrl_tcp.so\n\
                 module cons.so\n\
                 cons_listen 127.0.0.1:{cons}\n\
                 module_app menu.so\n\
                 snd_path {rec}\n\
                 ctrl_tcp_listen 127.0.0.1:{port}\n\
                 rtp_ports 40000-49999\n",
                source = source.display(),
                rec = dir.path().join("rec").display(),
            );
            std::fs::write(dir.path().join("config"), config).unwrap();
            std::fs::write(dir.path().join("accounts"), format!("{account}\n")).unwrap();
            let mut child = Command::new("baresip")
                .args(["-f", dir.path().to_str().unwrap()])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("baresip installed (apt-get install baresip)");
            // Wait for "baresip is ready." and make sure our control ports
            // were really ours: a port freed a moment ago may have been
            // taken since, and then we would be steering someone else's
            // phone. On any listen failure, start over with new ports.
            let (tx, rx) = std::sync::mpsc::channel();
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let mut ready = false;
            let deadline = Instant::now() + Duration::from_secs(10);
            while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                let l = line.to_ascii_lowercase();
                if l.contains("in use") || l.contains("failed") {
                    break;
                }
                if l.contains("baresip is ready") {
                    ready = true;
                    break;
                }
            }
            // Keep draining its output so baresip never blocks on a full pipe.
            std::thread::spawn(move || while rx.recv().is_ok() {});
            let stream = if ready {
                TcpStream::connect(("127.0.0.1", port)).await.ok()
            } else {
                None
            };
            let Some(stream) = stream else {
                let _ = child.kill();
                let _ = child.wait();
                continue;
            };
            let (mut rd, ctrl) = stream.into_split();
            let (tx, events) = mpsc::unbounded_channel();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                while let Ok(n) = rd.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(colon) = buf.iter().position(|&b| b == b':') {
                        let Ok(len) = std::str::from_utf8(&buf[..colon])
                            .unwrap_or("x")
                            .parse::<usize>()
                        else {
                            return;
                        };
                        if buf.len() < colon + 1 + len + 1 {
                            break;
                        }
                        let msg: Value = serde_json::from_slice(&buf[colon + 1..colon + 1 + len])
                            .unwrap_or(Value::Null);
                        buf.drain(..colon + 1 + len + 1);
                        let _ = tx.send((Instant::now(), msg));
                    }
                }
            });
            let console = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            console.connect(("127.0.0.1", cons)).unwrap();
            return Self {
                child,
                dir,
                ctrl,
                console,
                events,
                seen: Vec::new(),
            };
        }
        panic!("baresip did not start its control port");
    }

    /// A one-key console command, as typed on baresip's keyboard.
    pub fn key(&self, key: char) {
        self.console.send(key.to_string().as_bytes()).unwrap();
    }

    pub async fn command(&mut self, command: &str, params: &str) {
        let body =
            serde_json::json!({"command": command, "params": params, "token": command}).to_string();
        let frame = format!("{}:{},", body.len(), body);
        self.ctrl.write_all(frame.as_bytes()).await.unwrap();
    }

    /// Wait for an event of `kind` (e.g. "CALL_ESTABLISHED"); returns when
    /// it arrived. Panics after `limit` with the events seen.
    pub async fn event(&mut self, kind: &str, limit: Duration) -> (Instant, Value) {
        if let Some(e) = self.seen.iter().find(|(_, v)| v["type"] == kind) {
            return e.clone();
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) => {
                    self.seen.push(e.clone());
                    if e.1["type"] == kind {
                        return e;
                    }
                }
                _ => panic!(
                    "no {kind} within {limit:?}; events: {:?}",
                    self.seen.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()
                ),
            }
        }
    }

    /// The WAV files the `sndfile` filter wrote: what baresip heard (`dec`).
    pub fn heard(&self) -> Option<PathBuf> {
        std::fs::read_dir(self.dir.path().join("rec"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
    }

    /// Quit and wait, so recordings are finalised.
    pub async fn quit(mut self) -> tempfile::TempDir {
        self.command("quit", "").await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
