//! Keeps the agent connected: one session after another, with backoff in between.

use std::{convert::Infallible, time::Duration};

use tokio::time::sleep;

use crate::{backoff::Backoff, collect::Metrics, runner::TaskRunner, session};

/// A session that lasted this long proved the server healthy; backoff starts over.
const HEALTHY_SESSION: Duration = Duration::from_secs(10);

/// Runs sessions forever; only the caller's shutdown ends this.
pub(crate) async fn serve(link: session::Link, runner: TaskRunner, metrics: Metrics) -> Infallible {
    let mut backoff = Backoff::new();
    loop {
        let mut opened = None;
        let Err(error) = session::run(&link, &runner, &metrics, &mut opened).await;
        if let Some(opened) = opened {
            let lasted = opened.elapsed();
            if lasted > HEALTHY_SESSION {
                backoff.reset();
            }
            tracing::warn!(server = link.server(), lasted = ?lasted, %error, "disconnected");
        }
        let delay = backoff.next_delay();
        if error.is_refusal() {
            // Loud, because no amount of waiting fixes it: an operator must act.
            tracing::error!(server = link.server(), %error, retry_in = ?delay, "the server will not serve this agent; retrying");
        } else if opened.is_none() {
            tracing::warn!(server = link.server(), %error, retry_in = ?delay, "cannot reach the server; retrying");
        }
        sleep(delay).await;
    }
}
