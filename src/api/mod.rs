//! The wire format of the API's actions, as pure functions so that every odd
//! answer is a unit test. [`crate::client`] does the HTTP around them.
//!
//! - `request`: the request body we send;
//! - `envelope`: the frame every answer shares, which tells data from an
//!   error;
//! - `error`: what an error answer means (retry or refuse) and what to
//!   check;
//! - `answer`: the data of the real-time actions taken apart, each point
//!   stored or skipped for a counted reason. Its indicator walker and item
//!   parsers serve any action whose indicators carry a `Data` list.

mod answer;
mod envelope;
mod error;
mod request;

pub use answer::{Answer, AnsweredSeries, SkipReason, parse_answer};
pub use envelope::HttpAnswer;
pub use error::{FetchError, hint_for};
pub use request::QueryRequest;

/// What the unit tests of the wire format share.
#[cfg(test)]
mod testing {
    use super::HttpAnswer;

    // 2026-11-23T12:00:00Z
    pub const T0: i64 = 1_795_435_200;
    pub const WIDE: (i64, i64) = (T0 - 3600, T0 + 3600);

    /// An answer with `status`, without `Retry-After`.
    pub fn http(status: u16, body: &[u8]) -> HttpAnswer<'_> {
        HttpAnswer {
            status,
            retry_after: None,
            body,
        }
    }

    /// A 200 answer.
    pub fn ok(body: &str) -> HttpAnswer<'_> {
        http(200, body.as_bytes())
    }
}
