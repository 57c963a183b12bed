//! The browser transport: `fetch` with `credentials: "include"`, an `AbortController`
//! per request (timeout, or the caller dropping its future), and `document.cookie`.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, FormData, RequestCredentials, RequestInit};

use super::{FileBody, HttpRequest, HttpResponse, RequestBody, Transport, TransportError, Upload};

/// `fetch` against `base` (empty for same-origin), cookies handled by the browser.
#[derive(Debug, Clone, Default)]
pub struct FetchTransport {
    base: Arc<str>,
}

impl FetchTransport {
    /// A transport for the API at `base`; `""` means the page's own origin.
    pub fn new(base: &str) -> Self {
        Self {
            base: Arc::from(base.trim_end_matches('/')),
        }
    }
}

/// `fetch` cannot observe an upload, so a request with a body gets its timeout plus
/// the time the body needs at this rate (1 Mbit/s): slow links still finish, a server
/// that stops answering is still given up on.
const SLOWEST_UPLOAD_BYTES_PER_SEC: f64 = 128.0 * 1024.0;

fn js_error(value: JsValue) -> TransportError {
    TransportError::Failed(value.as_string().unwrap_or_else(|| format!("{value:?}")))
}

/// Aborts the request when dropped before it finished (the caller gave up), and
/// cancels its timer either way.
struct AbortGuard {
    controller: AbortController,
    timer: Option<(i32, Closure<dyn FnMut()>)>,
    finished: bool,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if let Some((handle, _closure)) = self.timer.take() {
            if let Some(window) = web_sys::window() {
                window.clear_timeout_with_handle(handle);
            }
        }
        if !self.finished {
            self.controller.abort();
        }
    }
}

fn form_data(upload: &Upload) -> Result<FormData, TransportError> {
    let form = FormData::new().map_err(js_error)?;
    for (name, value) in &upload.fields {
        form.append_with_str(name, value).map_err(js_error)?;
    }
    let blob = match &upload.file {
        FileBody::Blob(blob) => blob.clone(),
        FileBody::Bytes(bytes) => {
            let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(&bytes[..]));
            web_sys::Blob::new_with_u8_array_sequence(&parts).map_err(js_error)?
        }
    };
    form.append_with_blob_and_filename(&upload.file_field, &blob, &upload.filename)
        .map_err(js_error)?;
    Ok(form)
}

async fn fetch(base: &str, request: HttpRequest) -> Result<HttpResponse, TransportError> {
    let window = web_sys::window().ok_or_else(|| TransportError::Failed("no window".into()))?;
    let controller = AbortController::new().map_err(js_error)?;
    let mut guard = AbortGuard {
        controller: controller.clone(),
        timer: None,
        finished: false,
    };
    let timed_out = Rc::new(Cell::new(false));
    if let Some(limit) = request.timeout {
        let body_allowance = request
            .body
            .as_ref()
            .map_or(0.0, |body| body.len() as f64 / SLOWEST_UPLOAD_BYTES_PER_SEC);
        let millis = (limit.as_secs_f64() + body_allowance) * 1000.0;
        let (flag, abort) = (Rc::clone(&timed_out), controller.clone());
        let closure = Closure::<dyn FnMut()>::new(move || {
            flag.set(true);
            abort.abort();
        });
        let handle = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                closure.as_ref().unchecked_ref(),
                millis.min(i32::MAX as f64) as i32,
            )
            .map_err(js_error)?;
        guard.timer = Some((handle, closure));
    }

    let init = RequestInit::new();
    init.set_method(request.method.as_str());
    init.set_credentials(RequestCredentials::Include);
    init.set_signal(Some(&controller.signal()));
    let headers = web_sys::Headers::new().map_err(js_error)?;
    for (name, value) in &request.headers {
        headers.set(name, value).map_err(js_error)?;
    }
    match &request.body {
        Some(RequestBody::Bytes {
            content_type,
            bytes,
        }) => {
            headers
                .set("content-type", content_type)
                .map_err(js_error)?;
            init.set_body(&js_sys::Uint8Array::from(&bytes[..]).into());
        }
        // The browser writes the multipart content type with its boundary.
        Some(RequestBody::Upload(upload)) => init.set_body(&form_data(upload)?.into()),
        None => {}
    }
    init.set_headers(&headers.into());
    let url = format!("{base}{}", request.path);
    let on_abort = |error: JsValue| {
        if timed_out.get() {
            TransportError::TimedOut("no answer in time; the request was aborted".into())
        } else {
            js_error(error)
        }
    };
    let response = JsFuture::from(window.fetch_with_str_and_init(&url, &init))
        .await
        .map_err(on_abort)?
        .dyn_into::<web_sys::Response>()
        .map_err(js_error)?;
    let status = response.status();
    let mut headers = Vec::new();
    for name in ["content-type", "retry-after", "x-correlation-id"] {
        if let Ok(Some(value)) = response.headers().get(name) {
            headers.push((name.to_owned(), value));
        }
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(js_error)?)
        .await
        .map_err(on_abort)?;
    guard.finished = true;
    Ok(HttpResponse {
        status,
        headers,
        body: js_sys::Uint8Array::new(&buffer).to_vec(),
    })
}

#[async_trait::async_trait(?Send)]
impl Transport for FetchTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        // Awaited in the caller's future: dropping that future drops the guard, which
        // aborts the fetch (an upload the user cancelled stops at once).
        fetch(&self.base, request).await
    }

    fn cookie(&self, name: &str) -> Option<String> {
        let document = web_sys::window()?
            .document()?
            .dyn_into::<web_sys::HtmlDocument>()
            .ok()?;
        let cookies = document.cookie().ok()?;
        super::cookie_value(&cookies, name)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
