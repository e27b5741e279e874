//! hotline as an installed program: it finds its flow and prompts from any
//! working directory (they are built in), and a configuration file's
//! relative paths are relative to that file, not to where it was started.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::sip_peer::{Leg, SipPeer};

const S: Duration = Duration::from_secs(5);

/// A `hotline` child killed when dropped, with its output lines.
struct Run {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Run {
    fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd
            .env_remove("HOTLINE_CONFIG")
            .env_remove("HOTLINE_DATABASE_URL")
            .env_remove("STATE_DIRECTORY")
            .env("HOTLINE_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hotline");
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(l);
                }
            });
        }
        Self {
            child,
            lines,
            seen: vec![],
        }
    }

    /// The first line starting with `prefix`, within `limit`.
    fn line(&mut self, prefix: &str, limit: Duration) -> String {
        let end = std::time::Instant::now() + limit;
        while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(l) => self.seen.push(l),
                Err(_) => break,
            }
        }
        panic!("no line `{prefix}...`; output:\n{}", self.seen.join("\n"));
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // SIGTERM: the daemon stops its embedded PostgreSQL itself.
        // SAFETY: a plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let end = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
    }
}

fn addr_after(line: &str, prefix: &str) -> std::net::SocketAddr {
    line.trim_start_matches(prefix)
        .split([',', ' ', '/'])
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[tokio::test]
async fn run_from_the_root_directory_with_only_a_data_dir_answers_options() {
    let data = tempfile::Builder::new()
        .prefix("hotline-install-")
        .tempdir()
        .unwrap();
    // No configuration file, no prompts, no flow in reach: all built in.
    // The embedded PostgreSQL under the data directory. Ports are ours to
    // choose (5060 and 8080 may be taken on a shared machine).
    let mut run = Run::spawn(
        Command::new(common::hotline_bin())
            .current_dir("/")
            .args(["--data-dir", data.path().to_str().unwrap()])
            .args([
                "--sip-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .arg("run"),
    );
    let sip = run.line("hotline: SIP listening on udp ", Duration::from_secs(90));
    let sip = addr_after(&sip, "hotline: SIP listening on udp ");
    let admin = run.line("hotline: admin page and API on http://", S);
    let admin = addr_after(&admin, "hotline: admin page and API on http://");
    assert!(
        !run.seen.iter().any(|l| l.contains("HL-PROMPT")),
        "{:?}",
        run.seen
    );

    let peer = SipPeer::new(sip).await;
    peer.send(&peer.request_text("OPTIONS", &Leg::new(), ""))
        .await;
    let r = peer.response(S).await.expect("an answer to OPTIONS");
    assert_eq!(r.status, 200);

    // `hotline status` reaches it over the admin API, from anywhere too.
    let out = Command::new(common::hotline_bin())
        .current_dir("/")
        .env_remove("HOTLINE_CONFIG")
        .args(["--admin-listen", &admin.to_string(), "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("calls:    0 in progress"), "{text}");
    assert!(text.contains("flow:     default-2+"), "{text}");
    assert!(
        text.contains(&format!("version:  {}", hotline::shipped::version())),
        "{text}"
    );
    assert!(text.contains("agents:   0"), "{text}");
}

#[test]
fn status_says_when_no_daemon_answers() {
    let out = Command::new(common::hotline_bin())
        .env_remove("HOTLINE_CONFIG")
        .args(["--admin-listen", "127.0.0.1:9", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HL-STATUS-DOWN") && err.contains("127.0.0.1:9"),
        "{err}"
    );
}

fn wav(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..800 {
        w.write_sample(((i % 20) * 500) as i16).unwrap();
    }
    w.finalize().unwrap();
}

#[tokio::test]
async fn relative_paths_in_a_configuration_file_are_found_from_its_directory() {
    // desk/etc/hotline.toml names flows/custom.toml and voice/, relative;
    // hotline is started from `/`, where neither exists.
    let desk = tempfile::tempdir().unwrap();
    let etc = desk.path().join("etc");
    std::fs::create_dir_all(etc.join("flows")).unwrap();
    let flow = std::fs::read_to_string("config/ivr.toml")
        .unwrap()
        .replace("version = \"default-2\"", "version = \"custom-7\"")
        .replace("\"greeting-hello\"", "\"custom-hello\"");
    std::fs::write(etc.join("flows/custom.toml"), flow).unwrap();
    // A prompt only this directory has, in both languages.
    wav(&etc.join("voice/en/custom-hello.wav"));
    wav(&etc.join("voice/zh/custom-hello.wav"));
    let config = etc.join("hotline.toml");
    std::fs::write(
        &config,
        "[ivr]\nflow = \"flows/custom.toml\"\n[media]\nprompts_dir = \"voice\"\n\
         [daemon]\ndata_dir = \"../data\"\n[answer]\nafter_rings = 0\n",
    )
    .unwrap();

    let out = Command::new(common::hotline_bin())
        .current_dir("/")
        .args(["--config", config.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = etc.join("flows/custom.toml");
    assert!(
        text.contains(&format!("{}: call flow custom-7+", shown.display())),
        "{text}"
    );
    assert!(
        text.contains(&etc.join("voice").display().to_string()),
        "{text}"
    );

    // The daemon too: the flow in force is the custom one, and the data
    // directory is beside etc/, not under `/`.
    let (_, db_url) = common::shared().fresh_db().await;
    let mut run = Run::spawn(
        Command::new(common::hotline_bin())
            .current_dir("/")
            .args(["--config", config.to_str().unwrap()])
            .args(["--database-url", &db_url])
            .args([
                "--sip-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .arg("run"),
    );
    run.line("hotline: SIP listening on udp ", Duration::from_secs(60));
    let dir = run.line("hotline: data directory ", S);
    assert_eq!(
        Path::new(dir.trim_start_matches("hotline: data directory ")),
        etc.join("../data")
    );
    assert!(
        run.seen
            .iter()
            .any(|l| l.contains("IVR flow loaded") && l.contains("custom-7+")),
        "{:?}",
        run.seen
    );
}

#[tokio::test]
async fn a_prompt_saved_beside_the_configuration_overrides_the_built_in_one_at_once() {
    // The daemon's configuration file lives in its (temporary) data
    // directory, like /etc/hotline/hotline.toml beside /etc/hotline/prompts.
    let d = common::daemon::Daemon::start("[answer]\nafter_rings = 0\n").await;
    let dir = d.config_path().parent().unwrap().to_path_buf();
    // The watcher takes its first look once its task runs, which may be
    // just after the "listening" line: change nothing before it has.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Staged, then renamed into place: the watcher polls modification
    // times, which a half-written file could share with the finished one.
    wav(&dir.join("staging/en/company.wav"));
    std::fs::rename(dir.join("staging"), dir.join("prompts")).unwrap();
    d.wait_line(
        |l| l.contains("configuration reloaded") && l.contains("why=file change"),
        Duration::from_secs(20),
    )
    .await;
    assert!(
        d.count(|l| l.contains("prompts loaded") && l.contains("from_files=1")) >= 1,
        "{:?}",
        d.logs()
    );
}
