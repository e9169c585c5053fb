//! The Telegram bot: updates by webhook (the secret token checked before anything else) or
//! by long polling, messages and `/steward` commands in the allowed chats and in private
//! chats, and proposals with inline Approve / Reject keyboards.
use steward_integrations::telegram::{self, BotApi, BotApiError, Update};
use steward_integrations::{Decision, RetryPolicy};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::outbox::{Action, Failure, Outgoing};
use super::{Inbound, IntegrationError, Integrations, Place, Seen, TelegramConfig, TelegramMode};
use crate::auth::Provider;

/// A configured Telegram bot.
pub(super) struct Telegram {
    api: BotApi,
    secret_token: Option<String>,
    mode: TelegramMode,
    /// The group chats served; the first gets proposals and incidents.
    pub(super) chats: Vec<i64>,
    seen: Seen,
}

impl Telegram {
    /// The bot `c` configures, `None` when it configures none.
    pub(super) fn new(c: &TelegramConfig) -> Result<Option<Self>, String> {
        let Some(token) = &c.bot_token else {
            if c.secret_token.is_some() || c.chat_id.is_some() {
                return Err("telegram: bot_token (STEWARD_TELEGRAM_BOT_TOKEN) is needed; \
                            set it or unset the other telegram settings"
                    .into());
            }
            return Ok(None);
        };
        if c.mode == TelegramMode::Webhook && c.secret_token.as_deref().is_none_or(str::is_empty) {
            return Err(
                "telegram: the webhook needs secret_token (STEWARD_TELEGRAM_SECRET_TOKEN), which Telegram \
                        sends with every update; or set mode = \"poll\" (STEWARD_TELEGRAM_MODE=poll)"
                    .into(),
            );
        }
        let chats = c.chats()?;
        let api =
            BotApi::new(&c.api_url, token.clone(), RetryPolicy::default()).map_err(|e| format!("telegram: {e}"))?;
        Ok(Some(Telegram {
            api,
            secret_token: c.secret_token.clone(),
            mode: c.mode,
            chats,
            seen: Seen::new(),
        }))
    }

    /// How it is reached and where it posts, for the startup line.
    pub(super) fn describe(&self) -> String {
        let how = match self.mode {
            TelegramMode::Webhook => "webhook at /integrations/telegram/webhook",
            TelegramMode::Poll => "long polling",
        };
        match self.chats.first() {
            Some(c) => format!("Telegram ({how}, proposals to chat {c})"),
            None => format!("Telegram ({how})"),
        }
    }
}

impl Integrations {
    /// `POST /integrations/telegram/webhook`: checks the secret token first, then takes the
    /// update; its work runs after the answer.
    pub fn telegram_webhook(&self, secret: Option<&str>, body: &[u8]) -> Result<(), IntegrationError> {
        let t = self.telegram()?;
        let expected = t.secret_token.as_deref().unwrap_or_default();
        if t.mode != TelegramMode::Webhook || expected.is_empty() || !telegram::verify_secret(secret, expected) {
            return Err(IntegrationError::Unauthorized(
                "not a request from Telegram: wrong or missing X-Telegram-Bot-Api-Secret-Token".into(),
            ));
        }
        let update: Update = serde_json::from_slice(body)
            .map_err(|e| IntegrationError::Invalid(format!("not a Telegram update: {e}")))?;
        self.on_telegram_update(update);
        Ok(())
    }

