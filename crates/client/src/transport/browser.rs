//! The browser transport: `fetch` with `credentials: "include"`, and `document.cookie`.

use std::sync::Arc;

use futures::channel::oneshot;
use wasm_bindgen::JsCast as _;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestCredentials, RequestInit};

use super::{HttpRequest, HttpResponse, Transport, TransportError};

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

fn js_error(value: wasm_bindgen::JsValue) -> TransportError {
    TransportError(value.as_string().unwrap_or_else(|| format!("{value:?}")))
}

async fn fetch(base: &str, request: HttpRequest) -> Result<HttpResponse, TransportError> {
    let window = web_sys::window().ok_or_else(|| TransportError("no window".into()))?;
    let init = RequestInit::new();
    init.set_method(request.method.as_str());
    init.set_credentials(RequestCredentials::Include);
    let headers = web_sys::Headers::new().map_err(js_error)?;
    for (name, value) in &request.headers {
        headers.set(name, value).map_err(js_error)?;
    }
    if let Some((content_type, bytes)) = &request.body {
        headers
            .set("content-type", content_type)
            .map_err(js_error)?;
        init.set_body(&js_sys::Uint8Array::from(&bytes[..]).into());
    }
    init.set_headers(&headers.into());
    let url = format!("{base}{}", request.path);
    let response = JsFuture::from(window.fetch_with_str_and_init(&url, &init))
        .await
        .map_err(js_error)?
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
        .map_err(js_error)?;
    let body = js_sys::Uint8Array::new(&buffer).to_vec();
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

#[async_trait::async_trait(?Send)]
impl Transport for FetchTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        // Run the JS future on the local executor and hand back a Send receiver, so the
        // manager's code is the same on every target.
        let (tx, rx) = oneshot::channel();
        let base = Arc::clone(&self.base);
        wasm_bindgen_futures::spawn_local(async move {
            let _ = tx.send(fetch(&base, request).await);
        });
        rx.await
            .unwrap_or_else(|_| Err(TransportError("request was cancelled".into())))
    }

    fn cookie(&self, name: &str) -> Option<String> {
        let document = web_sys::window()?
            .document()?
            .dyn_into::<web_sys::HtmlDocument>()
            .ok()?;
        let cookies = document.cookie().ok()?;
        super::cookie_value(&cookies, name)
    }
}
