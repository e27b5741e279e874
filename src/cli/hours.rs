//! `hotline hours`: which tiers are staffed now, by the configuration's
//! `[hours]` (no daemon needed: the schedule is the file's).

use std::process::ExitCode;

use chrono::Utc;

use hotline::config::Config;
use hotline::hours::ServiceHours;

pub fn run(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    // The configuration was validated on load, so this does not fail.
    let hours = ServiceHours::from_config(&config.hours).unwrap_or_default();
    let now = Utc::now();
    let board = hours.board(now);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "time_zone": hours.zone().name(),
                "sla_clock": hours.sla_clock().as_str(),
                "at": now,
                "tiers": board,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "service hours in {} (SLA clock: {})",
        hours.zone().name(),
        hours.sla_clock().as_str()
    );
    for t in board {
        let local = |at: chrono::DateTime<Utc>| {
            at.with_timezone(&hours.zone())
                .format("%a %Y-%m-%d %H:%M")
                .to_string()
        };
        let line = match (t.schedule, t.staffed, t.changes_at) {
            (false, _, _) => "staffed (around the clock)".to_string(),
            (true, true, Some(at)) => format!("staffed until {}", local(at)),
            (true, false, Some(at)) => format!("closed, opens {}", local(at)),
            (true, true, None) => "staffed".to_string(),
            (true, false, None) => "closed (no staffed hours ahead)".to_string(),
        };
        println!("  {}  {line}", t.tier);
    }
    Ok(ExitCode::SUCCESS)
}
