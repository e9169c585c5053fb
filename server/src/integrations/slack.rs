//! The Slack bot: the Events API, the `/steward` slash command and the card buttons, over
//! HTTP (every request verified with the signing secret first) or Socket Mode (Steward dials
//! out, so Slack never has to reach the server).
use serde_json::{json, Value};
use steward_integrations::slack::{
    self, EventEnvelope, Interaction, PostMessage, ReplayGuard, SlashCommand, SocketEvent, WebApi, WebApiError,
};
use steward_integrations::{Decision, RetryPolicy};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::outbox::{Action, Failure, Outgoing};
use super::{Inbound, IntegrationError, Integrations, Place, Seen, SlackConfig};
use crate::auth::Provider;

/// Signed requests remembered against replays (Slack sends a few per second at most).
const REPLAY_CAPACITY: usize = 100_000;

/// A configured Slack app.
pub(super) struct Slack {
    api: WebApi,
    signing_secret: Option<String>,
    app_token: Option<String>,
    /// Where proposals and incidents are announced.
    pub(super) channel: Option<String>,
    replay: ReplayGuard,
    seen: Seen,
}

impl Slack {
    /// The app `c` configures, `None` when it configures none.
    pub(super) fn new(c: &SlackConfig) -> Result<Option<Self>, String> {
        let Some(token) = &c.bot_token else {
            if c.signing_secret.is_some() || c.app_token.is_some() || c.channel.is_some() {
                return Err("slack: bot_token (STEWARD_SLACK_BOT_TOKEN) is needed to answer; \
                            set it or unset the other slack settings"
                    .into());
            }
            return Ok(None);
        };
        if !c.enabled() {
            return Err(
                "slack: set signing_secret (STEWARD_SLACK_SIGNING_SECRET) to receive Slack's requests, \
                        or app_token (STEWARD_SLACK_APP_TOKEN) for Socket Mode"
                    .into(),
            );
        }
        let api = WebApi::new(&c.api_url, token.clone(), RetryPolicy::default()).map_err(|e| format!("slack: {e}"))?;
        Ok(Some(Slack {
            api,
            signing_secret: c.signing_secret.clone(),
            app_token: c.app_token.clone(),
            channel: c.channel.clone(),
            replay: ReplayGuard::new(REPLAY_CAPACITY),
            seen: Seen::new(),
        }))
    }

    /// How it is reached and where it posts, for the startup line.
    pub(super) fn describe(&self) -> String {
        let how = match (&self.signing_secret, &self.app_token) {
            (_, Some(_)) => "Socket Mode",
            _ => "HTTP at /integrations/slack/*",
        };
        match &self.channel {
            Some(c) => format!("Slack ({how}, proposals to {c})"),
            None => format!("Slack ({how})"),
        }
    }
}

/// A request's Slack signature headers, as received (absent ones empty).
pub struct Signed<'a> {
    /// `X-Slack-Request-Timestamp`.
    pub timestamp: &'a str,
    /// `X-Slack-Signature`.
    pub signature: &'a str,
}

impl Integrations {
    /// Checks that `body` is an unreplayed request signed by Slack; nothing else is looked at
    /// before this passes.
    fn slack_verified(&self, signed: &Signed<'_>, body: &[u8]) -> Result<&Slack, IntegrationError> {
        let s = self.slack()?;
        let secret = s.signing_secret.as_deref().ok_or(IntegrationError::NotConfigured(
            "Slack over HTTP (no signing secret: this app uses Socket Mode)",
        ))?;
        let now = chrono::Utc::now().timestamp();
        let refused = |e: slack::VerifyError| IntegrationError::Unauthorized(format!("not a request from Slack: {e}"));
        slack::verify(secret, signed.timestamp, signed.signature, body, now).map_err(refused)?;
        let ts = signed.timestamp.parse().unwrap_or_default();
        s.replay.check(ts, signed.signature, now).map_err(refused)?;
        Ok(s)
    }

    /// `POST /integrations/slack/events`: the answer to send at once.
    pub fn slack_events(&self, signed: &Signed<'_>, body: &[u8]) -> Result<Value, IntegrationError> {
        self.slack_verified(signed, body)?;
        let envelope = EventEnvelope::parse(body).map_err(|e| IntegrationError::Invalid(e.to_string()))?;
        Ok(self.on_slack_event(envelope))
    }

    /// `POST /integrations/slack/commands`: the acknowledgement to send at once.
    pub fn slack_command(&self, signed: &Signed<'_>, body: &[u8]) -> Result<Value, IntegrationError> {
        self.slack_verified(signed, body)?;
        let command = SlashCommand::parse_form(body).map_err(|e| IntegrationError::Invalid(e.to_string()))?;
        Ok(self.on_slack_command(command))
    }

    /// `POST /integrations/slack/interactions`: the acknowledgement to send at once.
    pub fn slack_interaction(&self, signed: &Signed<'_>, body: &[u8]) -> Result<Value, IntegrationError> {
        self.slack_verified(signed, body)?;
        let interaction = slack::parse_interaction(body).map_err(|e| IntegrationError::Invalid(e.to_string()))?;
        self.on_slack_interaction(interaction);
        Ok(json!({}))
    }

