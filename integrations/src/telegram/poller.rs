//! Telegram long polling: updates without a public HTTPS endpoint.
//!
//! Telegram keeps every update until a `getUpdates` call asks for a later `offset`, which
//! confirms all earlier ones. The offset advances only past updates handed to the receiver,
//! so an update is confirmed only once delivered: a crash or shutdown mid-batch means the
//! rest come again on the next start, never that they are lost.
use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::sync::mpsc;

use super::bot_api::{BotApi, BotApiError};
use super::types::Update;

/// How long one `getUpdates` call waits for an update to arrive.
pub const POLL_TIMEOUT_SECS: u32 = 25;

/// How long the parting confirmation of delivered updates may take.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// Removes any webhook, then polls for updates and sends them to `tx` in order, until
/// `shutdown` completes or the receiver is dropped (`Ok`), or Telegram refuses the token
/// (`Err`). Other errors are retried with the backoff of `api`'s retry policy.
pub async fn run(api: BotApi, tx: mpsc::Sender<Update>, shutdown: impl Future<Output = ()>) -> Result<(), BotApiError> {
    tokio::pin!(shutdown);
    let mut failures = 0;
    loop {
        let deleted = tokio::select! {
            () = &mut shutdown => return Ok(()),
            deleted = api.delete_webhook() => deleted,
        };
        match deleted {
            Ok(()) => break,
            Err(e) if e.is_unauthorized() => return Err(e),
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, "could not remove the Telegram webhook");
                if !back_off(&api, failures, &mut shutdown).await {
                    return Ok(());
                }
            }
        }
    }

    let mut offset: Option<i64> = None;
    failures = 0;
    'polling: loop {
        let polled = tokio::select! {
            () = &mut shutdown => break 'polling,
            polled = api.get_updates(offset, POLL_TIMEOUT_SECS) => polled,
        };
        let mut updates = match polled {
            Ok(updates) => updates,
            Err(e) if e.is_unauthorized() => return Err(e),
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, "Telegram getUpdates failed");
                if !back_off(&api, failures, &mut shutdown).await {
                    break 'polling;
                }
                continue;
            }
        };
        failures = 0;
        updates.sort_by_key(|u| u.update_id);
        for update in updates {
            if offset.is_some_and(|next| update.update_id < next) {
                continue; // already delivered
            }
            let id = update.update_id;
            tokio::select! {
                () = &mut shutdown => break 'polling,
                sent = tx.send(update) => if sent.is_err() { break 'polling },
            }
            offset = Some(id.saturating_add(1));
        }
    }
    confirm(&api, offset).await;
    Ok(())
}

/// Waits out the backoff after `failures` failures in a row; false if shut down meanwhile.
async fn back_off(api: &BotApi, failures: u32, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> bool {
    let wait = api.retry_policy().backoff(failures, rand::thread_rng().gen());
    tokio::select! {
        () = shutdown => false,
        () = tokio::time::sleep(wait) => true,
    }
}

/// Tells Telegram that everything before `offset` was delivered, so a restart does not
/// deliver it again. Whatever this call returns is left unconfirmed, for the next start.
async fn confirm(api: &BotApi, offset: Option<i64>) {
    let Some(offset) = offset else { return };
    match tokio::time::timeout(CONFIRM_TIMEOUT, api.get_updates(Some(offset), 0)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not confirm delivered Telegram updates"),
        Err(_) => tracing::warn!("confirming delivered Telegram updates timed out"),
    }
}
