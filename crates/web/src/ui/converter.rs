//! The conversion card: pick, drop or paste files; each becomes a row of the job list
//! with its own target, progress, result and delete button; one button converts every
//! ready row (two at a time, a server's per-session limit); "Download all" gives one
//! zip. The list is rebuilt from `GET /api/jobs` on load and whenever another tab says
//! it changed something (`sync.rs`), so a reload or a second tab shows the same jobs.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use leptos::prelude::*;
use leptos::task::spawn_local;
use trustyconvert_client::protocol::{
    default_quality, output_file_name, takes_max_size, takes_quality, ConversionOptions, ErrorType,
    Format, FormatGroup,
};
use trustyconvert_client::workflow::{Observer, Workflow, WorkflowError};
use trustyconvert_client::{human_size, ApiClient, FileBody};
use wasm_bindgen::JsCast as _;
use web_sys::{File, HtmlInputElement};

use super::formats::accepted_inputs;
use super::rows::{Row, RowState};
use super::sync::JobsChannel;
use trustyconvert_leptos::use_session;

/// How often a running job's status is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(400);
/// How often the list is refreshed while another tab converts one of its jobs.
const WATCH_INTERVAL: Duration = Duration::from_millis(1000);
/// How many files convert at once (a server's default per-session limit).
const AT_ONCE: usize = 2;

