//! The Telegram Bot API client against a fake speaking the Bot API's wire format.
mod common;

use std::time::{Duration, Instant};

use common::{closed_port, fast_retries, Reply, Scripted};
use serde_json::json;
use steward_integrations::telegram::{BotApi, BotApiError, InlineKeyboardButton, InlineKeyboardMarkup};

const TOKEN: &str = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

fn api(fake: &Scripted) -> BotApi {
    BotApi::new(&fake.base, TOKEN, fast_retries()).unwrap()
}

fn sent_message() -> Reply {
    Reply::json(
        200,
        json!({"ok": true, "result": {"message_id": 77, "date": 1700000000, "text": "hi",
            "chat": {"id": -1001, "type": "supergroup", "title": "ops"},
            "from": {"id": 1, "is_bot": true, "first_name": "Steward", "username": "steward_bot"}}}),
    )
}

fn keyboard() -> InlineKeyboardMarkup {
    InlineKeyboardMarkup {
        inline_keyboard: vec![vec![InlineKeyboardButton {
            text: "Approve".into(),
            callback_data: "a:1:ab".into(),
        }]],
    }
}

#[tokio::test]
async fn send_message_posts_to_the_bot_url_and_returns_the_message() {
    let fake = Scripted::start(vec![sent_message()]).await;
    let message = api(&fake)
        .send_message(-1001, "hi", Some(&keyboard()), Some(5))
        .await
        .unwrap();
    assert_eq!(message.message_id, 77);
    assert_eq!(message.chat.id, -1001);
    assert_eq!(message.from.unwrap().username.as_deref(), Some("steward_bot"));
    let request = &fake.requests()[0];
    assert_eq!(request.path, format!("/bot{TOKEN}/sendMessage"));
    assert_eq!(
        request.json(),
        json!({"chat_id": -1001, "text": "hi",
            "reply_markup": {"inline_keyboard": [[{"text": "Approve", "callback_data": "a:1:ab"}]]},
            "reply_parameters": {"message_id": 5, "allow_sending_without_reply": true}})
    );
}

#[tokio::test]
async fn edit_and_answer_send_the_bot_apis_fields() {
    let fake = Scripted::start(vec![
        sent_message(),
        Reply::json(200, json!({"ok": true, "result": true})),
    ])
    .await;
    let api = api(&fake);
    api.edit_message_text(-1001, 77, "decided", None).await.unwrap();
    api.answer_callback_query("cb-1", Some("Approved"), false)
        .await
        .unwrap();
    let requests = fake.requests();
    assert_eq!(requests[0].path, format!("/bot{TOKEN}/editMessageText"));
    assert_eq!(
        requests[0].json(),
        json!({"chat_id": -1001, "message_id": 77, "text": "decided"})
    );
    assert_eq!(requests[1].path, format!("/bot{TOKEN}/answerCallbackQuery"));
    assert_eq!(
        requests[1].json(),
        json!({"callback_query_id": "cb-1", "text": "Approved", "show_alert": false})
    );
}

#[tokio::test]
async fn editing_a_message_to_the_same_content_is_not_an_error() {
    let not_modified = Reply::json(
        400,
        json!({"ok": false, "error_code": 400,
        "description": "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"}),
    );
    let fake = Scripted::start(vec![not_modified]).await;
    assert_eq!(api(&fake).edit_message_text(-1001, 77, "same", None).await, Ok(()));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn other_refusals_carry_telegrams_description_and_are_not_retried() {
    let fake = Scripted::start(vec![Reply::json(
        400,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
    )])
    .await;
    let error = api(&fake).send_message(42, "hi", None, None).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "Telegram sendMessage failed: 400 Bad Request: chat not found"
    );
    assert!(!error.is_retryable());
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn retry_after_is_honoured_then_the_call_succeeds() {
    let limited = Reply::json(
        429,
        json!({"ok": false, "error_code": 429,
        "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}),
    );
    let fake = Scripted::start(vec![limited, sent_message()]).await;
    let started = Instant::now();
    api(&fake).send_message(-1001, "hi", None, None).await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at - requests[0].at;
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn server_errors_are_retried() {
    let bad_gateway = Reply::json(
        502,
        json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
    );
    let fake = Scripted::start(vec![bad_gateway, sent_message()]).await;
    api(&fake).send_message(-1001, "hi", None, None).await.unwrap();
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn get_updates_long_polls_from_the_offset() {
    let fake = Scripted::start(vec![Reply::json(
        200,
        json!({"ok": true, "result": [{"update_id": 5, "message": {"message_id": 1, "date": 1,
            "chat": {"id": 9, "type": "private"}, "from": {"id": 9, "first_name": "Al"}, "text": "/status"}}]}),
    )])
    .await;
    let updates = api(&fake).get_updates(Some(5), 25).await.unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].message.as_ref().unwrap().text.as_deref(), Some("/status"));
    assert_eq!(
        fake.requests()[0].json(),
        json!({"offset": 5, "timeout": 25, "allowed_updates": ["message", "edited_message", "callback_query"]})
    );
}

#[tokio::test]
async fn the_token_never_appears_in_an_error() {
    let secret = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
    let unreachable = BotApi::new(&closed_port().await, TOKEN, fast_retries()).unwrap();
    let refused = Scripted::start(vec![Reply::json(
        401,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
    )])
    .await;
    let garbled = Scripted::start(vec![Reply {
        status: 200,
        headers: vec![],
        body: "<html>captive portal</html>".into(),
    }])
    .await;
    let errors = [
        unreachable.send_message(1, "hi", None, None).await.unwrap_err(),
        api(&refused).delete_webhook().await.unwrap_err(),
        api(&garbled).get_updates(None, 0).await.unwrap_err(),
    ];
    assert!(matches!(errors[0], BotApiError::Transport { .. }), "{:?}", errors[0]);
    assert!(errors[1].is_unauthorized());
    assert!(matches!(errors[2], BotApiError::Decode { .. }), "{:?}", errors[2]);
    for error in &errors {
        let shown = format!("{error} / {error:?}");
        assert!(!shown.contains(secret), "token leaked: {shown}");
        assert!(!shown.contains("/bot123456"), "URL leaked: {shown}");
    }
}
