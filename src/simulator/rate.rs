//! The API's rate limit: requests of one action beyond `rate_limit` within
//! any one second are refused (and counted), as the gateway does.

use std::time::{Duration, Instant};

use super::SimState;
use crate::Source;

impl SimState {
    /// Counts an arrival; `false` if it goes over the rate limit.
    pub(super) fn admit(&self, source: Source) -> bool {
        let mut inner = self.lock();
        let now = Instant::now();
        let q = inner.arrivals.entry(source).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            q.pop_front();
        }
        q.push_back(now);
        let in_window = q.len() as u64;
        let over = q.len() > self.config.rate_limit;
        let max = inner
            .stats
            .max_in_one_second
            .entry(source.action().to_string())
            .or_default();
        *max = (*max).max(in_window);
        if over {
            inner.stats.rate_limited += 1;
        }
        !over
    }
}
