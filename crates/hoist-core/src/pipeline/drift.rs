//! Release drift in `hoist status`: which tenants run which release, and who is behind the
//! environment's newest (after a deploy to some tenants, or a failed or halted rollout). A
//! deploy to every instance brings them up; the others stay unchanged.

use serde::Serialize;

use super::InstanceStatus;

/// The tenants that run one release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseGroup {
    /// The release label of what runs; `None` when nothing runs or it carries none.
    pub release: Option<String>,
    pub tenants: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// The environment's newest successfully deployed release.
    pub newest: Option<String>,
    /// One group per release that runs, the newest release first, then by name.
    pub releases: Vec<ReleaseGroup>,
    /// Tenants that do not run the newest release.
    pub behind: Vec<String>,
}

impl Drift {
    /// More than one release runs, or some tenant is not on the newest.
    pub fn drifts(&self) -> bool {
        self.releases.len() > 1 || !self.behind.is_empty()
    }
}

/// The drift of `instances` from `newest`.
pub fn drift_of(newest: Option<&str>, instances: &[InstanceStatus]) -> Drift {
    let mut releases: Vec<ReleaseGroup> = Vec::new();
    for i in instances {
        match releases.iter_mut().find(|g| g.release == i.running_release) {
            Some(group) => group.tenants.push(i.tenant.clone()),
            None => releases.push(ReleaseGroup {
                release: i.running_release.clone(),
                tenants: vec![i.tenant.clone()],
            }),
        }
    }
    releases.sort_by(|a, b| {
        let newest_first = |g: &ReleaseGroup| g.release.as_deref() != newest;
        (newest_first(a), &a.release).cmp(&(newest_first(b), &b.release))
    });
    let behind = if newest.is_some() {
        instances
            .iter()
            .filter(|i| !i.matches_current)
            .map(|i| i.tenant.clone())
            .collect()
    } else {
        Vec::new()
    };
    Drift {
        newest: newest.map(str::to_string),
        releases,
        behind,
    }
}
