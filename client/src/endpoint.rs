//! What every generated operation is: a request (method, path, query, body) and the type of
//! its answer.
use serde::de::DeserializeOwned;

/// One request of the REST API: its method, path, query and JSON body.
pub trait Endpoint {
    /// The HTTP method.
    const METHOD: reqwest::Method;

    /// The path, parameters filled in and escaped.
    fn path(&self) -> String;

    /// The query as name/value pairs (escaped when sent).
    fn query(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// The JSON body, if the request has one.
    fn body(&self) -> Result<Option<Vec<u8>>, serde_json::Error> {
        Ok(None)
    }
}

/// An endpoint with a typed answer; [`crate::Client::call`] sends it.
pub trait Operation: Endpoint {
    /// The 2xx answer.
    type Output: DeserializeOwned;
    /// How the answer is carried.
    const ANSWER: Answer;
}

/// How an operation's successful answer is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A JSON document.
    Json,
    /// Plain text.
    Text,
    /// Nothing (204).
    Empty,
}

/// A query parameter's value as it is sent.
pub(crate) trait QueryValue {
    fn query_value(&self) -> String;
}

macro_rules! display_query_value {
    ($($t:ty),*) => {$(
        impl QueryValue for $t {
            fn query_value(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
display_query_value!(String, i64, u64, i32, u32, bool, f64);

impl QueryValue for chrono::DateTime<chrono::Utc> {
    fn query_value(&self) -> String {
        self.to_rfc3339()
    }
}

/// A path parameter escaped for the URL. `/` stays as it is: the one parameter that may hold
/// it (a stack document's path) spans segments, and in an id or name it matches nothing anyway.
pub(crate) fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_escape_what_a_url_path_cannot_hold() {
        assert_eq!(segment("web-1.example"), "web-1.example");
        assert_eq!(segment("a b?c#d%"), "a%20b%3Fc%23d%25");
        assert_eq!(segment("bigdata/1.0/kafka.md"), "bigdata/1.0/kafka.md");
        assert_eq!(segment("é"), "%C3%A9");
    }
}
