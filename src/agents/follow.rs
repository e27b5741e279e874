//! Following the roster: load a view of it now and again after every
//! change (`NOTIFY hotline_agents`, from the CLI, the admin API, a phone or
//! another daemon), debounced, reconnecting when the listener is lost and
//! retrying while the database is down. The registrar follows the digest
//! hashes this way, the routing desk the agents' states and bindings.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{AgentError, AgentStore};

/// How long to wait before retrying an unreachable database.
const RETRY: Duration = Duration::from_secs(3);

/// Send `load(store)` to `out` now and after each burst of changes (the
/// notifications of `settle` are gathered into one load). The first load
/// of each connection is sent with `true`. Returns when `stop` is
/// cancelled or `out` is closed.
pub async fn follow<T, F, Fut>(
    store: AgentStore,
    settle: Duration,
    load: F,
    out: mpsc::Sender<(T, bool)>,
    stop: CancellationToken,
) where
    F: Fn(AgentStore) -> Fut,
    Fut: Future<Output = Result<T, AgentError>>,
{
    loop {
        // Listen before loading, so no change falls between the two.
        let mut listener = match store.listen().await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for roster changes; retrying");
                None
            }
        };
        match load(store.clone()).await {
            Ok(view) => {
                if out.send((view, true)).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the roster; retrying"),
        }
        let Some(l) = listener.as_mut() else {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(RETRY) => continue,
            }
        };
        loop {
            // `try_recv`, not `recv`: `recv` reconnects by itself and
            // silently skips what changed while the connection was gone
            // (a database outage); a lost connection here reloads the
            // roster on the new one instead.
            let note = tokio::select! {
                _ = stop.cancelled() => return,
                n = l.try_recv() => n,
            };
            match note {
                Ok(Some(_)) => {}
                Ok(None) => {
                    tracing::warn!("roster listener lost; reconnecting and reloading");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "roster listener lost; reconnecting");
                    break;
                }
            }
            // Changes come in bursts (a state change per call): let them
            // settle, then load once.
            tokio::time::sleep(settle).await;
            while l.next_buffered().is_some() {}
            match load(store.clone()).await {
                Ok(view) => {
                    if out.send((view, false)).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot reload the roster"),
            }
        }
    }
}
