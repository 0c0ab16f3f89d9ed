//! The environment lock in the cluster. The right place is a `coordination.k8s.io` Lease
//! in each namespace the instances live in (atomic create, a holder identity and a renew
//! time); until that lands this runtime hands out no lock place, so deploys are kept apart
//! by the state database's lock alone (what `Runtime::lock_places`' default means).

use std::sync::Arc;

use hoist_core::InstanceSpec;
use hoist_core::target_lock::TargetLock;

use crate::KubernetesRuntime;

/// No place yet: see the module's docs.
pub(crate) fn places(
    _runtime: &KubernetesRuntime,
    _instances: &[InstanceSpec],
) -> Vec<Arc<dyn TargetLock>> {
    Vec::new()
}
