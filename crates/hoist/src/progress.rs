//! Turns pipeline events into progress: live spinners on a terminal (a line per stage and
//! one per instance), plain lines otherwise (CI logs). Progress goes to stderr; results
//! go to stdout.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hoist_core::events::text::{Described, Tone};
use hoist_core::events::{CacheOutcome, describe};
use hoist_core::{Event, EventKind, EventSink, InstanceState, Stage};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Chooses live or plain rendering and returns the sink to hand to the pipeline. With
/// `json`, every event is also written to stdout as one JSON line (docs/events.md), and
/// the command's result follows as the last line.
pub fn sink(plain: bool, json: bool) -> (EventSink, Arc<Renderer>) {
    let live = !plain && std::io::stderr().is_terminal();
    let renderer = Arc::new(if live {
        Renderer::live()
    } else {
        Renderer::Plain
    });
    let r = renderer.clone();
    (
        EventSink::new(move |e| {
            if json {
                json_line(e);
            }
            r.render(e)
        }),
        renderer,
    )
}

/// One event as one line on stdout, flushed so a follower sees it at once.
fn json_line(event: &Event) {
    use std::io::Write;
    if let Ok(line) = serde_json::to_string(event) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

pub enum Renderer {
    Live(Box<Live>),
    Plain,
}

pub struct Live {
    multi: MultiProgress,
    stages: Mutex<HashMap<&'static str, ProgressBar>>,
    instances: Mutex<HashMap<String, ProgressBar>>,
}

impl Renderer {
    fn live() -> Renderer {
        Renderer::Live(Box::new(Live {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            stages: Mutex::default(),
            instances: Mutex::default(),
        }))
    }

    pub fn render(&self, event: &Event) {
        match self {
            Renderer::Plain => plain(event),
            Renderer::Live(live) => live.render(event),
        }
    }

    /// Stops spinners that are still running (on error paths).
    pub fn finish(&self) {
        if let Renderer::Live(live) = self {
            for bar in lock(&live.stages)
                .values()
                .chain(lock(&live.instances).values())
            {
                if !bar.is_finished() {
                    bar.abandon();
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn plain(event: &Event) {
    let Some(line) = describe(event) else { return };
    match line.tone {
        // A stage without a subject says nothing until it ends.
        Tone::StageStarted if line.text.is_empty() => {}
        Tone::StageStarted | Tone::StageNote => {
            eprintln!("==> {}: {}", stage_label(&line), line.text)
        }
        Tone::StageFinished => eprintln!(
            "==> {}: {} ({})",
            stage_label(&line),
            line.text,
            human(line.took.unwrap_or_default())
        ),
        Tone::Output => eprintln!("    | {}", line.text),
        Tone::Instance { .. } => eprintln!("    {}", line.text),
        Tone::Warning => eprintln!("warning: {}", line.text),
    }
}

fn stage_label(line: &Described) -> &'static str {
    line.stage.map_or("", Stage::label)
}

impl Live {
    fn stage_bar(&self, stage: Stage) -> ProgressBar {
        lock(&self.stages)
            .entry(stage.label())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner:.cyan} {prefix:<12.bold} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(stage.label());
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            })
            .clone()
    }

    fn instance_bar(&self, tenant: &str) -> ProgressBar {
        lock(&self.instances)
            .entry(tenant.to_string())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {spinner:.cyan} {prefix:<14} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(tenant.to_string());
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            })
            .clone()
    }

    fn finish_stage(&self, stage: Stage, message: String) {
        let bar = self.stage_bar(stage);
        bar.set_style(
            ProgressStyle::with_template("{prefix:<14.bold} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(format!("✔ {}", stage.label()));
        bar.finish_with_message(message);
    }

    fn render(&self, event: &Event) {
        let Some(line) = describe(event) else { return };
        let stage = line.stage.unwrap_or(Stage::Rollout);
        match line.tone {
            Tone::StageStarted | Tone::StageNote => {
                // A reused base image is the whole stage: nothing follows it.
                if matches!(
                    event.kind,
                    EventKind::BaseImage {
                        cache: CacheOutcome::Hit,
                        ..
                    }
                ) {
                    self.finish_stage(stage, line.text);
                } else {
                    self.stage_bar(stage).set_message(line.text);
                }
            }
            Tone::StageFinished => self.finish_stage(
                stage,
                format!("{} ({})", line.text, human(line.took.unwrap_or_default())),
            ),
            Tone::Output => self.stage_bar(stage).set_message(line.text),
            Tone::Instance { is_final } => {
                let tenant = event.tenant.as_deref().unwrap_or("?");
                let bar = self.instance_bar(tenant);
                // The bar's prefix names the tenant already.
                let text = line
                    .text
                    .strip_prefix(&format!("{tenant}: "))
                    .unwrap_or(&line.text)
                    .to_string();
                if is_final {
                    let mark = match &event.kind {
                        EventKind::InstanceProgress {
                            state: InstanceState::Healthy | InstanceState::Unchanged,
                            ..
                        } => "✔",
                        EventKind::InstanceProgress {
                            state: InstanceState::Skipped,
                            ..
                        } => "-",
                        _ => "✘",
                    };
                    bar.set_style(
                        ProgressStyle::with_template("  {prefix:<16} {wide_msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(format!("{mark} {tenant}"));
                    bar.finish_with_message(text);
                } else {
                    bar.set_message(text);
                }
            }
            Tone::Warning => {
                let _ = self.multi.println(format!("warning: {}", line.text));
            }
        }
    }
}

/// `850ms`, `4.2s`, `1m 12s`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m {}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}
