//! Job changes between the tabs of one browser: a tab that uploads, finishes or
//! deletes a job says so on the `BroadcastChannel` `trustyconvert-jobs`, beside the
//! session's own channel; the others then rebuild their list from `GET /api/jobs` at
//! once, rather than when the person reloads.

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast as _;
use web_sys::BroadcastChannel;

/// The channel's name.
const CHANNEL: &str = "trustyconvert-jobs";
/// The one message: "the session's jobs changed".
const CHANGED: &str = "jobs-changed";

/// This tab's end of the channel (closed when dropped).
pub struct JobsChannel {
    channel: BroadcastChannel,
    listener: Option<Closure<dyn FnMut(web_sys::MessageEvent)>>,
}

impl JobsChannel {
    /// The channel, where the browser has `BroadcastChannel`.
    pub fn open() -> Option<Self> {
        Some(Self {
            channel: BroadcastChannel::new(CHANNEL).ok()?,
            listener: None,
        })
    }

    /// Tells the other tabs the session's jobs changed.
    pub fn changed(&self) {
        let _ = self.channel.post_message(&CHANGED.into());
    }

    /// Calls `then` whenever another tab says the jobs changed.
    pub fn on_change(&mut self, then: impl Fn() + 'static) {
        let listener = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |message: web_sys::MessageEvent| {
                if message.data().as_string().as_deref() == Some(CHANGED) {
                    then();
                }
            },
        );
        self.channel
            .set_onmessage(Some(listener.as_ref().unchecked_ref()));
        self.listener = Some(listener);
    }
}

impl Drop for JobsChannel {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
