//! Latency percentiles (nearest rank) and rates.

use std::time::Duration;

#[derive(Debug, serde::Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

/// The nearest-rank percentiles of `values`; zeros for none.
pub fn percentiles(values: &[Duration]) -> Percentiles {
    let mut v = values.to_vec();
    v.sort();
    let rank = |p: f64| -> Duration {
        if v.is_empty() {
            return Duration::ZERO;
        }
        let i = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[i.clamp(1, v.len()) - 1]
    };
    Percentiles {
        p50_ms: ms(rank(50.0)),
        p90_ms: ms(rank(90.0)),
        p99_ms: ms(rank(99.0)),
        max_ms: ms(v.last().copied().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = percentiles(&v);
        assert_eq!(
            (p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms),
            (50.0, 90.0, 99.0, 100.0)
        );
        let one = percentiles(&[Duration::from_millis(7)]);
        assert_eq!((one.p50_ms, one.max_ms), (7.0, 7.0));
    }
}
