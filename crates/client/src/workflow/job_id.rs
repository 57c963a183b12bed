//! A fresh job id: a UUID v4 from the system's CSPRNG (job ids are client-generated).

/// A new UUID v4.
#[cfg(not(target_arch = "wasm32"))]
pub(super) fn new_job_id() -> Option<String> {
    Some(uuid::Uuid::new_v4().to_string())
}

/// A new UUID v4 from the browser's `crypto.randomUUID()` (secure contexts only).
#[cfg(target_arch = "wasm32")]
pub(super) fn new_job_id() -> Option<String> {
    Some(web_sys::window()?.crypto().ok()?.random_uuid())
}