    fn on_telegram_update(&self, update: Update) {
        let Some(t) = self.inner.telegram.as_ref() else {
            return;
        };
        // Telegram delivers an update again until it is acknowledged.
        if !t.seen.first(&update.update_id.to_string()) {
            return;
        }
        if let Some(q) = update.callback_query {
            let this = self.clone();
            tokio::spawn(async move { this.telegram_callback(q).await });
            return;
        }
        let Some(message) = update.message else {
            return;
        };
        let (Some(from), Some(text)) = (message.from, message.text) else {
            return;
        };
        let private = message.chat.kind == "private";
        if !private && !t.chats.contains(&message.chat.id) {
            tracing::debug!(chat = message.chat.id, "a message from a chat the bot does not serve");
            return;
        }
        // In a group, only what is addressed to the bot is a request.
        if !private && !text.trim_start().starts_with("/steward") {
            return;
        }
        self.spawn_turn(Inbound {
            provider: Provider::Telegram,
            sender: from.id.to_string(),
            text,
            place: Place::Telegram {
                chat_id: message.chat.id,
                reply_to: Some(message.message_id),
            },
        });
    }

    /// A press of a card's button: the decision, then Telegram's spinner answered with what
    /// happened (or why nothing did).
    async fn telegram_callback(&self, q: telegram::CallbackQuery) {
        let Ok(t) = self.telegram() else { return };
        let said = match q.data.as_deref().and_then(telegram::parse_callback_data) {
            Some(pressed) => {
                let approve = pressed.decision == Decision::Approve;
                let (job_id, hash) = (pressed.job_id, &pressed.plan_hash_prefix);
                match self
                    .decide(Provider::Telegram, &q.from.id.to_string(), job_id, hash, approve)
                    .await
                {
                    Ok(done) => done,
                    Err(refused) => refused,
                }
            }
            None => "That button is not Steward's.".to_owned(),
        };
        if let Err(e) = t.api.answer_callback_query(&q.id, Some(&said), true).await {
            tracing::warn!(error = %e, "cannot answer a Telegram button press");
        }
    }
}

/// Starts long polling when the bot is configured for it.
pub(super) fn start_polling(ix: &Integrations, stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    let t = ix.inner.telegram.as_ref().filter(|t| t.mode == TelegramMode::Poll)?;
    let (api, ix) = (t.api.clone(), ix.clone());
    let connect = move |tx, shutdown| async move {
        if let Err(e) = telegram::poller::run(api, tx, shutdown).await {
            tracing::error!(error = %e, "Telegram polling stopped; Telegram messages are not received");
        }
    };
    Some(super::bridge(stop, connect, move |update| {
        ix.on_telegram_update(update)
    }))
}

/// What an API error means for the outbox.
fn failure(e: BotApiError) -> Failure {
    let asked = match &e {
        BotApiError::RateLimited { retry_after, .. } => Some(*retry_after),
        _ => None,
    };
    Failure::of(&e, e.is_retryable(), asked)
}

/// Delivers one outbox row to Telegram; a post returns its message's id.
pub(super) async fn deliver(ix: &Integrations, out: &Outgoing<'_>) -> Result<Option<String>, Failure> {
    let t = ix
        .inner
        .telegram
        .as_ref()
        .ok_or_else(|| Failure::Permanent("Telegram is no longer configured".into()))?;
    let chat_id: i64 = out
        .target
        .parse()
        .map_err(|_| Failure::Permanent(format!("{:?} is not a Telegram chat id", out.target)))?;
    let reply_to = out.body["reply_to"].as_i64();
    match out.action {
        Action::Text => {
            let text = out.body["text"].as_str().unwrap_or_default();
            t.api
                .send_message(chat_id, text, None, reply_to)
                .await
                .map_err(failure)?;
            Ok(None)
        }
        Action::Post | Action::Update => {
            let card = out.card(ix).await?;
            let (text, keyboard) = (telegram::proposal_text(&card), telegram::proposal_keyboard(&card));
            if out.action == Action::Update {
                let message_id: i64 = out.message_ref.and_then(|r| r.parse().ok()).unwrap_or_default();
                t.api
                    .edit_message_text(chat_id, message_id, &text, keyboard.as_ref())
                    .await
                    .map_err(failure)?;
                return Ok(None);
            }
            let sent = t
                .api
                .send_message(chat_id, &text, keyboard.as_ref(), reply_to)
                .await
                .map_err(failure)?;
            Ok(Some(sent.message_id.to_string()))
        }
    }
}