    fn on_slack_event(&self, envelope: EventEnvelope) -> Value {
        let (event_id, event) = match envelope {
            EventEnvelope::UrlVerification { challenge } => return json!({ "challenge": challenge }),
            EventEnvelope::EventCallback { event_id, event, .. } => (event_id, event),
            EventEnvelope::Other => return json!({}),
        };
        let Some(slack) = self.inner.slack.as_ref() else {
            return json!({});
        };
        // Slack redelivers an event it thinks was missed: one turn per event.
        if !slack.seen.first(&event_id) {
            return json!({});
        }
        let (message, mentioned) = match *event {
            slack::Event::AppMention(m) => (m, true),
            slack::Event::Message(m) => (m, false),
            slack::Event::Other => return json!({}),
        };
        // A channel message reaches the bot only when it is mentioned (as `app_mention`); a
        // direct message is always for it. Bots, edits and joins are not requests.
        if !message.from_a_person() || !(mentioned || message.is_direct()) {
            return json!({});
        }
        let Some(sender) = message.user.clone() else {
            return json!({});
        };
        let thread_ts = message.thread_ts.clone().unwrap_or_else(|| message.ts.clone());
        self.spawn_turn(Inbound {
            provider: Provider::Slack,
            sender,
            text: message.text,
            place: Place::SlackThread {
                channel: message.channel,
                thread_ts,
            },
        });
        json!({})
    }

    fn on_slack_command(&self, c: SlashCommand) -> Value {
        self.spawn_turn(Inbound {
            provider: Provider::Slack,
            sender: c.user_id,
            text: c.text.clone(),
            place: Place::SlackCommand {
                channel: c.channel_id,
                response_url: Some(c.response_url).filter(|u| !u.is_empty()),
            },
        });
        json!({"response_type": "ephemeral", "text": format!("Working on “{}”…", slack::escape(c.text.trim()))})
    }

    fn on_slack_interaction(&self, interaction: Interaction) {
        let Interaction::BlockActions(actions) = interaction else {
            return;
        };
        let channel = actions.channel.as_ref().map(|c| c.id.clone()).unwrap_or_default();
        let response_url = actions.response_url.clone();
        for action in &actions.actions {
            let Some(decision) = slack::decision(&action.action_id) else {
                continue;
            };
            let Some((job_id, hash)) = action.value.as_deref().and_then(slack::parse_action_value) else {
                continue;
            };
            let this = self.clone();
            let (user, channel, response_url) = (actions.user.id.clone(), channel.clone(), response_url.clone());
            tokio::spawn(async move {
                let approve = decision == Decision::Approve;
                let said = match this.decide(Provider::Slack, &user, job_id, &hash, approve).await {
                    Ok(done) => done,
                    Err(refused) => refused,
                };
                // The card itself is edited by the notifier as the job moves; the presser
                // learns what happened (or why nothing did) privately.
                let place = Place::SlackCommand { channel, response_url };
                this.queue_text(&place, &said, Some(&user)).await;
            });
        }
    }
}

/// Starts Socket Mode when an app token is configured.
pub(super) fn start_socket_mode(ix: &Integrations, stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    let s = ix.inner.slack.as_ref()?;
    let (api, token, ix) = (s.api.clone(), s.app_token.clone()?, ix.clone());
    let connect = move |tx, shutdown| async move {
        if let Err(e) = slack::socket_mode::run(api, token, tx, shutdown).await {
            tracing::error!(error = %e, "Slack Socket Mode stopped; Slack events are not received");
        }
    };
    Some(super::bridge(stop, connect, move |event| match event {
        SocketEvent::Event(e) => {
            ix.on_slack_event(e);
        }
        SocketEvent::Command(c) => {
            ix.on_slack_command(c);
        }
        SocketEvent::Interaction(i) => ix.on_slack_interaction(i),
    }))
}

/// What an API error means for the outbox.
fn failure(e: WebApiError) -> Failure {
    let asked = match &e {
        WebApiError::RateLimited { retry_after, .. } => Some(*retry_after),
        _ => None,
    };
    Failure::of(&e, e.is_retryable(), asked)
}

/// Delivers one outbox row to Slack; a post returns its message's `ts`.
pub(super) async fn deliver(ix: &Integrations, out: &Outgoing<'_>) -> Result<Option<String>, Failure> {
    let s = ix
        .inner
        .slack
        .as_ref()
        .ok_or_else(|| Failure::Permanent("Slack is no longer configured".into()))?;
    let thread_ts = out.body["thread_ts"].as_str().map(str::to_owned);
    match out.action {
        Action::Text => {
            let text = out.body["text"].as_str().unwrap_or_default();
            let private = out.body["private"] == true;
            if let Some(url) = out.body["response_url"].as_str() {
                s.api.respond(url, text, false, private).await.map_err(failure)?;
                return Ok(None);
            }
            match out.body["user"].as_str().filter(|_| private) {
                Some(user) => s
                    .api
                    .post_ephemeral(out.target, user, text, thread_ts.as_deref())
                    .await
                    .map_err(failure)?,
                None => {
                    let message = PostMessage {
                        channel: out.target.to_owned(),
                        text: text.to_owned(),
                        blocks: None,
                        thread_ts,
                    };
                    s.api.post_message(&message).await.map_err(failure)?;
                }
            }
            Ok(None)
        }
        Action::Post | Action::Update => {
            let card = out.card(ix).await?;
            let (text, blocks) = (slack::fallback_text(&card), slack::proposal_blocks(&card));
            if out.action == Action::Update {
                let ts = out.message_ref.unwrap_or_default();
                s.api
                    .update(out.target, ts, &text, Some(&blocks))
                    .await
                    .map_err(failure)?;
                return Ok(None);
            }
            let message = PostMessage {
                channel: out.target.to_owned(),
                text,
                blocks: Some(blocks),
                thread_ts,
            };
            let posted = s.api.post_message(&message).await.map_err(failure)?;
            Ok(Some(posted.ts))
        }
    }
}
