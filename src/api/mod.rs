//! The wire format of the API's actions, as pure functions so that every odd
//! answer is a unit test: the request body we send ([`request`]), the
//! successful answers we take apart ([`answer`]), and the errors an answer
//! can mean ([`error`]). [`crate::client`] does the HTTP around them.

mod answer;
mod error;
mod request;

pub use answer::{Answer, AnsweredSeries, HttpAnswer, SkipReason, parse_answer};
pub use error::{FetchError, hint_for};
pub use request::QueryRequest;

/// What the unit tests of the wire format share.
#[cfg(test)]
mod testing {
    use super::HttpAnswer;

    // 2026-11-23T12:00:00Z
    pub const T0: i64 = 1_795_435_200;
    pub const WIDE: (i64, i64) = (T0 - 3600, T0 + 3600);

    pub fn ok(body: &str) -> HttpAnswer<'_> {
        HttpAnswer {
            status: 200,
            retry_after: None,
            body: body.as_bytes(),
        }
    }
}
