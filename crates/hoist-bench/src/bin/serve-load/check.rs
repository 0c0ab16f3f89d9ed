//! What a load run must show, read back from the server's state database: every delivery
//! answered; every 202 a job of its own in the store, for the ref and commit it pushed;
//! every replay refused once; and no release run twice at once: the jobs that ran for one
//! ref and commit never overlapped, and every duplicate names a job that was queued or
//! running when it came.

use std::collections::{BTreeMap, BTreeSet};

use hoist_core::jobs::{Job, JobRequest, JobState};

use crate::deliveries::Delivery;
use crate::send::Answer;

#[derive(Debug, Default, serde::Serialize)]
pub struct Findings {
    pub answered: usize,
    pub unanswered: usize,
    pub by_status: BTreeMap<u16, usize>,
    /// 202 with a job of its own that ran (or will run) the release.
    pub queued: usize,
    /// 202 recorded as a duplicate of a release already queued or running.
    pub coalesced: usize,
    /// 409: a delivery id seen before.
    pub replays_refused: usize,
    /// Release jobs that ran, per ref and commit (the most for any one of them).
    pub releases_run: usize,
    pub max_runs_of_one_release: usize,
    pub job_states: BTreeMap<String, usize>,
    /// Every broken promise; empty when the run held.
    pub problems: Vec<String>,
}

fn ts(text: &str) -> Option<jiff::Timestamp> {
    text.parse().ok()
}

pub fn check(deliveries: &[Delivery], answers: &[Answer], jobs: &[Job]) -> Findings {
    let mut f = Findings::default();
    let by_id: BTreeMap<i64, &Job> = jobs.iter().map(|j| (j.id, j)).collect();
    let mut seen_jobs = BTreeSet::new();
    for (i, (d, a)) in deliveries.iter().zip(answers).enumerate() {
        let Some(status) = a.status else {
            f.unanswered += 1;
            f.problems.push(format!(
                "delivery {i} got no answer: {}",
                a.error.as_deref().unwrap_or("?")
            ));
            continue;
        };
        f.answered += 1;
        *f.by_status.entry(status).or_default() += 1;
        match status {
            202 => {
                let Some(id) = a.job else {
                    f.problems.push(format!("delivery {i}: 202 without a job"));
                    continue;
                };
                if !seen_jobs.insert(id) {
                    f.problems
                        .push(format!("delivery {i}: job {id} was already another's"));
                }
                let Some(job) = by_id.get(&id) else {
                    f.problems
                        .push(format!("delivery {i}: job {id} is not in the store (lost)"));
                    continue;
                };
                match &job.request {
                    JobRequest::Release {
                        git_ref, commit, ..
                    } if *git_ref == d.git_ref && *commit == d.commit => {}
                    other => f.problems.push(format!(
                        "delivery {i}: job {id} is {other:?}, not {} at {}",
                        d.git_ref, d.commit
                    )),
                }
                match a.duplicate_of {
                    None => f.queued += 1,
                    Some(into) => {
                        f.coalesced += 1;
                        if job.state != JobState::Cancelled {
                            f.problems.push(format!(
                                "delivery {i}: duplicate job {id} is {}",
                                job.state.as_str()
                            ));
                        }
                        check_into(&mut f, i, job, by_id.get(&into).copied());
                    }
                }
            }
            409 => f.replays_refused += 1,
            other => f.problems.push(format!("delivery {i}: status {other}")),
        }
    }
    // A replay and its original: exactly one of the two was taken.
    for (i, d) in deliveries.iter().enumerate() {
        let Some(o) = d.replay_of else { continue };
        let statuses = (answers[o].status, answers[i].status);
        if !matches!(statuses, (Some(202), Some(409)) | (Some(409), Some(202))) {
            f.problems.push(format!(
                "delivery {o} and its replay {i} were answered {statuses:?}, not one 202 and one 409"
            ));
        }
    }
    // The jobs that ran one release never overlapped.
    let mut runs: BTreeMap<(String, String), Vec<&Job>> = BTreeMap::new();
    for j in jobs {
        *f.job_states
            .entry(j.state.as_str().to_string())
            .or_default() += 1;
        if let JobRequest::Release {
            git_ref, commit, ..
        } = &j.request
            && !is_duplicate(j)
        {
            runs.entry((git_ref.clone(), commit.clone()))
                .or_default()
                .push(j);
        }
    }
    f.releases_run = runs.values().map(Vec::len).sum();
    f.max_runs_of_one_release = runs.values().map(Vec::len).max().unwrap_or(0);
    for ((git_ref, _), list) in &runs {
        for pair in list.windows(2) {
            let ended = pair[0].finished_at.as_deref().and_then(ts);
            let created = ts(&pair[1].created_at);
            if !matches!((ended, created), (Some(e), Some(c)) if c >= e) {
                f.problems.push(format!(
                    "{git_ref}: job {} was queued while job {} of the same release was not over",
                    pair[1].id, pair[0].id
                ));
            }
        }
    }
    f
}

fn is_duplicate(j: &Job) -> bool {
    j.state == JobState::Cancelled && j.message.starts_with("a duplicate of job")
}

/// A duplicate must name a job of the same release that was queued or running when the
/// duplicate came.
fn check_into(f: &mut Findings, i: usize, dup: &Job, into: Option<&Job>) {
    let Some(into) = into else {
        f.problems
            .push(format!("delivery {i}: duplicate of a job not in the store"));
        return;
    };
    if !dup.request.same_release(&into.request) {
        f.problems.push(format!(
            "delivery {i}: job {} is a duplicate of job {}, another release",
            dup.id, into.id
        ));
    }
    let came = ts(&dup.created_at);
    let live = ts(&into.created_at).zip(came).is_some_and(|(c, d)| c <= d)
        && into
            .finished_at
            .as_deref()
            .and_then(ts)
            .zip(came)
            .is_none_or(|(e, d)| e >= d);
    if !live {
        f.problems.push(format!(
            "delivery {i}: job {} was not queued or running when its duplicate {} came",
            into.id, dup.id
        ));
    }
}
