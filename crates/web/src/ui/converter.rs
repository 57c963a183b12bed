//! Pick or drop a file, choose a target (and, for pictures, a quality and a largest
//! size), convert, watch progress, download.

use std::sync::Arc;
use std::time::Duration;

use futures::future::AbortHandle;
use leptos::prelude::*;
use leptos::task::spawn_local;
use trustyconvert_client::protocol::{
    default_quality, takes_max_size, takes_quality, ConversionOptions, Format, FormatGroup,
};
use trustyconvert_client::workflow::{Observer, Workflow, WorkflowError};
use trustyconvert_client::{human_size, too_large_message, ApiClient, FileBody};
use wasm_bindgen::JsCast as _;
use web_sys::{File, HtmlInputElement};

use super::formats::{accepted_inputs, offer, source_format, Offer};
use trustyconvert_leptos::use_session;

/// How often a running job's status is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(400);

/// Where the conversion of the chosen file stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Nothing (convertible) chosen yet.
    Empty,
    /// A file and a target are chosen.
    Ready,
    /// The file is being sent.
    Uploading,
    /// The server converts it; progress 0–100.
    Converting(u8),
    /// Done: the job and its download link.
    Done {
        job_id: String,
        url: String,
        name: String,
    },
}

impl Phase {
    fn is_running(&self) -> bool {
        matches!(self, Self::Uploading | Self::Converting(_))
    }

    fn progress(&self) -> u8 {
        match self {
            Self::Converting(progress) => *progress,
            _ => 0,
        }
    }
}

/// The chosen file: the browser's `File` (never copied into wasm memory) and what is
/// shown of it.
#[derive(Clone)]
struct Chosen {
    file: File,
    name: String,
    offer: Offer,
}