/// The conversion card.
#[component]
pub fn Converter() -> impl IntoView {
    let session = use_session();
    session.ensure_session();
    let api = session.manager().api();

    let groups = RwSignal::new(None::<Vec<FormatGroup>>);
    let rows = RwSignal::new(Vec::<Row>::new());
    let next_key = StoredValue::new(0u64);
    // The one target for every file that offers it.
    let target = RwSignal::new(String::new());
    // None until moved: the server then uses the target's own default.
    let quality = RwSignal::new(None::<u32>);
    let max_width = RwSignal::new(String::new());
    let max_height = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let dragging = RwSignal::new(false);
    let channel = StoredValue::new_local(JobsChannel::open());
    let announce = RwSignal::new(String::new());
    // False until the server's list has been asked for once (`aria-busy` on the list).
    let loaded = RwSignal::new(false);

    let key = move || {
        next_key.update_value(|n| *n += 1);
        next_key.get_value()
    };
    let tell_other_tabs = move || channel.with_value(|c| c.as_ref().map(JobsChannel::changed));

    // The server's list, merged into the rows: known jobs updated, new ones added (a
    // reload, another tab), jobs deleted elsewhere removed. Rows not yet sent stay.
    let refresh = {
        let (session, api) = (session.clone(), api.clone());
        move || {
            let (session, api) = (session.clone(), api.clone());
            spawn_local(async move {
                // Through the provider, whose initialization the tabs share.
                if session.ensured().await.is_err() {
                    loaded.set(true);
                    return;
                }
                let jobs = api.jobs().await;
                loaded.set(true);
                let (Ok(jobs), Some(list)) = (jobs, groups.get_untracked()) else {
                    return;
                };
                rows.update(|shown| {
                    shown.retain(|row| match row.job_id.get_untracked() {
                        Some(id) => {
                            row.run.with_value(Option::is_some)
                                || jobs.iter().any(|job| job.job_id == id)
                        }
                        None => true,
                    });
                    for job in jobs.iter().rev() {
                        let known = shown.iter().find(|row| {
                            row.job_id
                                .with_untracked(|id| id.as_deref() == Some(&job.job_id))
                        });
                        match known {
                            Some(row) => row.update(job),
                            None => shown.insert(0, Row::found(key(), job, &list)),
                        }
                    }
                });
                for row in rows.get_untracked() {
                    if row.state.get_untracked() == RowState::Completed {
                        give_link(&api, row, error);
                    }
                }
            });
        }
    };

    {
        let (api, refresh) = (api.clone(), refresh.clone());
        spawn_local(async move {
            match api.formats().await {
                Ok(list) => {
                    groups.set(Some(list));
                    refresh();
                }
                Err(failure) => {
                    loaded.set(true);
                    error.set(Some(failure.user_message()));
                }
            }
        });
    }
    channel.update_value(|c| {
        if let Some(c) = c {
            c.on_change(refresh.clone());
        }
    });
    // Jobs another tab converts move here too.
    {
        let refresh = refresh.clone();
        set_interval(
            move || {
                if watching_untracked(rows) {
                    refresh();
                }
            },
            WATCH_INTERVAL,
        );
    }

    // A session that ends takes its jobs and files with it: rows already sent go, a
    // running conversion is stopped rather than left to start a session of its own.
    let closes = session.closes();
    Effect::new(move |previous: Option<u64>| {
        let count = closes.get();
        if previous.is_some_and(|before| before != count) {
            let mut stopped = false;
            rows.update(|shown| {
                for row in shown.iter() {
                    if row.state.get_untracked().is_running() {
                        row.stop();
                        stopped = true;
                    }
                }
                shown.retain(|row| row.file.with_value(Option::is_some));
                for row in shown.iter() {
                    row.job_id.set(None);
                    if row.state.get_untracked() != RowState::Failed {
                        row.state.set(RowState::Ready);
                    }
                }
            });
            if stopped {
                error.set(Some(
                    "The session was closed, so this conversion was stopped.".into(),
                ));
            }
        }
        count
    });

    let add_files = move |files: Vec<File>| {
        error.set(None);
        let Some(list) = groups.get_untracked() else {
            error.set(Some(
                "The list of conversions has not loaded yet. Try again in a moment.".into(),
            ));
            return;
        };
        let preferred = target.get_untracked();
        let added: Vec<Row> = files
            .into_iter()
            .map(|file| Row::chosen(key(), file, &list, &preferred))
            .collect();
        if preferred.is_empty() {
            if let Some(first) = added
                .iter()
                .find(|row| row.state.get_untracked() == RowState::Ready)
            {
                target.set(first.target.get_untracked());
            }
        }
        rows.update(|shown| {
            shown.splice(0..0, added);
        });
    };
    let on_file_input = move |event: web_sys::Event| {
        let input: HtmlInputElement = event_target(&event);
        add_files(files_of(input.files()));
        // The same file can be chosen again.
        input.set_value("");
    };
    let on_drop = move |event: web_sys::DragEvent| {
        event.prevent_default();
        dragging.set(false);
        add_files(files_of(event.data_transfer().and_then(|t| t.files())));
    };
    let _paste = window_event_listener(leptos::ev::paste, move |event| {
        let files = files_of(event.clipboard_data().and_then(|data| data.files()));
        if !files.is_empty() {
            event.prevent_default();
            add_files(files);
        }
    });

    // The page-wide target: offered when any ready file offers it; choosing it sets
    // every ready file that offers it.
    let page_targets = move || {
        let mut names: Vec<String> = Vec::new();
        for row in rows.get() {
            if matches!(row.state.get(), RowState::Ready | RowState::Cancelled) {
                for format in row.targets.get() {
                    let name = format.name().to_owned();
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
        names
    };
    let choose_target = move |name: String| {
        for row in rows.get_untracked() {
            let offered = row
                .targets
                .with_untracked(|targets| targets.iter().any(|f| f.name() == name));
            if offered && !row.state.get_untracked().is_running() {
                row.target.set(name.clone());
            }
        }
        target.set(name);
    };

    let convert_row = {
        let session = session.clone();
        let api = api.clone();
        move |row: Row, options: ConversionOptions| {
            let (session, api) = (session.clone(), api.clone());
            async move {
                let Some(to) = row.chosen_target() else {
                    return;
                };
                let options = ConversionOptions {
                    quality: options.quality.filter(|_| takes_quality(to)),
                    max_width: options.max_width.filter(|_| takes_max_size(to)),
                    max_height: options.max_height.filter(|_| takes_max_size(to)),
                    ..ConversionOptions::default()
                };
                row.error.set(None);
                row.progress.set(0);
                row.state.set(RowState::Uploading);
                let name = row.name.get_value();
                let work = async move {
                    session.ensured().await.map_err(WorkflowError::Client)?;
                    let observer = Arc::new(RowObserver(row));
                    let converted = match row.file.get_value() {
                        Some(file) => {
                            let body = FileBody::Blob(file.unchecked_into());
                            workflow(&api)
                                .convert_file_with_options(body, &name, to, &options, observer)
                                .await?
                        }
                        None => {
                            let job_id = row.job_id.get_untracked().unwrap_or_default();
                            row.state.set(RowState::Converting);
                            workflow(&api)
                                .convert_uploaded(&job_id, &name, to, &options, observer)
                                .await?
                        }
                    };
                    let url = workflow(&api).download_link(&converted.job_id).await?;
                    Ok::<_, WorkflowError>((converted.file_name, url))
                };
                let (work, handle) = futures::future::abortable(work);
                row.run.set_value(Some(handle));
                // Aborted: the row was cancelled or deleted, which set its state.
                let Ok(outcome) = work.await else {
                    return;
                };
                row.run.set_value(None);
                match outcome {
                    Ok(result) => {
                        row.result.set(Some(result));
                        row.progress.set(100);
                        row.state.set(RowState::Completed);
                        announce.set(format!("{} converted.", row.name.get_value()));
                    }
                    Err(failure) => {
                        row.state.set(RowState::Failed);
                        row.error.set(Some(failure.user_message()));
                        announce.set(format!("{} failed.", row.name.get_value()));
                    }
                }
                tell_other_tabs();
            }
        }
    };

    let convert_all = move |_| {
        error.set(None);
        let options = ConversionOptions {
            quality: quality.get_untracked(),
            max_width: pixels(&max_width.get_untracked()),
            max_height: pixels(&max_height.get_untracked()),
            ..ConversionOptions::default()
        };
        let ready: Vec<Row> = rows
            .get_untracked()
            .into_iter()
            .filter(Row::is_convertible)
            .collect();
        for row in &ready {
            row.state.set(RowState::Uploading);
        }
        let convert_row = convert_row.clone();
        spawn_local(async move {
            futures::stream::iter(ready)
                .for_each_concurrent(AT_ONCE, |row| convert_row(row, options.clone()))
                .await;
        });
    };

    // Stops every running row: an upload in flight is aborted; a job the server
    // already has is deleted (its conversion stops). The files stay, ready again.
    let cancel_api = api.clone();
    let cancel = move |_| {
        for row in rows.get_untracked() {
            if !row.state.get_untracked().is_running() {
                continue;
            }
            row.stop();
            row.state.set(RowState::Cancelled);
            row.progress.set(0);
            if let Some(job_id) = row.job_id.try_update(Option::take).flatten() {
                let api = cancel_api.clone();
                spawn_local(async move {
                    let _ = api.delete_job(&job_id).await;
                    tell_other_tabs();
                });
            }
        }
    };

    let delete_api = api.clone();
    let delete = move |row: Row| {
        row.stop();
        rows.update(|shown| shown.retain(|other| other.key != row.key));
        if let Some(job_id) = row.job_id.get_untracked() {
            let api = delete_api.clone();
            spawn_local(async move {
                match api.delete_job(&job_id).await {
                    Ok(()) => {}
                    // Gone already (deleted in another tab): as wished.
                    Err(failure) if failure.kind() == Some(ErrorType::ResourceNotFound) => {}
                    Err(failure) => error.set(Some(failure.user_message())),
                }
                tell_other_tabs();
            });
        }
        announce.set(format!("{} removed.", row.name.get_value()));
    };

    // Finished rows leave this page's list (their jobs stay until the session ends).
    let convert_another = move |_| {
        rows.update(|shown| {
            shown.retain(|row| {
                !matches!(
                    row.state.get_untracked(),
                    RowState::Completed | RowState::Failed
                )
            })
        });
        error.set(None);
    };

    let archive_api = api.clone();
    let download_all = move |_| {
        let ids: Vec<String> = rows
            .get_untracked()
            .iter()
            .filter(|row| row.state.get_untracked() == RowState::Completed)
            .filter_map(|row| row.job_id.get_untracked())
            .collect();
        let api = archive_api.clone();
        spawn_local(async move {
            match api.archive_token(&ids).await {
                Ok(token) => {
                    if let Some(window) = web_sys::window() {
                        let _ = window
                            .location()
                            .assign(&api.download_url(&token.download_token));
                    }
                }
                Err(failure) => error.set(Some(failure.user_message())),
            }
        });
    };

    let running = move || rows.with(|rows| rows.iter().any(|row| row.state.get().is_running()));
    let completed = move || {
        rows.with(|rows| {
            rows.iter()
                .filter(|row| row.state.get() == RowState::Completed)
                .count()
        })
    };
    let can_convert = move || {
        rows.with(|rows| {
            rows.iter().any(|row| {
                row.state.track();
                row.target.track();
                row.is_convertible()
            })
        })
    };
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
    let limit_hint = move || {
        groups.with(|g| {
            g.as_ref()
                .and_then(|g| g.iter().map(|g| g.max_size).max())
                .map(|max| format!("up to {} each", human_size(max)))
        })
    };
    let inputs_hint =
        move || groups.with(|g| g.as_deref().map(accepted_inputs).map(|v| v.join(", ")));

    view! {
        <section class="card" aria-labelledby="convert-title">
            <h2 id="convert-title">"Convert files"</h2>
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
                    multiple
                    data-testid="file-input"
                    on:change=on_file_input
                />
                <label for="file-input" class="drop-label">
                    <span class="drop-title">
                        <strong>"Choose files"</strong>
                        ", drop or paste them here"
                    </span>
                    <span class="hint">{inputs_hint} " · " {limit_hint}</span>
                </label>
            </div>

            <div class="controls">
                <label class="field">
                    <span>"Convert to"</span>
                    <select
                        id="target-format"
                        data-testid="target-format"
                        prop:value=move || target.get()
                        disabled=move || page_targets().is_empty()
                        on:change=move |event| choose_target(event_target_value(&event))
                    >
                        <For each=page_targets key=|name| name.clone() let:name>
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
                    on:click=convert_all
                >
                    {move || if running() { "Converting…" } else { "Convert" }}
                </button>
                <Show when=running>
                    <button
                        type="button"
                        class="button quiet"
                        data-testid="cancel-button"
                        on:click=cancel.clone()
                    >
                        "Cancel"
                    </button>
                </Show>
            </div>

            <ul
                class="jobs"
                data-testid="job-list"
                aria-label="Your files"
                aria-busy=move || (!loaded.get()).to_string()
            >
                <For each=move || rows.get() key=|row| row.key let:row>
                    <JobRow row=row api=api.clone() on_delete=delete.clone() />
                </For>
            </ul>

            <div class="result" class:hidden=move || completed() == 0 || running()>
                <Show when=move || { completed() >= 2 }>
                    <button
                        type="button"
                        class="button primary"
                        data-testid="download-all"
                        on:click=download_all.clone()
                    >
                        {move || format!("Download all ({})", completed())}
                    </button>
                </Show>
                <button
                    type="button"
                    class="button"
                    data-testid="convert-another"
                    on:click=convert_another
                >
                    "Convert more files"
                </button>
            </div>

            <p class="visually-hidden" aria-live="polite" data-testid="announcements">
                {move || announce.get()}
            </p>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert" data-testid="error-message">
                    {move || error.get()}
                </p>
            </Show>
        </section>
    }
}

/// One file of the list.
#[component]
fn JobRow(
    row: Row,
    api: ApiClient,
    on_delete: impl Fn(Row) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let state = move || row.state.get();
    let running = move || state().is_running();
    let status_text = move || match state() {
        RowState::Ready => "Ready".to_owned(),
        RowState::Uploading => "Uploading…".to_owned(),
        RowState::Converting => format!("Converting {}%", row.progress.get()),
        RowState::Completed => "Done".to_owned(),
        RowState::Failed => "Failed".to_owned(),
        RowState::Cancelled => "Cancelled".to_owned(),
    };
    let name = row.name.get_value();
    let delete_label = format!("Remove {name}");
    let select_label = format!("Convert {name} to");
    let progress_label = format!("Progress of {name}");
    view! {
        <li
            class="job"
            data-testid="job-row"
            data-name=name.clone()
            data-state=move || state().name()
            data-job-id=move || row.job_id.get()
        >
            <span class="job-name">{name.clone()}</span>
            <select
                class="job-target"
                data-testid="row-target"
                aria-label=select_label
                prop:value=move || row.target.get()
                disabled=move || !matches!(state(), RowState::Ready | RowState::Cancelled)
                on:change=move |event| row.target.set(event_target_value(&event))
            >
                <For
                    each=move || row.targets.get()
                    key=|format| format.name()
                    let:format
                >
                    <option value=format.name()>{format.name().to_ascii_uppercase()}</option>
                </For>
            </select>
            <span class="job-status" role="status">{status_text}</span>
            <Show when=running>
                <progress
                    data-testid="progress"
                    max="100"
                    value=move || row.progress.get()
                    aria-valuemin="0"
                    aria-valuemax="100"
                    aria-valuenow=move || row.progress.get()
                    aria-label=progress_label.clone()
                ></progress>
            </Show>
            <Show when=move || state() == RowState::Completed && row.result.with(Option::is_some)>
                <a
                    class="button primary"
                    data-testid="download-link"
                    href=move || row.result.get().map(|(_, url)| url).unwrap_or_default()
                    download=move || row.result.get().map(|(name, _)| name).unwrap_or_default()
                    on:click={
                        let api = api.clone();
                        move |event: web_sys::MouseEvent| fresh_download(event, &api, row)
                    }
                >
                    {move || {
                        row.result.get().map(|(name, _)| format!("Download {name}")).unwrap_or_default()
                    }}
                </a>
            </Show>
            <button
                type="button"
                class="button quiet"
                data-testid="delete-job"
                aria-label=delete_label
                on:click={
                    let on_delete = on_delete.clone();
                    move |_| on_delete(row)
                }
            >
                "Remove"
            </button>
            <Show when=move || row.error.with(Option::is_some)>
                <p class="error" role="alert" data-testid="error-message">
                    {move || row.error.get()}
                </p>
            </Show>
        </li>
    }
}

/// Each click fetches a fresh single-use token and lets the browser stream the file
/// from it, so the link works however often and however late it is clicked (the
/// `href` itself stays valid for "save link as" until first used or expired).
fn fresh_download(event: web_sys::MouseEvent, api: &ApiClient, row: Row) {
    let Some(job_id) = row.job_id.get_untracked() else {
        return;
    };
    event.prevent_default();
    let api = api.clone();
    spawn_local(async move {
        match workflow(&api).download_link(&job_id).await {
            Ok(url) => {
                if let Some(window) = web_sys::window() {
                    let _ = window.location().assign(&url);
                }
            }
            Err(failure) => row.error.set(Some(failure.user_message())),
        }
    });
}

/// Gives a completed row found on the server its download link (once).
fn give_link(api: &ApiClient, row: Row, error: RwSignal<Option<String>>) {
    if row.result.with_untracked(Option::is_some) || row.run.with_value(Option::is_some) {
        return;
    }
    let Some(job_id) = row.job_id.get_untracked() else {
        return;
    };
    let name = Format::parse(&row.target.get_untracked())
        .map(|format| output_file_name(&row.name.get_value(), format))
        .unwrap_or_else(|| row.name.get_value());
    // Marked at once, so a second refresh does not ask again.
    row.result.set(Some((name.clone(), String::new())));
    let api = api.clone();
    spawn_local(async move {
        match workflow(&api).download_link(&job_id).await {
            Ok(url) => row.result.set(Some((name, url))),
            Err(failure) => {
                row.result.set(None);
                error.set(Some(failure.user_message()));
            }
        }
    });
}

/// Whether a row converts in another tab (the list is then refreshed now and then).
fn watching_untracked(rows: RwSignal<Vec<Row>>) -> bool {
    rows.with_untracked(|rows| {
        rows.iter().any(|row| {
            row.state.get_untracked() == RowState::Converting && row.run.with_value(Option::is_none)
        })
    })
}

/// The files of a picker, a drop or a paste.
fn files_of(list: Option<web_sys::FileList>) -> Vec<File> {
    let Some(list) = list else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|index| list.get(index))
        .collect()
}

/// Moves a row along with its conversion.
struct RowObserver(Row);

impl Observer for RowObserver {
    fn job_created(&self, job_id: &str) {
        self.0.job_id.set(Some(job_id.to_owned()));
    }

    fn uploaded(&self) {
        self.0.state.set(RowState::Converting);
    }

    fn conversion_progress(&self, percent: u8) {
        self.0.progress.set(percent);
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
