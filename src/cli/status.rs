//! `hotline status`: ask the running daemon over its admin API
//! (`GET /api/status`, `GET /api/agents`) and print calls, the journal
//! backlog, the flow in force and the agents by state.
//!
//! Exit codes: 0 the daemon answered; 1 it did not (not running, or the
//! admin API listens elsewhere: `--admin-listen`, `admin.listen`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use hotline::config::Config;

const LIMIT: Duration = Duration::from_secs(5);

/// Where to reach the admin API `listen` binds: a wildcard means loopback.
pub fn admin_addr(listen: &str) -> Option<SocketAddr> {
    let mut addr: SocketAddr = listen.parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Some(addr)
}

/// One `GET` over HTTP/1.1 (`Connection: close`): (status, body).
async fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let bad = || std::io::Error::other("not an HTTP response");
        let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(bad)?;
        Ok((status, body.to_string()))
    };
    tokio::time::timeout(LIMIT, exchange)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("no answer within 5 s")))
}

async fn get_json(addr: SocketAddr, path: &str) -> Result<Value, String> {
    let (status, body) = get(addr, path).await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{path} answered {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{path}: {e}"))
}

pub async fn run(config: &Config, as_json: bool) -> anyhow::Result<ExitCode> {
    let Some(addr) = admin_addr(&config.admin.listen) else {
        eprintln!(
            "hotline: HL-STATUS-ADDR: admin.listen `{}` is not ADDRESS:PORT",
            config.admin.listen
        );
        return Ok(ExitCode::FAILURE);
    };
    let status = match get_json(addr, "/api/status").await {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "hotline: HL-STATUS-DOWN: no daemon answers on http://{addr}/ ({e}); is it running (`systemctl status hotline`)? \
                 its admin API address is admin.listen, or pass --admin-listen / --config"
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    // Older daemons, or a roster that fails, still give a status.
    let agents = get_json(addr, "/api/agents").await.ok();
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "admin": format!("http://{addr}/"),
                "status": status,
                "agents": agents,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(addr, &status, agents.as_ref()));
    Ok(ExitCode::SUCCESS)
}

/// The human-readable report.
fn render(addr: SocketAddr, s: &Value, agents: Option<&Value>) -> String {
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    let running = s["version"].as_str().filter(|v| !v.is_empty());
    let mut out = format!("hotline daemon at http://{addr}/\n");
    match running {
        Some(v) if v != hotline::shipped::version() => out.push_str(&format!(
            "  version:  {v} (this command is {}: restart the daemon to run the installed one)\n",
            hotline::shipped::version()
        )),
        Some(v) => out.push_str(&format!("  version:  {v}\n")),
        None => {}
    }
    if let Some(since) = s["started_at"].as_str() {
        out.push_str(&format!("  up since: {since}\n"));
    }
    out.push_str(&format!(
        "  calls:    {} in progress, {} since start, {} refused (full)\n",
        n("calls_active"),
        n("calls_started"),
        n("rejected_busy")
    ));
    out.push_str(&format!(
        "  journal:  {} ticket write(s) waiting for the database\n",
        n("journal_pending")
    ));
    out.push_str(&format!(
        "  flow:     {}\n",
        s["flow_version"].as_str().unwrap_or("?")
    ));
    if let Some(list) = agents.and_then(Value::as_array) {
        let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
        for a in list {
            *by_state
                .entry(a["state"].as_str().unwrap_or("?"))
                .or_default() += 1;
        }
        let states: Vec<String> = by_state.iter().map(|(k, v)| format!("{v} {k}")).collect();
        out.push_str(&format!(
            "  agents:   {}{}\n",
            list.len(),
            if states.is_empty() {
                String::new()
            } else {
                format!(" ({})", states.join(", "))
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_admin_address_is_reached_on_loopback() {
        assert_eq!(
            admin_addr("0.0.0.0:8080").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(admin_addr("[::]:81").unwrap(), "[::1]:81".parse().unwrap());
        assert_eq!(
            admin_addr("10.0.0.5:8080").unwrap(),
            "10.0.0.5:8080".parse().unwrap()
        );
        assert!(admin_addr("localhost:8080").is_none());
    }

    #[test]
    fn the_report_names_calls_journal_flow_and_agents() {
        let s = json!({
            "calls_active": 2, "calls_started": 40, "rejected_busy": 1,
            "journal_pending": 3, "flow_version": "default-2+abcd",
            "started_at": "2026-12-01T12:00:00Z", "version": hotline::shipped::version(),
        });
        let agents = json!([{"state": "available"}, {"state": "on_call"}, {"state": "available"}]);
        let text = render("127.0.0.1:8080".parse().unwrap(), &s, Some(&agents));
        assert!(
            text.contains("2 in progress, 40 since start, 1 refused"),
            "{text}"
        );
        assert!(text.contains("3 ticket write(s) waiting"), "{text}");
        assert!(text.contains("flow:     default-2+abcd"), "{text}");
        assert!(
            text.contains("agents:   3 (2 available, 1 on_call)"),
            "{text}"
        );
        assert!(!text.contains("restart"), "{text}");
    }
}
