//! What Slack sends us: Events API envelopes, slash commands and interaction payloads, the
//! same whether they arrive over HTTP or over Socket Mode. Unknown fields are ignored and
//! unknown kinds parse as `Other`, so a new Slack feature never breaks a parse.
use serde::Deserialize;

/// Why a Slack request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The form body is not `application/x-www-form-urlencoded` with the expected fields.
    #[error("malformed Slack form body: {0}")]
    Form(String),
    /// An interaction body without its `payload` field.
    #[error("Slack interaction body has no payload field")]
    MissingPayload,
    /// The JSON is not what Slack documents.
    #[error("malformed Slack JSON: {0}")]
    Json(String),
}

/// An Events API request body, or a Socket Mode `events_api` payload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventEnvelope {
    /// Slack checking the endpoint when it is configured: answer with the challenge.
    UrlVerification {
        /// The value to echo back.
        challenge: String,
    },
    /// An event the app subscribed to.
    EventCallback {
        /// Unique per event; Slack may deliver an event twice, with the same id.
        event_id: String,
        /// The workspace the event happened in.
        team_id: String,
        /// The event itself (boxed: it is most of the envelope's size).
        event: Box<Event>,
    },
    /// Any other envelope type (`app_rate_limited`, …).
    #[serde(other)]
    Other,
}

impl EventEnvelope {
    /// Parses an Events API request body.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))
    }
}

/// An event inside an [`EventEnvelope::EventCallback`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The app was @-mentioned in a channel.
    AppMention(MessageEvent),
    /// A message in a channel or direct message the app is in.
    Message(MessageEvent),
    /// Any other event type.
    #[serde(other)]
    Other,
}

/// A message, as carried by `app_mention` and `message` events.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MessageEvent {
    /// The author; absent on some bot and system messages.
    #[serde(default)]
    pub user: Option<String>,
    /// The text, in Slack's mrkdwn (mentions as `<@U123>`).
    #[serde(default)]
    pub text: String,
    /// The channel (or direct-message conversation) it was posted in.
    pub channel: String,
    /// The message's timestamp, which is also its id within the channel.
    pub ts: String,
    /// The thread's parent timestamp, when posted in a thread.
    #[serde(default)]
    pub thread_ts: Option<String>,
    /// `im` for a direct message, `channel`, `group` or `mpim` otherwise.
    #[serde(default)]
    pub channel_type: Option<String>,
    /// Set when a bot (possibly this app) posted it.
    #[serde(default)]
    pub bot_id: Option<String>,
    /// Set for edits, deletions, joins and other non-plain messages.
    #[serde(default)]
    pub subtype: Option<String>,
}

impl MessageEvent {
    /// Whether a person wrote this as a new message: not a bot (answering a bot, ourselves
    /// included, would loop) and not an edit, deletion or join.
    pub fn from_a_person(&self) -> bool {
        self.user.is_some() && self.bot_id.is_none() && self.subtype.is_none()
    }

    /// Whether it was sent in a direct message with the app.
    pub fn is_direct(&self) -> bool {
        self.channel_type.as_deref() == Some("im")
    }
}

/// A slash command (`/steward …`): a form body over HTTP, a JSON payload over Socket Mode.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SlashCommand {
    /// The command typed, with its slash (`/steward`).
    pub command: String,
    /// Everything typed after the command.
    #[serde(default)]
    pub text: String,
    /// Who typed it.
    pub user_id: String,
    /// Their username (deprecated by Slack but still sent).
    #[serde(default)]
    pub user_name: String,
    /// Where it was typed.
    pub channel_id: String,
    /// Where to post up to five answers in the next 30 minutes, without a token.
    pub response_url: String,
    /// Lets the app open a modal within 3 seconds.
    #[serde(default)]
    pub trigger_id: String,
    /// The workspace.
    #[serde(default)]
    pub team_id: String,
}

impl SlashCommand {
    /// Parses a slash command's `application/x-www-form-urlencoded` request body.
    pub fn parse_form(body: &[u8]) -> Result<Self, ParseError> {
        serde_urlencoded::from_bytes(body).map_err(|e| ParseError::Form(e.to_string()))
    }
}

/// Parses an interaction request body: a form whose `payload` field holds the JSON.
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, ParseError> {
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| ParseError::Form(e.to_string()))?;
    let payload = fields
        .into_iter()
        .find_map(|(name, value)| (name == "payload").then_some(value))
        .ok_or(ParseError::MissingPayload)?;
    serde_json::from_str(&payload).map_err(|e| ParseError::Json(e.to_string()))
}

/// A person interacting with something the app posted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Interaction {
    /// A button (or other block element) was used.
    BlockActions(Box<BlockActions>),
    /// Any other interaction (modals, shortcuts, …).
    #[serde(other)]
    Other,
}

/// A `block_actions` payload: who pressed what, on which message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BlockActions {
    /// Who pressed it.
    pub user: ActionUser,
    /// What was pressed (one element for a button).
    pub actions: Vec<Action>,
    /// The channel of the message, when the element was in a message.
    #[serde(default)]
    pub channel: Option<IdOnly>,
    /// The message the element was in.
    #[serde(default)]
    pub message: Option<MessageTs>,
    /// Where the element was (message, view, …), as Slack describes it.
    #[serde(default)]
    pub container: Option<serde_json::Value>,
    /// Where to answer, or replace the message, without a token.
    #[serde(default)]
    pub response_url: Option<String>,
}

