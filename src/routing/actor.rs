//! The task that owns the [`Router`], and [`RoutingHandle`], the cheap
//! clone that the call tasks, the registrar and the admin API hold.
//!
//! One task, one owner: inputs arrive over a bounded channel, the core's
//! timers become one `sleep_until` at [`Router::poll_timeout`], and
//! outputs leave over a bounded channel to whoever wires them to calls and
//! the store. The task reads the clock (`tokio::time::Instant`, so tests
//! with paused time drive it) and nothing else: no socket, no database.
//!
//! Full queues. Commands: [`RoutingHandle::send`] waits for room and
//! [`RoutingHandle::try_send`] refuses with [`RoutingError::Busy`] (a
//! caller then hears the queue is busy rather than wait on a stuck task).
//! Outputs are never dropped, since each carries a state change the shell
//! must persist: when the output channel is full the task waits for its
//! consumer, and commands pile up in their own bounded channel meanwhile.

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::agent::AgentView;
use super::core::Router;
use super::io::{Input, Output};
use super::queue::QueueEntryId;
use super::settings::Settings;

/// Commands waiting for the routing task at most.
pub const COMMAND_QUEUE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("HL-ROUTE-CLOSED: the routing task has stopped")]
    Closed,
    #[error("HL-ROUTE-BUSY: the routing queue is full ({COMMAND_QUEUE} commands waiting)")]
    Busy,
}

/// What the routing task holds, as of one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub queue: Vec<QueueEntryId>,
    pub agents: Vec<AgentView>,
    pub handle_time: std::time::Duration,
}

#[derive(Debug)]
enum Command {
    Input(Input),
    Reconfigure(Box<Settings>),
    Snapshot(oneshot::Sender<Snapshot>),
}

/// Cheap to clone; every clone talks to the same routing task.
#[derive(Debug, Clone)]
pub struct RoutingHandle {
    tx: mpsc::Sender<Command>,
}

impl RoutingHandle {
    /// Deliver an input, waiting for room in the queue.
    pub async fn send(&self, input: Input) -> Result<(), RoutingError> {
        self.tx
            .send(Command::Input(input))
            .await
            .map_err(|_| RoutingError::Closed)
    }

    /// Deliver an input now or refuse: for callers that must not wait.
    pub fn try_send(&self, input: Input) -> Result<(), RoutingError> {
        self.tx
            .try_send(Command::Input(input))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => RoutingError::Busy,
                mpsc::error::TrySendError::Closed(_) => RoutingError::Closed,
            })
    }

    /// New rules after a configuration reload (see [`Router::reconfigure`]).
    pub async fn reconfigure(&self, settings: Settings) -> Result<(), RoutingError> {
        self.tx
            .send(Command::Reconfigure(Box::new(settings)))
            .await
            .map_err(|_| RoutingError::Closed)
    }

    /// The queue order and the agents as the router sees them.
    pub async fn snapshot(&self) -> Result<Snapshot, RoutingError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::Snapshot(tx))
            .await
            .map_err(|_| RoutingError::Closed)?;
        rx.await.map_err(|_| RoutingError::Closed)
    }
}

/// Start the routing task. Outputs go to `outputs` in order; the task ends
/// when `stop` is cancelled, when every handle is dropped, or when the
/// output receiver is dropped, and returns the router for inspection.
pub fn spawn(
    settings: Settings,
    outputs: mpsc::Sender<Output>,
    stop: CancellationToken,
) -> (RoutingHandle, JoinHandle<Router>) {
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let task = tokio::spawn(run(Router::new(settings), rx, outputs, stop));
    (RoutingHandle { tx }, task)
}

async fn run(
    mut router: Router,
    mut rx: mpsc::Receiver<Command>,
    outputs: mpsc::Sender<Output>,
    stop: CancellationToken,
) -> Router {
    loop {
        let wake = router.poll_timeout().map(Instant::from_std);
        let timer = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            cmd = rx.recv() => match cmd {
                None => break,
                Some(Command::Input(input)) => router.handle(Instant::now().into_std(), input),
                Some(Command::Reconfigure(s)) => router.reconfigure(Instant::now().into_std(), *s),
                Some(Command::Snapshot(reply)) => {
                    let _ = reply.send(Snapshot {
                        queue: router.queue_order(),
                        agents: router.agents().collect(),
                        handle_time: router.handle_time(),
                    });
                }
            },
            _ = timer => router.handle_timeout(Instant::now().into_std()),
        }
        while let Some(out) = router.poll_output() {
            if outputs.send(out).await.is_err() {
                return router;
            }
        }
    }
    router
}
