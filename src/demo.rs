//! `hotline demo`: the whole intake in one command. Starts the daemon on
//! loopback (embedded database unless one is configured), calls it with
//! the built-in caller, which waits for each prompt to end and presses
//! keys like a person would, then prints the ticket the call made.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use hotline::callgen::{Caller, CallerId};
use hotline::config::Config;
use hotline::tickets::{db, repo, report};
use tokio_util::sync::CancellationToken;

/// Silence that means "the hotline finished speaking and waits for keys".
const QUIET: Duration = Duration::from_millis(700);
/// The longest prompt sequence (a whole menu read out) we wait for.
const PROMPT: Duration = Duration::from_secs(60);

pub async fn run(mut config: Config) -> anyhow::Result<ExitCode> {
    config.sip.listen = vec!["127.0.0.1:0".into()];
    config.admin.listen = "127.0.0.1:0".into();
    // No agents in a demo: the intake alone, ending with the goodbye.
    config.routing.enabled = false;
    config.answer.after_rings = 1;
    config.answer.ring_period = hotline::config::ConfigDuration(Duration::from_secs(1));
    let stop = CancellationToken::new();
    let (ready_tx, ready) = tokio::sync::oneshot::channel::<(SocketAddr, SocketAddr, String)>();
    let daemon_config = config.clone();
    let daemon_stop = stop.clone();
    let daemon = tokio::spawn(async move {
        let reload = {
            let c = daemon_config.clone();
            move || Ok(c.clone())
        };
        hotline::daemon::run(
            daemon_config,
            None,
            daemon_stop,
            reload,
            move |l, db, _dir| {
                let _ = ready_tx.send((l.udp[0], l.admin, db.to_string()));
            },
        )
        .await
    });
    let (sip, admin, target) = match ready.await {
        Ok(r) => r,
        Err(_) => {
            // The daemon stopped before it was ready: its error says why.
            daemon.await.context("daemon task")??;
            anyhow::bail!("the daemon stopped before it was ready");
        }
    };
    println!("demo: hotline is up: SIP {sip}, admin http://{admin}/, tickets in {target}");
    let result = call(&config, sip).await;
    stop.cancel();
    daemon.await.context("daemon task")??;
    result
}

async fn step(caller: &mut Caller, what: &str, keys: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        caller.wait_for_prompt_end(QUIET, PROMPT).await,
        "the hotline stopped talking to us before the {what}"
    );
    println!("demo: {what}: pressing {keys}");
    caller.press(keys).await?;
    Ok(())
}

async fn call(config: &Config, sip: SocketAddr) -> anyhow::Result<ExitCode> {
    let who = CallerId {
        user: "5550123".into(),
        display: Some("Demo Caller".into()),
        anonymous: false,
    };
    println!("demo: calling sip:hotline@{sip} as \"Demo Caller\" <sip:5550123@127.0.0.1>");
    let mut caller = Caller::dial(sip, &who, Duration::from_secs(10)).await?;
    println!(
        "demo: answered after {:.1} s (one ring)",
        caller.answered_after.as_secs_f64()
    );
    step(&mut caller, "language menu (1 English, 2 中文)", "1").await?;
    step(
        &mut caller,
        "greeting and category menu (2 = software)",
        "2",
    )
    .await?;
    step(&mut caller, "severity menu (1 = critical)", "1").await?;
    step(&mut caller, "customer number", "4711#").await?;
    anyhow::ensure!(
        caller.wait_for_prompt_end(QUIET, PROMPT).await,
        "no voice note prompt"
    );
    println!("demo: voice note: talking for 2 s, then #");
    caller.talk(Duration::from_secs(2)).await?;
    caller.press("#").await?;
    println!("demo: listening to the ticket number and the callback promise ...");
    if caller.wait_hangup(Duration::from_secs(90)).await {
        println!("demo: the hotline said goodbye and hung up");
    } else {
        println!("demo: hanging up");
    }
    let call_id = caller.call_id().to_string();
    caller.hang_up().await?;

    let dir = hotline::config::resolve_data_dir(&config.daemon.data_dir);
    let database = db::open(&config.database.url, &dir, 2, Duration::from_secs(5))?;
    let ticket = repo::by_call_id(&database.pool, &call_id).await?;
    let code = match ticket {
        Some(t) => {
            let events = repo::events(&database.pool, t.number).await?;
            println!("\ndemo: the call made this ticket:\n");
            print!("{}", report::detail(&t, &events, Utc::now()));
            ExitCode::SUCCESS
        }
        None => {
            println!("demo: no ticket was made for the call (see the log above)");
            ExitCode::FAILURE
        }
    };
    database.pool.close().await;
    Ok(code)
}