/// The conversion card.
#[component]
pub fn Converter() -> impl IntoView {
    let session = use_session();
    session.ensure_session();
    let api = session.manager().api();

    let groups = RwSignal::new(None::<Vec<FormatGroup>>);
    let chosen = StoredValue::new_local(None::<Chosen>);
    let file_label = RwSignal::new(None::<(String, u64)>);
    let targets = RwSignal::new(Vec::<String>::new());
    let target = RwSignal::new(String::new());
    // None until moved: the server then uses the target's own default.
    let quality = RwSignal::new(None::<u32>);
    let max_width = RwSignal::new(String::new());
    let max_height = RwSignal::new(String::new());
    let phase = RwSignal::new(Phase::Empty);
    let error = RwSignal::new(None::<String>);
    let dragging = RwSignal::new(false);
    // The run under way: its number (a finished or cancelled run may no longer write)
    // and the handle that cancels it.
    let run = StoredValue::new(0u64);
    let in_flight = StoredValue::new_local(None::<AbortHandle>);
    let stop_run = move || {
        run.update_value(|n| *n += 1);
        if let Some(handle) = in_flight.try_update_value(Option::take).flatten() {
            handle.abort();
        }
    };

    {
        let api = api.clone();
        spawn_local(async move {
            match api.formats().await {
                Ok(list) => groups.set(Some(list)),
                Err(failure) => error.set(Some(failure.user_message())),
            }
        });
    }

    // A session that ends takes its jobs and files with it. Replaced (a repair after a
    // 401): a shown result is gone. Closed on purpose, here or in another tab: a running
    // conversion is stopped rather than left to start a session of its own.
    let snapshot = session.session();
    Effect::new(move |previous: Option<Option<std::sync::Arc<str>>>| {
        let id = snapshot.with(|s| s.as_ref().map(|s| s.id.clone()));
        let replaced =
            matches!(&previous, Some(Some(old)) if id.as_ref().is_some_and(|new| new != old));
        if replaced && matches!(phase.get_untracked(), Phase::Done { .. }) {
            phase.set(Phase::Ready);
        }
        id
    });
    let closes = session.closes();
    Effect::new(move |previous: Option<u64>| {
        let count = closes.get();
        if previous.is_some_and(|before| before != count) {
            match phase.get_untracked() {
                Phase::Done { .. } => phase.set(Phase::Ready),
                running if running.is_running() => {
                    stop_run();
                    phase.set(Phase::Ready);
                    error.set(Some(
                        "The session was closed, so this conversion was stopped.".into(),
                    ));
                }
                _ => {}
            }
        }
        count
    });

    let choose = move |file: File| {
        error.set(None);
        let name = file.name();
        let size = file.size() as u64;
        file_label.set(Some((name.clone(), size)));
        let Some(list) = groups.get_untracked() else {
            error.set(Some(
                "The list of conversions has not loaded yet. Try again in a moment.".into(),
            ));
            return;
        };
        let found = source_format(&name).and_then(|source| offer(&list, source));
        let Some(found) = found.filter(|o| !o.targets.is_empty()) else {
            chosen.set_value(None);
            targets.set(Vec::new());
            phase.set(Phase::Empty);
            error.set(Some(format!(
                "{name} can't be converted here. Supported files: {}.",
                accepted_inputs(&list).join(", ")
            )));
            return;
        };
        if size > found.max_size {
            chosen.set_value(None);
            targets.set(Vec::new());
            phase.set(Phase::Empty);
            error.set(Some(too_large_message(found.max_size)));
            return;
        }
        let names: Vec<String> = found.targets.iter().map(|f| f.name().to_owned()).collect();
        target.set(names[0].clone());
        targets.set(names);
        chosen.set_value(Some(Chosen {
            file,
            name,
            offer: found,
        }));
        phase.set(Phase::Ready);
    };

    let on_file_input = move |event: web_sys::Event| {
        let input: HtmlInputElement = event_target(&event);
        if let Some(file) = input.files().and_then(|files| files.get(0)) {
            choose(file);
        }
        // The same file can be chosen again after "convert another".
        input.set_value("");
    };
    let on_drop = move |event: web_sys::DragEvent| {
        event.prevent_default();
        dragging.set(false);
        if phase.with_untracked(Phase::is_running) {
            return;
        }
        let file = event
            .data_transfer()
            .and_then(|transfer| transfer.files())
            .and_then(|files| files.get(0));
        if let Some(file) = file {
            choose(file);
        }
    };

    let convert = {
        let session = session.clone();
        move |_| {
            let Some(picked) = chosen.get_value() else {
                return;
            };
            let Some(target) = Format::parse(&target.get_untracked())
                .filter(|target| picked.offer.targets.contains(target))
            else {
                return;
            };
            let options = ConversionOptions {
                quality: quality.get_untracked().filter(|_| takes_quality(target)),
                max_width: pixels(&max_width.get_untracked()).filter(|_| takes_max_size(target)),
                max_height: pixels(&max_height.get_untracked()).filter(|_| takes_max_size(target)),
                ..ConversionOptions::default()
            };
            error.set(None);
            phase.set(Phase::Uploading);
            stop_run();
            let this_run = run.get_value();
            let (session, api) = (session.clone(), api.clone());
            let (work, handle) = futures::future::abortable(async move {
                match session.ensured().await {
                    Ok(_) => run_conversion(&api, &picked, target, &options, phase).await,
                    Err(failure) => Err(WorkflowError::Client(failure)),
                }
            });
            in_flight.set_value(Some(handle));
            spawn_local(async move {
                // Aborted (cancelled): the dropped future aborted its request.
                let Ok(outcome) = work.await else {
                    return;
                };
                if run.get_value() != this_run {
                    return;
                }
                in_flight.set_value(None);
                match outcome {
                    Ok(done) => phase.set(done),
                    Err(failure) => {
                        phase.set(Phase::Ready);
                        error.set(Some(failure.user_message()));
                    }
                }
            });
        }
    };

    // Dropping the conversion's future aborts its request in flight (an upload stops
    // at once); a job the server already queued just stops being watched.
    let cancel = move |_| {
        stop_run();
        phase.set(Phase::Ready);
    };

    let convert_another = move |_| {
        chosen.set_value(None);
        file_label.set(None);
        targets.set(Vec::new());
        error.set(None);
        phase.set(Phase::Empty);
    };

    // Each click fetches a fresh single-use token and lets the browser stream the file
    // from it, so the link works however often and however late it is clicked (the
    // `href` itself stays valid for "save link as" until first used or expired).
    let download_api = session.manager().api();
    let download = move |event: web_sys::MouseEvent| {
        let Phase::Done { job_id, .. } = phase.get_untracked() else {
            return;
        };
        event.prevent_default();
        let api = download_api.clone();
        spawn_local(async move {
            match workflow(&api).download_link(&job_id).await {
                Ok(url) => {
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().assign(&url);
                    }
                }
                Err(failure) => error.set(Some(failure.user_message())),
            }
        });
    };

    let running = move || phase.with(Phase::is_running);
    let chosen_target = move || target.with(|name| Format::parse(name));
    let shows_quality = move || chosen_target().is_some_and(takes_quality);
    let shows_size = move || chosen_target().is_some_and(takes_max_size);
    // Where the slider sits: the value chosen, else the target's default.
    let shown_quality = move || {
        quality
            .get()
            .or_else(|| chosen_target().and_then(default_quality))
            .unwrap_or(MIDDLE_QUALITY)
    };
    let quality_label = move || match quality.get() {
        Some(value) => format!("Quality {value}"),
        None => match chosen_target().and_then(default_quality) {
            Some(value) => format!("Quality {value} (default)"),
            None => "Quality (default)".to_owned(),
        },
    };
    let done = move || phase.with(|p| matches!(p, Phase::Done { .. }));
    let can_convert = move || phase.with(|p| *p == Phase::Ready) && !target.with(String::is_empty);
    let limit_hint = move || {
        groups.with(|g| {
            g.as_ref()
                .and_then(|g| g.iter().map(|g| g.max_size).max())
                .map(|max| format!("up to {}", human_size(max)))
        })
    };
    let inputs_hint =
        move || groups.with(|g| g.as_deref().map(accepted_inputs).map(|v| v.join(", ")));

    view! {
        <section class="card" aria-labelledby="convert-title">
            <h2 id="convert-title">"Convert a file"</h2>
            <div
                class="drop"
                class:dragging=move || dragging.get()
                on:dragover=move |event: web_sys::DragEvent| {
                    event.prevent_default();
                    dragging.set(true);
                }
                on:dragleave=move |_| dragging.set(false)
                on:drop=on_drop
            >
                <input
                    id="file-input"
                    class="visually-hidden"
                    type="file"
                    data-testid="file-input"
                    disabled=running
                    on:change=on_file_input
                />
                <label for="file-input" class="drop-label">
                    <span class="drop-title">
                        <strong>"Choose a file"</strong>
                        " or drop it here"
                    </span>
                    <span class="hint">{inputs_hint} " · " {limit_hint}</span>
                </label>
                <Show when=move || file_label.with(Option::is_some)>
                    <p class="file-name">
                        {move || {
                            file_label
                                .get()
                                .map(|(name, size)| format!("{name} · {}", human_size(size)))
                        }}
                    </p>
                </Show>
            </div>

            <div class="controls">
                <label class="field">
                    <span>"Convert to"</span>
                    <select
                        id="target-format"
                        data-testid="target-format"
                        prop:value=move || target.get()
                        disabled=move || targets.with(Vec::is_empty) || running()
                        on:change=move |event| target.set(event_target_value(&event))
                    >
                        <For each=move || targets.get() key=|name| name.clone() let:name>
                            <option value=name.clone()>{name.to_ascii_uppercase()}</option>
                        </For>
                    </select>
                </label>
                <Show when=shows_quality>
                    <label class="field">
                        <span>{quality_label}</span>
                        <input
                            type="range"
                            data-testid="quality"
                            min="1"
                            max="100"
                            prop:value=move || shown_quality().to_string()
                            disabled=running
                            on:input=move |event| {
                                if let Ok(value) = event_target_value(&event).parse() {
                                    quality.set(Some(value));
                                }
                            }
                        />
                    </label>
                </Show>
                <Show when=shows_size>
                    <SizeField label="Max width (px)" test_id="max-width" value=max_width disabled=running />
                    <SizeField label="Max height (px)" test_id="max-height" value=max_height disabled=running />
                </Show>
                <button
                    type="button"
                    class="button primary"
                    data-testid="convert-button"
                    disabled=move || !can_convert()
                    on:click=convert
                >
                    {move || if running() { "Converting…" } else { "Convert" }}
                </button>
            </div>

            <Show when=running>
                <div class="progress-row">
                    <progress
                        data-testid="progress"
                        max="100"
                        value=move || phase.with(Phase::progress)
                        aria-valuemin="0"
                        aria-valuemax="100"
                        aria-valuenow=move || phase.with(Phase::progress)
                        aria-label="Conversion progress"
                    ></progress>
                    <span class="progress-text">
                        {move || match phase.get() {
                            Phase::Uploading => "Uploading…".to_owned(),
                            other => format!("{}%", other.progress()),
                        }}
                    </span>
                    <button
                        type="button"
                        class="button quiet"
                        data-testid="cancel-button"
                        on:click=cancel
                    >
                        "Cancel"
                    </button>
                </div>
            </Show>

            <Show when=done>
                <div class="result">
                    <p class="result-text">"Your file is ready."</p>
                    <a
                        class="button primary"
                        data-testid="download-link"
                        href=move || match phase.get() {
                            Phase::Done { url, .. } => url,
                            _ => String::new(),
                        }
                        download=move || match phase.get() {
                            Phase::Done { name, .. } => name,
                            _ => String::new(),
                        }
                        on:click=download.clone()
                    >
                        {move || match phase.get() {
                            Phase::Done { name, .. } => format!("Download {name}"),
                            _ => String::new(),
                        }}
                    </a>
                    <button
                        type="button"
                        class="button"
                        data-testid="convert-another"
                        on:click=convert_another
                    >
                        "Convert another file"
                    </button>
                </div>
            </Show>

            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert" data-testid="error-message">
                    {move || error.get()}
                </p>
            </Show>
        </section>
    }
}

