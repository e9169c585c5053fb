//! Telegram: the webhook secret, the Bot API's types and client, proposal cards with an
//! inline keyboard, and the long-polling loop.
mod bot_api;
mod card;
pub mod poller;
mod secret;
mod types;

pub use bot_api::{BotApi, BotApiError, DEFAULT_BASE_URL};
pub use card::{parse_callback_data, proposal_keyboard, proposal_text, CallbackData, PLAN_HASH_PREFIX_BYTES};
pub use secret::{verify_secret, SECRET_HEADER};
pub use types::{CallbackQuery, Chat, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User};
