//! The bots' settings (`[slack]`, `[telegram]` in steward.toml), handed to them alone.
use serde::{Deserialize, Serialize};

/// Slack: an app's signing secret and bot token, and where proposals are posted.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// Verifies every request Slack sends (the app's Basic Information page).
    pub signing_secret: Option<String>,
    /// `xoxb-…`: posts and updates messages.
    pub bot_token: Option<String>,
    /// `xapp-…`: Socket Mode, so Slack never has to reach this server.
    pub app_token: Option<String>,
    /// Channel id (`C…`) new proposals and incidents are posted to.
    pub channel: Option<String>,
    /// The Web API's base URL.
    pub api_url: String,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            signing_secret: None,
            bot_token: None,
            app_token: None,
            channel: None,
            api_url: "https://slack.com/api/".into(),
        }
    }
}

impl SlackConfig {
    /// Whether the bot is on: it needs a token to speak, and either the signing secret (HTTP)
    /// or an app token (Socket Mode) to hear.
    pub fn enabled(&self) -> bool {
        self.bot_token.is_some() && (self.signing_secret.is_some() || self.app_token.is_some())
    }
}

/// How the Telegram bot receives updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    /// Telegram POSTs to `/integrations/telegram/webhook`.
    #[default]
    Webhook,
    /// The server long-polls `getUpdates` (it cannot be reached from the internet).
    Poll,
}

/// Telegram: a bot token, the webhook's secret, and the chats the bot serves.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// From @BotFather.
    pub bot_token: Option<String>,
    /// Telegram sends it in `X-Telegram-Bot-Api-Secret-Token` (set with `setWebhook`).
    pub secret_token: Option<String>,
    /// Group chats the bot serves, comma-separated; the first gets proposals and incidents.
    /// Private chats with the bot are always served (the account must be linked).
    pub chat_id: Option<String>,
    /// The Bot API's base URL.
    pub api_url: String,
    /// `webhook` or `poll`.
    pub mode: TelegramMode,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            bot_token: None,
            secret_token: None,
            chat_id: None,
            api_url: "https://api.telegram.org".into(),
            mode: TelegramMode::Webhook,
        }
    }
}

impl TelegramConfig {
    /// The chats listed in `chat_id`; an entry that is not a number is an error.
    pub fn chats(&self) -> Result<Vec<i64>, String> {
        let Some(list) = &self.chat_id else {
            return Ok(vec![]);
        };
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<i64>()
                    .map_err(|_| format!("telegram.chat_id: {s:?} is not a chat id (a number such as -1001234567890)"))
            })
            .collect()
    }
}

fn secret(s: &Option<String>) -> Option<&'static str> {
    s.as_ref().map(|_| "<redacted>")
}

// By hand, so tokens and secrets never reach a log through `{:?}`.
impl std::fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackConfig")
            .field("signing_secret", &secret(&self.signing_secret))
            .field("bot_token", &secret(&self.bot_token))
            .field("app_token", &secret(&self.app_token))
            .field("channel", &self.channel)
            .field("api_url", &self.api_url)
            .finish()
    }
}

impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("bot_token", &secret(&self.bot_token))
            .field("secret_token", &secret(&self.secret_token))
            .field("chat_id", &self.chat_id)
            .field("api_url", &self.api_url)
            .field("mode", &self.mode)
            .finish()
    }
}
