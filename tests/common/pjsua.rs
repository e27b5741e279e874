//! PJSIP's pjsua2 (the `pjsua2-python` wheel) as a third-party agent
//! softphone: `tests/pjsua/agent.py` registers, may dial, records what it
//! hears, and reports JSON lines that the test reads when it exits.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// What one run of the script asked for.
pub struct PjsuaRun<'a> {
    pub registrar: SocketAddr,
    pub user: &'a str,
    pub password: &'a str,
    pub expires: u32,
    pub dial: Option<&'a str>,
    pub record: Option<&'a Path>,
    pub unregister: bool,
    pub stay_secs: f64,
    /// Answer mode: wait this long for a call, answer it, say `play`,
    /// record what is heard into `record`, hang up after `talk_secs`
    /// (0: wait for the other side's BYE).
    pub answer_within: f64,
    pub play: Option<&'a Path>,
    pub talk_secs: f64,
    /// Busy mode: wait this long for a call and refuse it with 486.
    pub refuse_within: f64,
    /// In answer mode, ring (180) this long before answering.
    pub answer_after: f64,
    /// In answer mode, press these keys 2 s into the call.
    pub dtmf: Option<&'a str>,
    /// In answer mode, blind-transfer (REFER) the call to this URI 2 s in.
    pub transfer: Option<&'a str>,
    /// In answer mode, take this many calls one after the other.
    pub calls: u32,
}

impl<'a> PjsuaRun<'a> {
    /// Register only (no call), with the common defaults.
    pub fn register(registrar: SocketAddr, user: &'a str, password: &'a str) -> Self {
        PjsuaRun {
            registrar,
            user,
            password,
            expires: 60,
            dial: None,
            record: None,
            unregister: false,
            stay_secs: 0.0,
            answer_within: 0.0,
            play: None,
            talk_secs: 0.0,
            refuse_within: 0.0,
            answer_after: 0.0,
            dtmf: None,
            transfer: None,
            calls: 1,
        }
    }
}

/// Run the script to its end (bounded: it stops by itself; killed after
/// `limit`) and return its events.
pub async fn run(args: &PjsuaRun<'_>, limit: Duration) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pjsua/agent.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .args(["--registrar", &args.registrar.to_string()])
        .args(["--user", args.user, "--password", args.password])
        .args(["--expires", &args.expires.to_string()])
        .args(["--stay", &args.stay_secs.to_string()]);
    if let Some(d) = args.dial {
        cmd.args(["--dial", d]);
    }
    if let Some(r) = args.record {
        cmd.args(["--record", r.to_str().unwrap()]);
    }
    if args.unregister {
        cmd.arg("--unregister");
    }
    if args.answer_within > 0.0 {
        cmd.args(["--answer", "--wait-call", &args.answer_within.to_string()])
            .args(["--talk", &args.talk_secs.to_string()]);
    }
    if args.calls > 1 {
        cmd.args(["--calls", &args.calls.to_string()]);
    }
    if let Some(keys) = args.dtmf {
        cmd.args(["--dtmf", keys]);
    }
    if let Some(to) = args.transfer {
        cmd.args(["--transfer", to]);
    }
    if args.answer_after > 0.0 {
        cmd.args(["--answer-after", &args.answer_after.to_string()]);
    }
    if args.refuse_within > 0.0 {
        cmd.args(["--wait-call", &args.refuse_within.to_string()]);
    }
    if let Some(p) = args.play {
        cmd.args(["--play", p.to_str().unwrap()]);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 with pjsua2 (pip install pjsua2-python)");
    let out = tokio::time::timeout(
        limit,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("pjsua2 script ran past its limit")
    .unwrap()
    .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The registration answers the script saw, in order.
pub fn reg_codes(events: &[Value]) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e["event"] == "reg")
        .filter_map(|e| e["code"].as_i64())
        .collect()
}

/// The transfer statuses the script saw (the REFER's answer, then each
/// NOTIFY's), as (code, final).
pub fn transfer_statuses(events: &[Value]) -> Vec<(i64, bool)> {
    events
        .iter()
        .filter(|e| e["event"] == "xfer_status")
        .filter_map(|e| Some((e["code"].as_i64()?, e["final"].as_bool()?)))
        .collect()
}

/// The call states the script saw, in order.
pub fn call_states(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "call")
        .filter_map(|e| e["state"].as_str().map(str::to_string))
        .collect()
}
