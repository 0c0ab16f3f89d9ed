//! Refusing a delivery seen before. Providers redeliver with the same id, and an attacker
//! who captured a signed delivery can resend it unchanged: both must not release twice.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// The last `capacity` delivery ids, per provider. Bounded so that a flood of deliveries
/// cannot grow memory without end; the server also records ids in its store, which
/// outlives a restart.
pub struct SeenDeliveries {
    capacity: usize,
    inner: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl SeenDeliveries {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    /// Records `key`; false when it was already there (a replay).
    pub fn first_time(&self, key: &str) -> bool {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (set, order) = &mut *guard;
        if !set.insert(key.to_string()) {
            return false;
        }
        order.push_back(key.to_string());
        if order.len() > self.capacity
            && let Some(oldest) = order.pop_front()
        {
            set.remove(&oldest);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_id_is_refused_and_old_ones_age_out() {
        let seen = SeenDeliveries::new(2);
        assert!(seen.first_time("a"));
        assert!(!seen.first_time("a"));
        assert!(seen.first_time("b"));
        assert!(seen.first_time("c"));
        // `a` aged out of the window of two.
        assert!(seen.first_time("a"));
        assert!(!seen.first_time("c"));
    }
}
