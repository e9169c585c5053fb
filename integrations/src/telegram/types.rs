//! The Bot API objects Steward reads and sends. Only the fields it uses; unknown fields
//! are ignored, so new Bot API versions never break a parse.
use serde::{Deserialize, Serialize};

/// One incoming update (`getUpdates` or a webhook request body).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Update {
    /// Increases by one per update; polling confirms updates by asking for the next id.
    pub update_id: i64,
    /// A new message.
    #[serde(default)]
    pub message: Option<Message>,
    /// A message that was edited.
    #[serde(default)]
    pub edited_message: Option<Message>,
    /// An inline keyboard button was pressed.
    #[serde(default)]
    pub callback_query: Option<CallbackQuery>,
}

/// A message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    /// Its id within the chat.
    pub message_id: i64,
    /// The chat it is in.
    pub chat: Chat,
    /// Its author; absent for messages sent on behalf of a channel.
    #[serde(default)]
    pub from: Option<User>,
    /// Its text, for text messages.
    #[serde(default)]
    pub text: Option<String>,
    /// When it was sent, Unix seconds (0 for a message too old for the bot to see).
    pub date: i64,
}

/// A chat: private, group, supergroup or channel.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Chat {
    /// Its id (negative for groups).
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A Telegram user or bot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    /// Their id.
    pub id: i64,
    /// Their @username, if they have one.
    #[serde(default)]
    pub username: Option<String>,
    /// Their first name.
    #[serde(default)]
    pub first_name: String,
}

/// A press of an inline keyboard button.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CallbackQuery {
    /// Answer it with `answerCallbackQuery`, or the client keeps showing a spinner.
    pub id: String,
    /// Who pressed it.
    pub from: User,
    /// The message the button was on.
    #[serde(default)]
    pub message: Option<Message>,
    /// The button's `callback_data`. Any client can send any value here: check it.
    #[serde(default)]
    pub data: Option<String>,
}

/// Buttons under a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineKeyboardMarkup {
    /// Rows of buttons.
    pub inline_keyboard: Vec<Vec<InlineKeyboardButton>>,
}

/// A button that sends its `callback_data` back to the bot when pressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineKeyboardButton {
    /// Its label.
    pub text: String,
    /// What a press sends back: 1 to 64 bytes.
    pub callback_data: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_update_parses_with_unknown_fields_ignored() {
        let update: Update = serde_json::from_str(
            r#"{"update_id":7,"callback_query":{"id":"cb1","chat_instance":"x",
                "from":{"id":5,"is_bot":false,"first_name":"Alice","username":"alice","language_code":"en"},
                "message":{"message_id":9,"date":1,"chat":{"id":-100,"type":"supergroup","title":"ops"},"text":"card"},
                "data":"a:42:0123456789abcdef"}}"#,
        )
        .unwrap();
        let query = update.callback_query.unwrap();
        assert_eq!(query.from.username.as_deref(), Some("alice"));
        assert_eq!(query.message.unwrap().chat.kind, "supergroup");
        assert_eq!(query.data.as_deref(), Some("a:42:0123456789abcdef"));
        assert!(update.message.is_none());
    }
}