/// The person in an interaction.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ActionUser {
    /// Their user id.
    pub id: String,
    /// Their username, when Slack sends it.
    #[serde(default)]
    pub username: Option<String>,
}

/// One element used in a `block_actions` interaction.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Action {
    /// The element's `action_id` as the app set it.
    pub action_id: String,
    /// The button's `value` as the app set it.
    #[serde(default)]
    pub value: Option<String>,
    /// The block it was in.
    #[serde(default)]
    pub block_id: Option<String>,
}

/// An object of which only the id matters here (a channel).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IdOnly {
    /// Its id.
    pub id: String,
}

/// A message of which only the timestamp matters here: it names the message to update.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MessageTs {
    /// The message's timestamp.
    pub ts: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_mention_parses_with_its_thread_and_unknown_fields_ignored() {
        let body = br#"{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback",
            "event_id":"Ev1","event_time":1,"authorizations":[{"x":1}],
            "event":{"type":"app_mention","user":"U1","text":"<@U0> restart nginx","ts":"1.2",
                     "channel":"C1","thread_ts":"1.0","event_ts":"1.2","blocks":[]}}"#;
        let EventEnvelope::EventCallback {
            event_id,
            team_id,
            event,
        } = EventEnvelope::parse(body).unwrap()
        else {
            panic!("not an event callback");
        };
        assert_eq!((event_id.as_str(), team_id.as_str()), ("Ev1", "T1"));
        let Event::AppMention(m) = *event else {
            panic!("not an app mention")
        };
        assert_eq!(m.text, "<@U0> restart nginx");
        assert_eq!(m.thread_ts.as_deref(), Some("1.0"));
        assert!(m.from_a_person());
        assert!(!m.is_direct());
    }

    #[test]
    fn bot_messages_edits_and_unknown_events_are_told_apart() {
        let bot = br#"{"type":"event_callback","event_id":"E","team_id":"T","event":
            {"type":"message","subtype":"bot_message","bot_id":"B1","text":"hi","ts":"1","channel":"D1","channel_type":"im"}}"#;
        let EventEnvelope::EventCallback { event, .. } = EventEnvelope::parse(bot).unwrap() else {
            panic!("not an event callback");
        };
        let Event::Message(m) = *event else {
            panic!("not a message")
        };
        assert!(m.is_direct());
        assert!(!m.from_a_person());
        let other =
            br#"{"type":"event_callback","event_id":"E","team_id":"T","event":{"type":"reaction_added","user":"U"}}"#;
        assert!(matches!(
            EventEnvelope::parse(other).unwrap(),
            EventEnvelope::EventCallback { event, .. } if *event == Event::Other
        ));
        let challenge = br#"{"token":"x","challenge":"abc","type":"url_verification"}"#;
        assert_eq!(
            EventEnvelope::parse(challenge).unwrap(),
            EventEnvelope::UrlVerification {
                challenge: "abc".into()
            }
        );
        assert!(EventEnvelope::parse(b"{not json").is_err());
    }

    #[test]
    fn a_slash_command_form_parses() {
        let body = b"token=x&team_id=T1&team_domain=acme&channel_id=C1&channel_name=ops&user_id=U1&user_name=alice\
            &command=%2Fsteward&text=restart+nginx+%26+check&api_app_id=A1\
            &response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1%2F2%2F3&trigger_id=t.1";
        let cmd = SlashCommand::parse_form(body).unwrap();
        assert_eq!(cmd.command, "/steward");
        assert_eq!(cmd.text, "restart nginx & check");
        assert_eq!(cmd.user_name, "alice");
        assert_eq!(cmd.response_url, "https://hooks.slack.com/commands/1/2/3");
        assert!(matches!(SlashCommand::parse_form(b"text=hi"), Err(ParseError::Form(_))));
    }

    #[test]
    fn a_block_actions_payload_parses_from_its_form_field() {
        let payload = r#"{"type":"block_actions","user":{"id":"U1","username":"alice","team_id":"T"},
            "container":{"type":"message","message_ts":"1.2","channel_id":"C1"},"channel":{"id":"C1","name":"ops"},
            "message":{"ts":"1.2","text":"x"},"response_url":"https://hooks.slack.com/actions/1",
            "actions":[{"action_id":"steward_approve","block_id":"b","value":"42:abc","type":"button"}]}"#;
        let body = serde_urlencoded::to_string([("payload", payload)]).unwrap();
        let Interaction::BlockActions(a) = parse_interaction(body.as_bytes()).unwrap() else {
            panic!("not block actions");
        };
        assert_eq!(a.user.username.as_deref(), Some("alice"));
        assert_eq!(a.actions[0].value.as_deref(), Some("42:abc"));
        assert_eq!(a.channel.unwrap().id, "C1");
        assert_eq!(a.message.unwrap().ts, "1.2");
        assert_eq!(parse_interaction(b"x=1"), Err(ParseError::MissingPayload));
        let shortcut = serde_urlencoded::to_string([("payload", r#"{"type":"shortcut"}"#)]).unwrap();
        assert_eq!(parse_interaction(shortcut.as_bytes()).unwrap(), Interaction::Other);
    }
}
