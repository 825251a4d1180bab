//! One retry delay for everything the operator retries: watches, failed
//! writes, the leader Lease. Pure (no clock; the caller sleeps).

use std::time::Duration;

/// Delays from a first one, doubling up to a most.
#[derive(Clone, Debug)]
pub struct Doubling {
    first: Duration,
    most: Duration,
    next: Duration,
}

impl Doubling {
    /// Delays `first`, `2 × first`, ... up to `most`.
    pub fn new(first: Duration, most: Duration) -> Self {
        Self {
            first,
            most,
            next: first,
        }
    }

    /// Back to the first delay (after a success).
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

impl Iterator for Doubling {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.next;
        self.next = (delay * 2).min(self.most);
        Some(delay)
    }
}

// So that kube's watchers can use it.
impl kube::runtime::utils::Backoff for Doubling {
    fn reset(&mut self) {
        Doubling::reset(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_most_and_start_again_after_a_reset() {
        let s = Duration::from_secs;
        let mut b = Doubling::new(s(1), s(30));
        let delays: Vec<_> = b.by_ref().take(7).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30].map(s).to_vec());
        b.reset();
        assert_eq!(b.next(), Some(s(1)));
    }
}
