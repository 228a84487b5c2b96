//! The platforms' rate limits, as sliding windows: Feishu/Lark custom bots
//! take 5 messages a second and 100 a minute, a DingTalk robot 20 a minute
//! (and is blocked for 10 minutes beyond that), a Slack incoming webhook
//! about one a second. A pure function of the send times, so every case is
//! tested without a clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Rate;

/// The recent sends of one destination, checked against its rates.
#[derive(Debug, Clone)]
pub struct Limiter {
    rates: &'static [Rate],
    sent: VecDeque<Instant>,
}

impl Limiter {
    pub fn new(rates: &'static [Rate]) -> Limiter {
        Limiter {
            rates,
            sent: VecDeque::new(),
        }
    }

    /// How long to wait at `now` before the next message may go: zero if
    /// it may go now. Every rate's window must have room for one more.
    pub fn wait(&self, now: Instant) -> Duration {
        let mut wait = Duration::ZERO;
        for r in self.rates {
            // the sends inside this window, newest last
            let inside: Vec<&Instant> = self
                .sent
                .iter()
                .filter(|t| now.saturating_duration_since(**t) < r.per)
                .collect();
            if inside.len() >= r.count {
                // the oldest that must leave the window first
                let oldest = inside[inside.len() - r.count];
                wait = wait.max((*oldest + r.per).saturating_duration_since(now));
            }
        }
        wait
    }

    /// Records a send at `now`, forgetting what no window needs any more.
    pub fn record(&mut self, now: Instant) {
        self.sent.push_back(now);
        let longest = self.rates.iter().map(|r| r.per).max().unwrap_or_default();
        let keep = self.rates.iter().map(|r| r.count).max().unwrap_or(0);
        while self.sent.len() > keep
            || self
                .sent
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= longest)
        {
            self.sent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEISHU: &[Rate] = &[
        Rate {
            count: 5,
            per: Duration::from_secs(1),
        },
        Rate {
            count: 100,
            per: Duration::from_secs(60),
        },
    ];
    const DINGTALK: &[Rate] = &[Rate {
        count: 20,
        per: Duration::from_secs(60),
    }];

    /// Sends as fast as the limiter allows; returns the send times in ms.
    fn schedule(rates: &'static [Rate], n: usize) -> Vec<u128> {
        let start = Instant::now();
        let mut now = start;
        let mut l = Limiter::new(rates);
        let mut out = Vec::new();
        for _ in 0..n {
            now += l.wait(now);
            l.record(now);
            out.push((now - start).as_millis());
        }
        out
    }

    #[test]
    fn feishu_five_a_second_and_a_hundred_a_minute() {
        let t = schedule(FEISHU, 120);
        assert_eq!(&t[..6], [0, 0, 0, 0, 0, 1000]);
        // never more than 5 in any second, nor 100 in any minute
        for (i, &a) in t.iter().enumerate() {
            assert!(t[i..].iter().take_while(|&&b| b < a + 1000).count() <= 5);
            assert!(t[i..].iter().take_while(|&&b| b < a + 60_000).count() <= 100);
        }
        // the 101st waits for the first minute to pass
        assert_eq!(t[100], 60_000);
    }

    #[test]
    fn dingtalk_twenty_a_minute() {
        let t = schedule(DINGTALK, 41);
        assert!(t[..20].iter().all(|&x| x == 0));
        assert_eq!((t[20], t[40]), (60_000, 120_000));
    }

    #[test]
    fn a_quiet_destination_sends_at_once() {
        let mut l = Limiter::new(DINGTALK);
        let t = Instant::now();
        l.record(t);
        assert_eq!(l.wait(t + Duration::from_secs(1)), Duration::ZERO);
    }
}
