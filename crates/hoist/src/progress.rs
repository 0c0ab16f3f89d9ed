//! Turns pipeline events into progress: live spinners on a terminal (a line per stage and
//! one per instance), plain lines otherwise (CI logs). Progress goes to stderr; results
//! go to stdout.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hoist_core::events::CacheOutcome;
use hoist_core::{Event, EventSink, InstanceState, Stage};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Chooses live or plain rendering and returns the sink to hand to the pipeline.
pub fn sink(plain: bool) -> (EventSink, Arc<Renderer>) {
    let live = !plain && std::io::stderr().is_terminal();
    let renderer = Arc::new(if live {
        Renderer::live()
    } else {
        Renderer::Plain
    });
    let r = renderer.clone();
    (EventSink::new(move |e| r.render(e)), renderer)
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
    match event {
        Event::StageStarted { stage, detail } if !detail.is_empty() => {
            eprintln!("==> {}: {detail}", stage.label())
        }
        Event::StageStarted { .. } => {}
        Event::StageFinished {
            stage,
            detail,
            took,
        } => eprintln!("==> {}: {detail} ({})", stage.label(), human(*took)),
        Event::BaseImage { reference, cache } => {
            eprintln!("==> base image: {} {reference}", cache_word(*cache))
        }
        Event::BuildOutput { line, .. } => eprintln!("    | {line}"),
        Event::Instance {
            tenant,
            state,
            message,
        } => {
            if message.is_empty() {
                eprintln!("    {tenant}: {}", state.label());
            } else {
                eprintln!("    {tenant}: {}: {message}", state.label());
            }
        }
        Event::Warning { message } => eprintln!("warning: {message}"),
    }
}

fn cache_word(cache: CacheOutcome) -> &'static str {
    match cache {
        CacheOutcome::Hit => "reusing",
        CacheOutcome::Miss => "building (fingerprint changed)",
    }
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
        match event {
            Event::StageStarted { stage, detail } => {
                self.stage_bar(*stage).set_message(detail.clone())
            }
            Event::StageFinished {
                stage,
                detail,
                took,
            } => self.finish_stage(*stage, format!("{detail} ({})", human(*took))),
            // A reused base image is the whole stage: nothing follows it.
            Event::BaseImage {
                reference,
                cache: CacheOutcome::Hit,
            } => self.finish_stage(
                Stage::BaseImage,
                format!("{} {reference}", cache_word(CacheOutcome::Hit)),
            ),
            Event::BaseImage { reference, cache } => self
                .stage_bar(Stage::BaseImage)
                .set_message(format!("{} {reference}", cache_word(*cache))),
            Event::BuildOutput { image, line } => {
                let stage = if image.contains("-base:") {
                    Stage::BaseImage
                } else {
                    Stage::AppImage
                };
                self.stage_bar(stage).set_message(line.clone());
            }
            Event::Instance {
                tenant,
                state,
                message,
            } => {
                let bar = self.instance_bar(tenant);
                let text = if message.is_empty() {
                    state.label().to_string()
                } else {
                    format!("{}: {message}", state.label())
                };
                if state.is_final() {
                    let mark = match state {
                        InstanceState::Healthy | InstanceState::Unchanged => "✔",
                        InstanceState::Skipped => "-",
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
            Event::Warning { message } => {
                let _ = self.multi.println(format!("warning: {message}"));
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