/// A largest width or height in pixels; empty is no bound.
#[component]
fn SizeField(
    label: &'static str,
    test_id: &'static str,
    value: RwSignal<String>,
    disabled: impl Fn() -> bool + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <label class="field">
            <span>{label}</span>
            <input
                type="number"
                data-testid=test_id
                min="1"
                max="20000"
                placeholder="any"
                prop:value=move || value.get()
                disabled=disabled
                on:input=move |event| value.set(event_target_value(&event))
            />
        </label>
    }
}

/// Where the slider sits for targets without a single default (sound, video).
const MIDDLE_QUALITY: u32 = 75;

/// A size field's pixels; empty (or not a number) is no bound.
fn pixels(text: &str) -> Option<u32> {
    text.trim().parse().ok()
}

/// The conversions of the page, through its session.
fn workflow(api: &ApiClient) -> Workflow {
    Workflow::new(api.clone()).poll_every(POLL_INTERVAL)
}

/// Moves the page's phase along with the conversion.
struct PhaseObserver(RwSignal<Phase>);

impl Observer for PhaseObserver {
    fn uploaded(&self) {
        self.0.set(Phase::Converting(0));
    }

    fn conversion_progress(&self, percent: u8) {
        self.0.set(Phase::Converting(percent));
    }
}

/// Upload, convert, poll until done, and return the finished phase with its link.
async fn run_conversion(
    api: &ApiClient,
    picked: &Chosen,
    target: Format,
    options: &ConversionOptions,
    phase: RwSignal<Phase>,
) -> Result<Phase, WorkflowError> {
    let workflow = workflow(api);
    let file = FileBody::Blob(picked.file.clone().unchecked_into());
    let observer = Arc::new(PhaseObserver(phase));
    let converted = workflow
        .convert_file_with_options(file, &picked.name, target, options, observer)
        .await?;
    let url = workflow.download_link(&converted.job_id).await?;
    Ok(Phase::Done {
        job_id: converted.job_id,
        url,
        name: converted.file_name,
    })
}
