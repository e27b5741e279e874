//! `hotline agents ...` run as the built binary against a test database.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use hotline::agents::{Actor, AgentState};
use hotline::sip::auth::{ha1, Algorithm};
use serde_json::Value;

use super::{common, fresh};

struct Cli {
    url: String,
    data: tempfile::TempDir,
}

impl Cli {
    async fn new() -> (Self, hotline::agents::AgentStore) {
        let (store, url) = fresh().await;
        let data = tempfile::tempdir().unwrap();
        (Cli { url, data }, store)
    }

    /// Run `hotline <args>` with `stdin` piped in.
    fn run_with(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(common::hotline_bin())
            .args(args)
            .args(["--database-url", &self.url])
            .args(["--data-dir", self.data.path().to_str().unwrap()])
            .args(["--config", "config/hotline.toml"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).unwrap();
        }
        drop(pipe);
        child.wait_with_output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, None)
    }

    /// Run, expect success, return stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn all(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

#[tokio::test]
async fn add_list_show_set_tier_pause_resume_remove() {
    let (cli, store) = Cli::new().await;
    let out = cli.ok(&[
        "agents",
        "add",
        "--user",
        "agent3",
        "--name",
        "Li Wei",
        "--tier",
        "L3",
        "--tier",
        "L2",
        "--language",
        "zh",
        "--password",
        "pass-word-3",
    ]);
    assert!(out.contains("added agent3 (Li Wei), tiers L2 L3"), "{out}");
    assert!(!out.contains("pass-word-3"));
    let a = cli.json(&[
        "agents",
        "add",
        "--user",
        "agent1",
        "--name",
        "Ada",
        "--tier",
        "l1",
        "--password",
        "pass-word-1",
        "--json",
    ]);
    assert_eq!(a["user"], "agent1");
    assert_eq!(a["tiers"], serde_json::json!(["L1"]));
    assert_eq!(a["language"], "en", "desk.language by default");
    assert_eq!(a["state"], "offline");
    assert_eq!(a["realm"], "hotline", "agents.realm of the configuration");
    let c = store.credentials("agent1").await.unwrap().unwrap();
    assert_eq!(
        c.ha1_md5,
        ha1(Algorithm::Md5, "agent1", "hotline", "pass-word-1")
    );

    // A registered phone shows up in the list with expiry and reachability.
    let id = store.id_of(&"agent3".parse().unwrap()).await.unwrap();
    store
        .replace_bindings(
            id,
            &[super::store::binding(
                "<sip:agent3@127.0.0.1:5071;ob>",
                3000,
            )],
        )
        .await
        .unwrap();
    let list = cli.json(&["agents", "list", "--json"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["user"], "agent1", "by user name");
    assert_eq!(list[1]["user"], "agent3");
    assert_eq!(list[1]["display_name"], "Li Wei");
    assert_eq!(list[1]["tiers"], serde_json::json!(["L2", "L3"]));
    assert!(list[1]["state_since"].is_string());
    let b = &list[1]["bindings"][0];
    assert_eq!(b["contact_uri"], "<sip:agent3@127.0.0.1:5071;ob>");
    assert_eq!(b["reachable"], true);
    assert_eq!(b["source"], "127.0.0.1:5071");
    assert!(b["expires_at"].is_string());
    assert!(list.iter().all(|a| a.get("ha1_md5").is_none()));
    let table = cli.ok(&["agents", "list"]);
    assert!(table.starts_with("USER"), "{table}");
    assert!(table.contains("offline since"), "{table}");
    assert!(
        table.contains("<sip:agent3@127.0.0.1:5071;ob> udp 127.0.0.1:5071, expires in"),
        "{table}"
    );
    assert!(table.contains("(no phone registered)"), "{table}");

    let t = cli.json(&["agents", "set-tier", "agent1", "L2", "L3", "--json"]);
    assert_eq!(t["tiers"], serde_json::json!(["L2", "L3"]));
    let out = cli.ok(&["agents", "set-tier", "agent1", "L1"]);
    assert_eq!(out.trim(), "agent1: tiers L1");

    let p = cli.json(&[
        "agents", "pause", "agent1", "--reason", "training", "--json",
    ]);
    assert_eq!(p["from"], "offline");
    assert_eq!(p["to"], "paused");
    assert_eq!(p["changed"], true);
    let out = cli.ok(&["agents", "pause", "agent1"]);
    assert_eq!(out.trim(), "agent1: already paused");
    let show = cli.json(&["agents", "show", "agent1", "--json"]);
    assert_eq!(show["agent"]["state"], "paused");
    assert_eq!(show["agent"]["state_reason"], "training");
    assert_eq!(show["events"][0]["to_state"], "paused");
    assert_eq!(show["events"][0]["actor"], "cli");
    assert_eq!(show["events"][0]["reason"], "training");
    let out = cli.ok(&["agents", "resume", "agent1"]);
    assert_eq!(out.trim(), "agent1: paused -> available");
    let detail = cli.ok(&["agents", "show", "agent1"]);
    assert!(detail.contains("State      available since"), "{detail}");
    assert!(detail.contains("paused -> available  by cli"), "{detail}");
    assert!(
        detail.contains("offline -> paused  by cli: training"),
        "{detail}"
    );
    let out = cli.json(&["agents", "logout", "agent1", "--json"]);
    assert_eq!(out["to"], "offline");

    let r = cli.json(&["agents", "remove", "agent3", "--json"]);
    assert_eq!(r["removed"], true);
    assert_eq!(r["id"], id.0);
    assert!(store.all_bindings().await.unwrap().is_empty());
    let list = cli.json(&["agents", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let ev = store.events(id, 1).await.unwrap();
    assert_eq!(ev[0].actor, Actor::Cli);
    assert_eq!(ev[0].to_state, AgentState::Offline);
}

#[tokio::test]
async fn refusals_exit_1_with_the_code_and_usage_errors_exit_2() {
    let (cli, store) = Cli::new().await;
    cli.ok(&[
        "agents",
        "add",
        "--user",
        "agent1",
        "--name",
        "Ada",
        "--tier",
        "L1",
        "--password",
        "pass-word-1",
    ]);
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "agents",
                "add",
                "--user",
                "agent1",
                "--name",
                "Ada",
                "--tier",
                "L1",
                "--password",
                "pass-word-1",
            ],
            "HL-AGENT-DUPLICATE",
        ),
        (
            &[
                "agents",
                "add",
                "--user",
                "agent2",
                "--name",
                "Bo",
                "--tier",
                "L4",
                "--password",
                "pass-word-1",
            ],
            "HL-AGENT-TIER",
        ),
        (
            &[
                "agents",
                "add",
                "--user",
                "bad user",
                "--name",
                "Bo",
                "--tier",
                "L1",
                "--password",
                "pass-word-1",
            ],
            "HL-AGENT-USER",
        ),
        (
            &[
                "agents",
                "add",
                "--user",
                "agent2",
                "--name",
                "Bo",
                "--tier",
                "L1",
                "--password",
                "short",
            ],
            "HL-AGENT-PASSWORD",
        ),
        (&["agents", "show", "ghost"], "HL-AGENT-UNKNOWN"),
        (&["agents", "set-tier", "ghost", "L1"], "HL-AGENT-UNKNOWN"),
        (
            &["agents", "set-tier", "agent1", "L1", "X"],
            "HL-AGENT-TIER",
        ),
        (&["agents", "pause", "ghost"], "HL-AGENT-UNKNOWN"),
        (&["agents", "resume", "ghost"], "HL-AGENT-UNKNOWN"),
        (&["agents", "logout", "ghost"], "HL-AGENT-UNKNOWN"),
        (&["agents", "remove", "ghost"], "HL-AGENT-UNKNOWN"),
        (
            &["agents", "passwd", "ghost", "--password", "pass-word-2"],
            "HL-AGENT-UNKNOWN",
        ),
    ];
    for (args, code) in cases {
        let out = cli.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", all(&out));
        let err = text(&out.stderr);
        assert!(err.contains(code), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // Unknown: the message names the agent and how to see the roster.
    let err = text(&cli.run(&["agents", "show", "ghost"]).stderr);
    assert!(
        err.contains("`ghost`") && err.contains("agents list"),
        "{err}"
    );
    // With --json the error is JSON too.
    let out = cli.run(&["agents", "show", "ghost", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_str(text(&out.stderr).trim()).unwrap();
    assert_eq!(v["code"], "HL-AGENT-UNKNOWN");
    assert!(v["error"].as_str().unwrap().contains("ghost"));

    // Usage errors stay clap's: exit 2.
    for args in [
        &[
            "agents",
            "add",
            "--user",
            "a",
            "--name",
            "b",
            "--password",
            "pass-word-1",
        ][..],
        &[
            "agents", "add", "--user", "a", "--name", "b", "--tier", "L1",
        ][..],
        &[
            "agents",
            "add",
            "--user",
            "a",
            "--name",
            "b",
            "--tier",
            "L1",
            "--password",
            "x1234567",
            "--password-stdin",
        ][..],
        &["agents", "set-tier", "agent1"][..],
        &["agents", "frobnicate"][..],
    ] {
        assert_eq!(cli.run(args).status.code(), Some(2), "{args:?}");
    }
    // Nothing changed by any of it.
    let list = store.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].agent.tiers, vec![hotline::agents::Tier::L1]);
}

#[tokio::test]
async fn passwords_come_from_stdin_and_never_appear_in_output() {
    let (cli, store) = Cli::new().await;
    let secret = "correct-horse-battery";
    let out = cli.run_with(
        &[
            "agents",
            "add",
            "--user",
            "agent1",
            "--name",
            "Ada",
            "--tier",
            "L1",
            "--password-stdin",
            "--json",
        ],
        Some(&format!("{secret}\n")),
    );
    assert!(out.status.success(), "{}", all(&out));
    assert!(!all(&out).contains(secret));
    let c = store.credentials("agent1").await.unwrap().unwrap();
    assert_eq!(
        c.ha1_sha256,
        ha1(Algorithm::Sha256, "agent1", "hotline", secret),
        "newline dropped"
    );

    let new = "a-new-secret-9";
    let out = cli.run_with(
        &["agents", "passwd", "agent1", "--password-stdin"],
        Some(&format!("{new}\r\n")),
    );
    assert!(out.status.success(), "{}", all(&out));
    assert!(!all(&out).contains(new));
    let after = store.credentials("agent1").await.unwrap().unwrap();
    assert_ne!(after.ha1_md5, c.ha1_md5);
    assert_ne!(after.ha1_sha256, c.ha1_sha256);
    assert_eq!(after.ha1_md5, ha1(Algorithm::Md5, "agent1", "hotline", new));
    assert_ne!(
        after.ha1_md5,
        ha1(Algorithm::Md5, "agent1", "hotline", secret)
    );

    // Empty stdin and a short password are refused without echoing them.
    let out = cli.run_with(
        &["agents", "passwd", "agent1", "--password-stdin"],
        Some(""),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("HL-AGENT-PASSWORD"),
        "{}",
        all(&out)
    );
    let out = cli.run_with(
        &["agents", "passwd", "agent1", "--password-stdin"],
        Some("abc12\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!all(&out).contains("abc12"), "{}", all(&out));
    // Verbose logs do not carry it either.
    let out = Command::new(common::hotline_bin())
        .env("HOTLINE_LOG", "trace")
        .args([
            "agents",
            "passwd",
            "agent1",
            "--password",
            "logged-secret-1",
        ])
        .args([
            "--database-url",
            &cli.url,
            "--data-dir",
            cli.data.path().to_str().unwrap(),
        ])
        .args(["--config", "config/hotline.toml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all(&out));
    assert!(!all(&out).contains("logged-secret-1"));
    assert_eq!(
        store.credentials("agent1").await.unwrap().unwrap().ha1_md5,
        ha1(Algorithm::Md5, "agent1", "hotline", "logged-secret-1")
    );
}

#[tokio::test]
async fn an_unreachable_database_exits_3_naming_the_fix() {
    let data = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(common::hotline_bin())
        .args(["agents", "list"])
        .args([
            "--database-url",
            &format!("postgres://hotline@127.0.0.1:{port}/hotline"),
        ])
        .args([
            "--data-dir",
            data.path().to_str().unwrap(),
            "--config",
            "config/hotline.toml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", all(&out));
    assert!(text(&out.stderr).contains("HL-AGENT-DB"), "{}", all(&out));
}
